"""``station audit verify``: the tamper-evident audit log."""

from __future__ import annotations

import sys

import click

from station.cli.common import (
    EXIT_FAIL,
    Context,
    as_dict,
    emit_json,
    fail,
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
    """Check the audit log's hash chain; exit 1 if any entry was changed or removed, 3 if
    the log cannot be read at all (a damaged database: a disk problem, not tampering)."""
    verification = ctx.station(read_only=True).records.verify_audit()
    if verification.damaged:
        fail(f"DB_CORRUPT: the audit log cannot be read, so it cannot be verified: {verification.problem}",
             "The database file is damaged (a disk or power problem; this is not a sign of tampering). "
             "Keep a copy, restore the database from a backup and run `station doctor`.")
    if as_json:
        emit_json(as_dict(verification))
    elif verification.ok:
        click.echo(f"audit log OK: {verification.entries} entries, chain intact")
    else:
        where = f" (first bad entry {verification.first_bad_id})" if verification.first_bad_id is not None else ""
        click.secho(f"AUDIT LOG TAMPERED: {verification.problem}{where}", fg="red", err=True)
    sys.exit(0 if verification.ok else EXIT_FAIL)
