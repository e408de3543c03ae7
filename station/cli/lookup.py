"""``station units`` (the allow-list) and ``station show SERIAL``."""

from __future__ import annotations

import json

import click

from station import render
from station.cli.common import Context, as_dict, emit_json, friendly_errors, main, pass_ctx
from station.errors import StationError


@main.command()
@click.option("--batch")
@click.option("--status", type=click.Choice(["allowed", "revoked"]))
@click.option("--search", help="Part of a serial number.")
@click.option("--limit", type=click.IntRange(1), default=None)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@friendly_errors
def units(ctx: Context, batch: str | None, status: str | None, search: str | None, limit: int | None, as_json: bool) -> None:
    """List the allow-list (provisioned units)."""
    rows = ctx.station().records.units(batch=batch, status=status, search=search, limit=limit)
    if as_json:
        emit_json([as_dict(u) for u in rows])
        return
    if not rows:
        click.echo("no units" + (f" in batch {batch}" if batch else ""))
        return
    click.echo(render.table(
        ["serial", "batch", "status", "device key sha256", "last PASS", "operator", "synced"],
        [(u.serial, u.batch, u.status, u.device_key_sha256[:16] + "…", u.last_pass_at, u.operator,
          "yes" if u.synced_rev >= u.rev else "pending") for u in rows],
    ))


@main.command()
@click.argument("serial")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@friendly_errors
def show(ctx: Context, serial: str, as_json: bool) -> None:
    """Everything known about one serial: its unit, attempts and audit entries."""
    records = ctx.station().records
    unit = records.get_unit(serial)
    attempts = records.attempts(serial=serial)
    audit = records.audit_entries(subject=serial)
    if unit is None and not attempts:
        raise StationError(f"serial {serial!r} is unknown to this station", code="SERIAL_UNKNOWN",
                           hint="Check the serial (station units --search PART lists close matches).")
    if as_json:
        emit_json({"unit": as_dict(unit) if unit else None, "attempts": [as_dict(a) for a in attempts],
                   "audit": [as_dict(e) for e in audit]})
        return
    if unit:
        click.echo(f"{unit.serial}: {unit.status.upper()} in batch {unit.batch} ({unit.product})")
        click.echo(f"  device key sha256  {unit.device_key_sha256}")
        click.echo(f"  claim cert sha256  {unit.claim_cert_sha256}")
        click.echo(f"  first/last PASS    {unit.first_pass_at} / {unit.last_pass_at}")
        click.echo(f"  station, operator  {unit.station_id}, {unit.operator}")
        click.echo(f"  revision           {unit.rev} (synced {unit.synced_rev})")
        if unit.revoked_reason:
            click.echo(f"  revoked because    {unit.revoked_reason}")
    else:
        click.echo(f"{serial}: never passed")
    click.echo("\nattempts:")
    click.echo(render.table(
        ["id", "started", "port", "operator", "result", "code", "steps"],
        [(a.id, a.started_at, a.port, a.operator, a.result, a.error_code or "",
          " ".join(f"{s.name}:{s.duration_ms:.0f}ms" for s in a.steps)) for a in attempts],
    ))
    if audit:
        click.echo("\naudit:")
        click.echo(render.table(["at", "actor", "action", "details"],
                                [(e.at, e.actor, e.action, json.dumps(e.details, sort_keys=True)) for e in audit]))
