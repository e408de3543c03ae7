"""``station label print|status``: reprint a unit's label (a supervisor's action), see the printer."""

from __future__ import annotations

import click

from station.cli.common import (
    Context,
    as_dict,
    check_supervisor,
    emit_json,
    friendly_errors,
    main,
    pass_ctx,
)
from station.errors import StationError


def _service(station):
    from station.labels import LabelService

    service = LabelService.for_station(station.config.folder, station.config.station_id, station.records)
    if service is None:
        raise StationError("this station prints no labels: there is no labels.ini next to station.ini",
                           code="LABELS_NOT_CONFIGURED",
                           hint="Create labels.ini with printer = tcp://HOST:9100 and template = label.ini "
                                "(copy station/labels/sample-label.ini).")
    return service


@main.group()
def label() -> None:
    """Reprint a unit's label and look at the label printer."""


@label.command("print")
@click.argument("serial")
@click.option("--by", "by", required=True, help="The supervisor who asks for the reprint (their PIN is asked).")
@click.option("--pin-stdin", is_flag=True, help="Read the supervisor's PIN from the first line of standard input.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@friendly_errors
def label_print(ctx: Context, serial: str, by: str, pin_stdin: bool, as_json: bool) -> None:
    """Print the label of SERIAL again (recorded in the audit log as label.reprint)."""
    station = ctx.station()
    records = station.records
    unit = records.get_unit(serial)
    if unit is None:
        raise StationError(f"serial {serial!r} never passed on this station", code="SERIAL_UNKNOWN",
                           hint="Only a unit that PASSed gets a label (station units --search PART lists close matches).")
    if unit.status == "revoked":
        raise StationError(f"serial {serial!r} is revoked", code="UNIT_REVOKED",
                           hint="A revoked unit gets no label; lift the revocation first if it was a mistake.")
    service = _service(station)
    supervisor = check_supervisor(records, by, pin_stdin)
    job = service.reprint_now(serial=unit.serial, product=unit.product, batch=unit.batch,
                              device_key_sha256=unit.device_key_sha256, supervisor=supervisor)
    if as_json:
        emit_json({"serial": unit.serial, "job_id": job.job_id, "printer": service.queue.printer.name,
                   "printed": True})
        return
    click.echo(f"label for {unit.serial} sent to {service.queue.printer.name} (job {job.job_id})")


@label.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@friendly_errors
def label_status(ctx: Context, as_json: bool) -> None:
    """The label printer's state and the labels still waiting for it."""
    from station.labels import JsonFileStore

    station = ctx.station(read_only=True)
    service = _service(station)
    printer = service.queue.printer
    status = printer.status()
    pending = JsonFileStore(service.settings.queue_file).load()
    if as_json:
        emit_json({"printer": printer.name, "status": as_dict(status),
                   "pending": [{"job_id": j.job_id, "serial": j.serial, "kind": j.kind, "attempts": j.attempts,
                                "last_code": j.last_code} for j in pending]})
        return
    click.echo(f"printer {printer.name}: {status.state} ({status.detail})")
    click.echo(f"{len(pending)} label(s) waiting" + (": " + ", ".join(j.serial for j in pending) if pending else ""))
