"""``station provision`` (one board) and ``station run`` (the whole line)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from station import render
from station.cli.common import (
    EXIT_ERROR,
    EXIT_FAIL,
    STATION_SIDE_CODES,
    Context,
    Terminated,
    as_dict,
    check_supervisor,
    default_operator,
    emit_json,
    friendly_errors,
    main,
    pass_ctx,
    prompt_passphrase,
    stopping_on_signals,
)
from station.errors import StationError

if TYPE_CHECKING:
    from station.context import Station
    from station.provisioning.pipeline import ProvisionResult


def _choose_batch(station: Station, batch: str | None) -> str:
    """The batch to provision into, checked open before any board is touched."""
    if batch:
        found = station.records.get_batch(batch)
        if found is None:
            raise StationError(f"batch {batch!r} does not exist", code="BATCH_NOT_FOUND",
                               hint=f"Open it first: station batch open {batch} --product PRODUCT --quantity N")
        if found.closed_at is not None:
            raise StationError(f"batch {batch!r} was closed on {found.closed_at[:10]}", code="BATCH_CLOSED",
                               hint="Open a new batch for further boards.")
        return batch
    open_batches = [b for b in station.records.list_batches() if b.closed_at is None]
    if len(open_batches) == 1:
        return open_batches[0].id
    if not open_batches:
        raise StationError(
            "no batch is open", code="NO_OPEN_BATCH", hint="Open one: station batch open BATCH --product P --quantity N"
        )
    names = ", ".join(b.id for b in open_batches)
    raise StationError(f"several batches are open ({names})", code="BATCH_AMBIGUOUS", hint="Pass --batch BATCH.")


def result_line(result: ProvisionResult) -> str:
    serial = result.serial or "(no serial)"
    if result.passed:
        return click.style("PASS", fg="green", bold=True) + f"  {result.port}  {serial}  {render.duration(result.duration_ms)}"
    return (
        click.style("FAIL", fg="red", bold=True)
        + f"  {result.port}  {serial}  {result.code}: {result.detail}\n      what to do: {result.hint}"
    )


def result_dict(result: ProvisionResult) -> dict[str, Any]:
    data = as_dict(result)
    data["result"] = result.result
    return data


def exit_code(results: Sequence[ProvisionResult]) -> int:
    """0 if every board PASSed; 3 if nothing was tried or nothing but the station's own
    mistakes stopped the boards (a port that cannot be opened, a missing label); else 1."""
    failed = [r for r in results if not r.passed]
    if not results:
        return EXIT_ERROR
    if not failed:
        return 0
    return EXIT_ERROR if all(r.code in STATION_SIDE_CODES for r in failed) else EXIT_FAIL


def _read_labels(runner: Any, stream: Any) -> None:
    """A barcode scanner types a line into the terminal: each line is the next board's label."""
    for line in stream:
        if line.strip():
            runner.queue_label(line)


@main.command()
@click.option("--port", required=True, help="Serial port or pyserial URL of the board.")
@click.option("--batch", help="Batch to provision into (default: the one open batch).")
@click.option("--label", help="Serial scanned from the board's label; must match the board.")
@click.option("--operator", default=default_operator, show_default="$STATION_OPERATOR or your login")
@click.option("--reprovision", is_flag=True,
              help="Allow a serial that was already provisioned (needs --by, --reason and the supervisor's PIN).")
@click.option("--by", "override_by", help="Supervisor who allows the re-provision (their PIN is asked).")
@click.option("--reason", help="Why the board is provisioned again.")
@click.option("--pin-stdin", is_flag=True, help="Read the supervisor's PIN from the first line of standard input.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ctx
@friendly_errors
def provision(
    ctx: Context, port: str, batch: str | None, label: str | None, operator: str,
    reprovision: bool, override_by: str | None, reason: str | None, pin_stdin: bool, as_json: bool,
) -> None:
    """Provision the board on one port.

    Exit 0 PASS, 1 FAIL, 3 when the station could not try (the port cannot be opened, no
    label with ``require_label``, a closed batch)."""
    from station.provisioning.pipeline import Provisioner, ProvisionRequest, ReprovisionOverride

    if reprovision and (not override_by or not reason):
        raise StationError("--reprovision needs --by SUPERVISOR and --reason TEXT", code="OVERRIDE_INCOMPLETE",
                           hint="Name the supervisor who allows it and why; their PIN is asked.")
    station = ctx.station()
    override = None
    if reprovision:
        override = ReprovisionOverride(check_supervisor(station.records, override_by, pin_stdin), reason)
    with stopping_on_signals():
        batch_id = _choose_batch(station, batch)
        station.take_line()
        provisioner = Provisioner(station.config, station.records, station.claim(prompt=prompt_passphrase))
        result = provisioner.provision(
            ProvisionRequest(port=port, operator=operator, batch=batch_id, label=label, override=override)
        )
    if result.passed and result.unit is not None:
        labels = _label_service(station)
        if labels is not None:
            labels.start()
            unit = result.unit
            labels.print_pass(serial=unit.serial, product=unit.product, batch=unit.batch,
                              device_key_sha256=unit.device_key_sha256, operator=operator)
            _finish_labels(labels)
    if as_json:
        emit_json(result_dict(result))
    else:
        click.echo(result_line(result))
    sys.exit(exit_code([result]))


def _label_service(station: Station) -> Any:
    """The station's label printing (labels.ini next to station.ini), or None without one."""
    from station.labels import LabelService

    return LabelService.for_station(station.config.folder, station.config.station_id, station.records)


def _finish_labels(labels: Any, timeout: float = 10.0) -> None:
    """Before a one-shot command exits: wait for the labels it queued; what has not printed
    stays in the queue file and prints at the next start."""
    if labels is None:
        return
    if not labels.flush(timeout):
        click.echo("label not printed yet: it stays queued and prints when the printer is back "
                   "(`station label status`)", err=True)
    labels.stop()


@main.command()
@click.option("--ports", help="Comma-separated ports (default: [ports] in station.ini; `auto` watches USB).")
@click.option("--once", is_flag=True, help="Provision whatever is on the ports once, in parallel, and exit.")
@click.option("--batch", help="Batch to provision into (default: the one open batch).")
@click.option("--operator", default=default_operator, show_default="$STATION_OPERATOR or your login")
@click.option("--json", "as_json", is_flag=True, help="With --once: print the results as JSON.")
@pass_ctx
@friendly_errors
def run(ctx: Context, ports: str | None, once: bool, batch: str | None, operator: str, as_json: bool) -> None:
    """Provision every board on the line, in parallel, as boards are plugged in (Ctrl-C stops).

    With ``[serial] require_label = yes``, scan each board's label into this terminal
    before plugging the board in (one line per label, matched in order).
    Exit 0 if every board PASSed, 1 if any FAILed, 3 if the station could not try."""
    with stopping_on_signals():
        _run(ctx, ports, once, batch, operator, as_json)


def _run(ctx: Context, ports: str | None, once: bool, batch: str | None, operator: str, as_json: bool) -> None:
    from station.cli.live_view import LiveView
    from station.provisioning.pipeline import Provisioner
    from station.provisioning.ports import ConfiguredPorts, UsbPortWatcher, source_for
    from station.provisioning.runner import LineRunner

    station = ctx.station()
    config = station.config
    port_list = [p.strip() for p in ports.split(",") if p.strip()] if ports else list(config.ports)
    watch_usb = (ports or "").strip().lower() == "auto" or (not ports and config.auto_ports)
    named_slots = not ports and bool(config.slots)
    if once and (watch_usb or named_slots or not port_list):
        raise StationError("--once needs a list of ports", code="NO_PORTS", hint="Pass --ports A,B or list them in station.ini.")
    if not port_list and not watch_usb and not named_slots:
        raise StationError("no ports to provision", code="NO_PORTS",
                           hint="Pass --ports A,B (or auto), or set [ports] ports in station.ini.")
    if config.require_label and once:
        raise StationError(
            "[serial] require_label = yes needs a scanned label for each board, and --once takes none",
            code="LABEL_NEEDS_SCANNER",
            hint="Use `station provision --port P --label SERIAL`, `station run` without --once (scan each label "
            "into the terminal before plugging the board in), or the app.",
        )
    if config.require_label and not sys.stdin.isatty():
        raise StationError(
            "[serial] require_label = yes needs labels scanned into this terminal, and there is none",
            code="LABEL_NEEDS_SCANNER",
            hint="Run `station run` in a terminal with the scanner, or use the app (station-gui).",
        )
    batch_id = _choose_batch(station, batch)
    station.take_line()
    provisioner = Provisioner(config, station.records, station.claim(prompt=prompt_passphrase))
    if named_slots:
        source = source_for(config)  # [slots]: boards only in the fixture's named places
    else:
        source = UsbPortWatcher(config.usb_filters) if watch_usb else ConfiguredPorts(port_list)
    runner = LineRunner(provisioner, source, batch=batch_id, operator=operator, labels=_label_service(station))
    if once:
        view = LiveView(runner) if not as_json else None
        results = runner.run_once(port_list)
        if view:
            view.close()
        _finish_labels(runner.labels)
        if as_json:
            emit_json([result_dict(r) for r in results])
        elif not results:
            click.echo("no board was provisioned (see the lines above)", err=True)
        sys.exit(exit_code(results))
    view = LiveView(runner)
    stop = threading.Event()
    click.echo(f"Provisioning into batch {batch_id}; plug boards in. Ctrl-C stops (a second Ctrl-C aborts).")
    if config.require_label:
        click.echo("Scan each board's label here, then plug the board in.")
        threading.Thread(target=_read_labels, args=(runner, sys.stdin), name="label-reader", daemon=True).start()
    runner.start()
    grace = 30.0
    try:
        view.run_until(stop)
    except Terminated:
        grace = 0.0
        click.echo("\nterminated: running boards are recorded as aborted", err=True)
    except KeyboardInterrupt:
        click.echo("\nstopping: letting running boards finish (Ctrl-C again aborts them)…", err=True)
    finally:
        try:
            aborted = runner.stop(timeout=grace)
        finally:
            view.close()
    passed = sum(r.passed for r in runner.results)
    click.echo(f"{passed} PASS, {len(runner.results) - passed} FAIL" + (f", {aborted} aborted" if aborted else ""))
    sys.exit(exit_code(runner.results) if runner.results else 0)
