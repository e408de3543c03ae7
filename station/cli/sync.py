"""The sync commands: ``station sync [--watch SECONDS] [--json]``, ``station sync status``,
``station table create``, ``station revoke SERIAL`` and ``station unrevoke SERIAL``.

Exit codes of ``station sync`` (see docs/sync.md), for schedulers:

* 0 - everything that was pending is in the cloud;
* 3 - a permanent problem a person must fix (config, credentials, access, missing table);
* 4 - the run is incomplete: conflicts to look at, or units left pending after transient
  errors (network, throttling); they go out on the next run by themselves;
* 5 - another sync of this station is running; this one did nothing.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from station.cli.common import (
    Context,
    as_dict,
    check_supervisor,
    default_operator,
    emit_json,
    fail,
    friendly_errors,
    main,
    pass_ctx,
)
from station.errors import StationError

if TYPE_CHECKING:
    from station.sync.engine import SyncReport

__all__ = [
    "EXIT_INCOMPLETE",
    "EXIT_OK",
    "EXIT_PERMANENT",
    "EXIT_SYNC_BUSY",
]

EXIT_OK = 0
EXIT_PERMANENT = 3
EXIT_INCOMPLETE = 4
EXIT_SYNC_BUSY = 5



# -- station sync ------------------------------------------------------------------

def summary(report: SyncReport) -> str:
    return (
        f"{report.sent} sent, {report.unchanged} unchanged, {report.conflicts} conflicts, "
        f"{report.failed} failed; {report.pending_left} pending"
    )

def show_report(report: SyncReport, *, prefix: str = "") -> None:
    click.echo(f"{prefix}sync: {summary(report)} ({report.seconds:.1f} s)")
    for serial in report.conflict_serials:
        click.secho(f"  conflict: {serial} is owned by another station in the table "
                    "(see `station sync status`)", fg="yellow")
    for failure in report.failures:
        click.secho(f"  failed: {failure.serial} rev {failure.rev}: {failure.code}: "
                    f"{failure.message}", fg="yellow")
    if report.error:
        click.secho(f"warning: {report.error}", fg="yellow", err=True)
        if report.hint:
            click.echo(f"  what to do: {report.hint}", err=True)

def interruptible(work: Any, *, exit_code: int = 130) -> Any:
    """``work()`` on a thread of its own, so Ctrl-C ends the command within a fraction of
    a second even while a request hangs on a dead endpoint (boto3 would wait out its
    timeouts and the worker threads would be joined at exit). Nothing is lost: units the
    table did not confirm stay pending, and the operating system releases the sync lock."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="sync", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.1)
    except KeyboardInterrupt:
        click.echo("\nstopped: what the table did not confirm stays pending for the next sync", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exit_code)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def run_once(ctx: Context, as_json: bool, *, in_watch: bool, retry_for: float) -> int:
    """One sync run; prints the outcome; returns the exit code."""
    from station.locks import LockBusy
    from station.sync.dynamo import SyncError
    from station.sync.engine import resend_if_the_table_forgot, run_station_sync

    station = ctx.station()
    bar: dict[str, Any] = {}

    def progress(done: int, total: int) -> None:
        if "bar" not in bar:
            bar["bar"] = click.progressbar(length=total, label="syncing", show_pos=True)
            bar["bar"].__enter__()
            bar["shown"] = 0
        step = min(done, bar["bar"].length) - bar["shown"]
        if step > 0:
            bar["bar"].update(step)
            bar["shown"] += step

    show_progress = not as_json and sys.stdout.isatty()
    resent = interruptible(lambda: resend_if_the_table_forgot(station.records, station.config.cloud),
                           exit_code=EXIT_OK if in_watch else 130)
    if resent and not as_json:
        click.echo(f"{_now()} the table is not the one this station synced to (re-created, or a server that "
                   f"forgot): sending all {resent} unit(s) again", err=True)
    try:
        try:
            report = interruptible(lambda: run_station_sync(
                station.records, station.config, progress=progress if show_progress else None,
                retry_for_seconds=retry_for,
            ), exit_code=EXIT_OK if in_watch else 130)
        finally:
            if "bar" in bar:
                bar["bar"].__exit__(None, None, None)
    except LockBusy as exc:
        if in_watch:
            click.echo(f"{_now()} another sync of this station is running; skipping this "
                       "round", err=True)
            return EXIT_SYNC_BUSY
        fail(f"{exc.code}: {exc.message}", exc.hint, code=EXIT_SYNC_BUSY)
        raise AssertionError("unreachable") from None
    except SyncError as exc:
        if as_json:
            data = exc.report.to_dict() if exc.report is not None else {}
            data.update(error=f"{exc.code}: {exc.message}", error_code=exc.code,
                        hint=exc.hint, permanent=True, exit_code=EXIT_PERMANENT)
            (emit_line if in_watch else emit_json)(data | _where(station.config))
        raise
    if as_json:
        (emit_line if in_watch else emit_json)(report.to_dict() | _where(station.config))
    else:
        show_report(report, prefix=f"{_now()} " if in_watch else "")
    return report.exit_code

@main.group("sync", invoke_without_command=True)
@click.option("--watch", type=click.FloatRange(min=1.0), metavar="SECONDS",
              help="Sync again every SECONDS until Ctrl-C; transient errors never stop it.")
@click.option("--retry-for", type=click.FloatRange(min=0.0), default=30.0, show_default=True,
              metavar="SECONDS", help="Keep retrying transient errors (network, throttling) "
              "for up to SECONDS without progress before leaving the rest for the next run.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON "
              "(one line per run with --watch).")
@click.pass_context
@friendly_errors
def sync(click_ctx: click.Context, watch: float | None, retry_for: float,
         as_json: bool) -> None:
    """Send the allow-list changes to the DynamoDB table (exit 0 all synced, 3 fix the
    config, 4 incomplete, 5 another sync is running)."""
    if click_ctx.invoked_subcommand is not None:
        return
    ctx = click_ctx.find_object(Context)
    assert ctx is not None
    if watch is None:
        sys.exit(run_once(ctx, as_json, in_watch=False, retry_for=retry_for))
    if not as_json:
        click.echo(f"syncing every {watch:g} s; Ctrl-C stops")
    try:
        while True:
            run_once(ctx, as_json, in_watch=True, retry_for=retry_for)
            time.sleep(watch)
    except KeyboardInterrupt:
        click.echo("\nstopped", err=True)
        sys.exit(EXIT_OK)

@sync.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@friendly_errors
def sync_status(ctx: Context, as_json: bool) -> None:
    """What the sync has left to do: pending units, the last run, the last success and
    the recorded conflicts. Never calls the cloud."""
    station = ctx.station(read_only=True)
    records = station.records
    last = records.last_sync()
    success = records.last_successful_sync()
    conflicts = records.sync_conflicts()
    data = {
        "station_id": station.config.station_id,
        "pending": records.count_pending_sync(),
        "last_run": last,
        "last_success": success,
        "last_error": last["error"] if last and last.get("error") else None,
        "conflicts": conflicts,
    } | _where(station.config)
    if as_json:
        emit_json(data)
        return
    click.echo(f"station {data['station_id']} -> table {data['table'] or '(not configured)'}"
               f" at {data['endpoint']}")
    click.echo(f"pending:       {data['pending']} unit(s)")
    if last is None:
        click.echo("last run:      never")
    else:
        outcome = f"error: {last['error']}" if last["error"] else "ok"
        click.echo(f"last run:      {last['finished_at']}: {last['sent']} sent, "
                   f"{last['unchanged']} unchanged, {last['conflicts']} conflicts, "
                   f"{last['failed']} failed; {outcome}")
    click.echo(f"last success:  {success['finished_at'] if success else 'never'}")
    click.echo(f"conflicts:     {len(conflicts)} recorded")
    for row in conflicts[:20]:
        click.echo(f"  {row['at']}  {row['detail']}")
    if len(conflicts) > 20:
        click.echo(f"  ... and {len(conflicts) - 20} older (station sync status --json)")

# -- station table create ------------------------------------------------------------

@main.group("table")
def table() -> None:
    """The DynamoDB allow-list table."""

@table.command("create")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@friendly_errors
def table_create(ctx: Context, as_json: bool) -> None:
    """Create the allow-list table of [cloud] (key serial, index on batch, on-demand) for
    a new account or a local endpoint; an existing table of the right shape is kept."""
    from station.allowlist_item import BATCH_INDEX, create_allowlist_table
    from station.sync.dynamo import ClientSettings, make_client
    from station.sync.engine import check_sync_config

    config = ctx.station().config
    check_sync_config(config)
    assert config.cloud.table is not None
    client = make_client(config.cloud, settings=ClientSettings(max_pool_connections=2))
    try:
        create_allowlist_table(client, config.cloud.table)
    finally:
        client.close()
    data = {"ready": True, "index": BATCH_INDEX, "status": "ACTIVE"}
    data |= _where(config)
    if as_json:
        emit_json(data)
    else:
        click.echo(f"table {config.cloud.table} is ACTIVE at {data['endpoint']} "
                   f"(partition key serial, index {BATCH_INDEX} on batch)")

# -- station revoke / unrevoke -----------------------------------------------------

def set_status(ctx: Context, serial: str, status: str, reason: str, by: str,
               as_json: bool, pin_stdin: bool = False) -> None:
    records = ctx.station().records
    unit = records.get_unit(serial)
    if unit is None:
        raise StationError(
            f"serial {serial!r} is not in this station's allow-list",
            code="SERIAL_UNKNOWN",
            hint="Check the serial (station units --search PART lists close matches).",
        )
    changed = unit.status != status
    if changed:
        by = check_supervisor(records, by, pin_stdin)
        if status == "revoked":
            unit = records.revoke(serial, actor=by, reason=reason)
        else:
            unit = records.unrevoke(serial, actor=by, reason=reason)
    if as_json:
        emit_json({"changed": changed, "unit": as_dict(unit)})
    elif changed:
        click.echo(f"{serial} is now {status} (rev {unit.rev}); the next `station sync` "
                   "tells the cloud")
    else:
        click.echo(f"{serial} was already {status}; nothing changed")

def _status_change_options(command: Any) -> Any:
    """What revoke and unrevoke both take: the serial, why, the supervisor and their PIN."""
    for decorate in reversed((
        click.argument("serial"),
        click.option("--reason", required=True, help="Why (kept in the audit log)."),
        click.option("--by", default=default_operator, show_default="$STATION_OPERATOR or your login",
                     help="The supervisor who decides (their PIN is asked)."),
        click.option("--pin-stdin", is_flag=True,
                     help="Read the supervisor's PIN from the first line of standard input."),
        click.option("--json", "as_json", is_flag=True),
        pass_ctx,
        friendly_errors,
    )):
        command = decorate(command)
    return command


@main.command("revoke")
@_status_change_options
def revoke(ctx: Context, serial: str, reason: str, by: str, pin_stdin: bool, as_json: bool) -> None:
    """Revoke SERIAL: once synced, the cloud refuses to provision it."""
    set_status(ctx, serial, "revoked", reason, by, as_json, pin_stdin)

@main.command("unrevoke")
@_status_change_options
def unrevoke(ctx: Context, serial: str, reason: str, by: str, pin_stdin: bool, as_json: bool) -> None:
    """Lift the revocation of SERIAL: once synced, the cloud allows it again."""
    set_status(ctx, serial, "allowed", reason, by, as_json, pin_stdin)



def emit_line(data: dict[str, Any]) -> None:
    """One JSON object on one line (``--watch --json``: JSON lines)."""
    click.echo(json.dumps(data, sort_keys=True, default=str))
    sys.stdout.flush()


def _where(config: Any) -> dict[str, Any]:
    from station.sync.dynamo import describe_endpoint

    cloud = config.cloud
    return {
        "table": cloud.table,
        "region": cloud.region,
        "endpoint": describe_endpoint(cloud),
    }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
