"""``station units`` (the allow-list) and ``station show SERIAL``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, TextIO

import click

from station import render
from station.cli.common import Context, as_dict, emit_json, friendly_errors, main, pass_ctx
from station.errors import StationError

TABLE_COLUMNS = ("serial", "batch", "status", "device_key_sha256", "last_pass_at", "operator", "rev", "synced_rev")
UNIT_HEADERS = ("serial", "batch", "status", "device key sha256", "last PASS", "operator", "synced")


@main.command()
@click.option("--batch")
@click.option("--status", type=click.Choice(["allowed", "revoked"]))
@click.option("--search", help="Part of a serial number.")
@click.option("--limit", type=click.IntRange(1), default=None)
@click.option("--json", "as_json", is_flag=True, help="A JSON array of units (written as it is read).")
@click.option("--json-lines", "json_lines", is_flag=True, help="One JSON object per unit and line (NDJSON).")
@pass_ctx
@friendly_errors
def units(ctx: Context, batch: str | None, status: str | None, search: str | None, limit: int | None,
          as_json: bool, json_lines: bool) -> None:
    """List the allow-list (provisioned units), streamed: memory stays flat for a million units."""
    records = ctx.station(read_only=True).records
    out = click.get_text_stream("stdout")
    if json_lines or as_json:
        units = records.iter_unit_dicts(batch=batch, status=status, search=search, limit=limit)
        if json_lines:
            encode = json.JSONEncoder(sort_keys=True, default=str).encode
            for unit in units:
                out.write(encode(unit) + "\n")
        else:
            stream_json_array(units, out, flat=True)
        return
    rows = records.iter_unit_values(TABLE_COLUMNS, batch=batch, status=status, search=search, limit=limit)
    widths = records.unit_widths(batch=batch, status=status, search=search)
    if not widths["count"]:
        click.echo("no units" + (f" in batch {batch}" if batch else ""))
        return
    column = [widths["serial"], widths["batch"], widths["status"], 17, widths["last_pass_at"], widths["operator"],
              7 if widths["pending"] else 3]
    column = [max(w, len(h)) for w, h in zip(column, UNIT_HEADERS, strict=True)]
    out.write(table_row(UNIT_HEADERS, column) + "\n" + "  ".join("-" * w for w in column) + "\n")
    for serial, batch_id, state, key, last_pass, who, rev, synced_rev in rows:
        cells = (serial, batch_id, state, key[:16] + "…", last_pass, who or "", "yes" if synced_rev >= rev else "pending")
        out.write("  ".join(map(str.ljust, cells, column)).rstrip() + "\n")


def table_row(values: tuple[str, ...], widths: list[int]) -> str:
    """One line of ``render.table`` with known column widths (a table printed as it streams)."""
    return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()


def stream_json_array(items: Iterator[dict[str, Any]], out: TextIO, *, flat: bool = False) -> None:
    """What ``emit_json(list(items))`` prints, byte for byte, written item by item.

    ``json`` encodes with ``indent`` in pure Python, a tenth of the speed of its C encoder;
    an item of plain values (a unit) is encoded by the C encoder instead, told to put each
    member on its own line (:data:`_MEMBER_PER_LINE`): the same bytes. ``flat=True`` is the
    caller's word that no item holds a dict, list or tuple (a unit's fields are text and
    numbers), so no item is looked into (100,000 units: 2.3 -> 1.5 s).
    """
    first = True
    indented = json.JSONEncoder(indent=2, sort_keys=True, default=str).encode
    for item in items:
        if item and (flat or not any(isinstance(value, (dict, list, tuple)) for value in item.values())):
            body = "{\n    " + _MEMBER_PER_LINE(item)[1:-1] + "\n  }"
        else:
            body = indented(item).replace("\n", "\n  ")
        out.write(("[\n  " if first else ",\n  ") + body)
        first = False
    out.write("[]\n" if first else "\n]\n")


_MEMBER_PER_LINE = json.JSONEncoder(sort_keys=True, default=str, separators=(",\n    ", ": ")).encode
"""An object as ``indent=2`` lays it out one level down, but for its braces' lines. The C
encoder takes any separator; a line break is safe as one, because inside a string it is
always escaped (``\\n``)."""


@main.command()
@click.argument("serial")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@friendly_errors
def show(ctx: Context, serial: str, as_json: bool) -> None:
    """Everything known about one serial: its unit, attempts, labels and audit entries."""
    records = ctx.station(read_only=True).records
    unit = records.get_unit(serial)
    attempts = records.attempts(serial=serial)
    audit = records.audit_entries(subject=serial)
    labels = records.labels(serial)
    if unit is None and not attempts:
        raise StationError(f"serial {serial!r} is unknown to this station", code="SERIAL_UNKNOWN",
                           hint="Check the serial (station units --search PART lists close matches).")
    if as_json:
        emit_json({"unit": as_dict(unit) if unit else None, "attempts": [as_dict(a) for a in attempts],
                   "audit": [as_dict(e) for e in audit], "labels": [as_dict(label) for label in labels]})
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
    if labels:
        click.echo("\nlabels:")
        click.echo(render.table(["requested", "kind", "by", "state", "attempts", "code", "printed"],
                                [(label.requested_at, label.kind, label.requested_by, label.state, label.attempts,
                                  label.last_code or "", label.printed_at or "") for label in labels]))
    if audit:
        click.echo("\naudit:")
        click.echo(render.table(["at", "actor", "action", "details"],
                                [(e.at, e.actor, e.action, json.dumps(e.details, sort_keys=True)) for e in audit]))
