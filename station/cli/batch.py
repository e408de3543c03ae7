"""``station batch open|close|list``."""

from __future__ import annotations

import click

from station import render
from station.cli.common import (
    Context,
    as_dict,
    check_supervisor,
    default_operator,
    emit_json,
    friendly_errors,
    main,
    pass_ctx,
)
from station.errors import StationError


@main.group()
def batch() -> None:
    """Open, close and list batches."""


@batch.command("open")
@click.argument("batch_id")
@click.option("--product", required=True)
@click.option("--quantity", "planned", required=True, type=click.IntRange(1))
@click.option("--operator", default=default_operator)
@pass_ctx
@friendly_errors
def batch_open(ctx: Context, batch_id: str, product: str, planned: int, operator: str) -> None:
    """Open BATCH_ID for PRODUCT with a planned quantity."""
    from station.provisioning.batches import open_batch

    opened = open_batch(ctx.station().records, batch_id, product, planned, operator)
    click.echo(f"batch {opened.id} open: {opened.product}, {opened.planned_quantity} planned")


@batch.command("close")
@click.argument("batch_id")
@click.option("--operator", "--by", "operator", default=default_operator,
              help="The supervisor who closes it (their PIN is asked).")
@click.option("--pin-stdin", is_flag=True, help="Read the supervisor's PIN from the first line of standard input.")
@pass_ctx
@friendly_errors
def batch_close(ctx: Context, batch_id: str, operator: str, pin_stdin: bool) -> None:
    """Close BATCH_ID: no more boards are provisioned into it (a supervisor's action)."""
    records = ctx.station().records
    if records.get_batch(batch_id) is None:
        raise StationError(f"batch {batch_id!r} does not exist", code="BATCH_NOT_FOUND",
                           hint="Check the batch name (`station batch list`).")
    closed = records.close_batch(batch_id, check_supervisor(records, operator, pin_stdin))
    click.echo(f"batch {closed.id} closed at {closed.closed_at}")


@batch.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@friendly_errors
def batch_list(ctx: Context, as_json: bool) -> None:
    """List batches with their progress."""
    records = ctx.station(read_only=True).records
    batches = records.list_batches()
    if as_json:
        emit_json([as_dict(b) | {"passed": records.count_units(batch=b.id)} for b in batches])
        return
    if not batches:
        click.echo("no batches yet (station batch open BATCH --product P --quantity N)")
        return
    click.echo(render.table(
        ["batch", "product", "passed/planned", "opened", "closed"],
        [(b.id, b.product, f"{records.count_units(batch=b.id)}/{b.planned_quantity}", b.opened_at, b.closed_at or "open")
         for b in batches],
    ))
