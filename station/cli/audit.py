"""``station audit verify``: the tamper-evident audit log."""

from __future__ import annotations

import sys

import click

from station.cli.common import (
    EXIT_FAIL,
    Context,
    as_dict,
    emit_json,
    friendly_errors,
    main,
    pass_ctx,
)


@main.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@friendly_errors
def audit_verify(ctx: Context, as_json: bool) -> None:
    """Check the audit log's hash chain; exit 1 if any entry was changed or removed."""
    verification = ctx.station().records.verify_audit()
    if as_json:
        emit_json(as_dict(verification))
    elif verification.ok:
        click.echo(f"audit log OK: {verification.entries} entries, chain intact")
    else:
        click.secho(f"AUDIT LOG TAMPERED: {verification.problem} (first bad entry {verification.first_bad_id})",
                    fg="red", err=True)
    sys.exit(0 if verification.ok else EXIT_FAIL)
