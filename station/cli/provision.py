"""``station provision`` (one board) and ``station run`` (the whole line)."""

from __future__ import annotations

import sys
import threading
from typing import Any

import click

from station import render
from station.cli.common import (
    EXIT_FAIL,
    Context,
    as_dict,
    default_operator,
    emit_json,
    friendly_errors,
    main,
    pass_ctx,
    prompt_passphrase,
)
from station.cli.live_view import LiveView
from station.context import Station
from station.errors import StationError
from station.provisioning.pipeline import (
    Provisioner,
    ProvisionRequest,
    ProvisionResult,
    ReprovisionOverride,
)
from station.provisioning.ports import ConfiguredPorts, UsbPortWatcher
from station.provisioning.runner import LineRunner


def _choose_batch(station: Station, batch: str | None) -> str:
    if batch:
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


@main.command()
@click.option("--port", required=True, help="Serial port or pyserial URL of the board.")
@click.option("--batch", help="Batch to provision into (default: the one open batch).")
@click.option("--label", help="Serial scanned from the board's label; must match the board.")
@click.option("--operator", default=default_operator, show_default="$STATION_OPERATOR or your login")
@click.option("--reprovision", is_flag=True, help="Allow a serial that was already provisioned (needs --by and --reason).")
@click.option("--by", "override_by", help="Supervisor who allows the re-provision.")
@click.option("--reason", help="Why the board is provisioned again.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ctx
@friendly_errors
def provision(
    ctx: Context, port: str, batch: str | None, label: str | None, operator: str,
    reprovision: bool, override_by: str | None, reason: str | None, as_json: bool,
) -> None:
    """Provision the board on one port."""
    override = None
    if reprovision:
        if not override_by or not reason:
            raise StationError("--reprovision needs --by SUPERVISOR and --reason TEXT", code="OVERRIDE_INCOMPLETE")
        override = ReprovisionOverride(override_by, reason)
    station = ctx.station()
    station.take_line()
    provisioner = Provisioner(station.config, station.records, station.claim(prompt=prompt_passphrase))
    result = provisioner.provision(
        ProvisionRequest(port=port, operator=operator, batch=_choose_batch(station, batch), label=label, override=override)
    )
    if as_json:
        emit_json(result_dict(result))
    else:
        click.echo(result_line(result))
    sys.exit(0 if result.passed else EXIT_FAIL)


@main.command()
@click.option("--ports", help="Comma-separated ports (default: [ports] in station.ini; `auto` watches USB).")
@click.option("--once", is_flag=True, help="Provision whatever is on the ports once, in parallel, and exit.")
@click.option("--batch", help="Batch to provision into (default: the one open batch).")
@click.option("--operator", default=default_operator, show_default="$STATION_OPERATOR or your login")
@click.option("--json", "as_json", is_flag=True, help="With --once: print the results as JSON.")
@pass_ctx
@friendly_errors
def run(ctx: Context, ports: str | None, once: bool, batch: str | None, operator: str, as_json: bool) -> None:
    """Provision every board on the line, in parallel, as boards are plugged in (Ctrl-C stops)."""
    station = ctx.station()
    config = station.config
    port_list = [p.strip() for p in ports.split(",") if p.strip()] if ports else list(config.ports)
    watch_usb = (ports or "").strip().lower() == "auto" or (not ports and config.auto_ports)
    if once and (watch_usb or not port_list):
        raise StationError("--once needs a list of ports", code="NO_PORTS", hint="Pass --ports A,B or list them in station.ini.")
    if not port_list and not watch_usb:
        raise StationError("no ports to provision", code="NO_PORTS",
                           hint="Pass --ports A,B (or auto), or set [ports] ports in station.ini.")
    station.take_line()
    provisioner = Provisioner(config, station.records, station.claim(prompt=prompt_passphrase))
    batch_id = _choose_batch(station, batch)
    source = UsbPortWatcher(config.usb_filters) if watch_usb else ConfiguredPorts(port_list)
    runner = LineRunner(provisioner, source, batch=batch_id, operator=operator)
    if once:
        view = LiveView(runner) if not as_json else None
        results = runner.run_once(port_list)
        if view:
            view.close()
        if as_json:
            emit_json([result_dict(r) for r in results])
        sys.exit(0 if results and all(r.passed for r in results) else EXIT_FAIL)
    view = LiveView(runner)
    stop = threading.Event()
    click.echo(f"Provisioning into batch {batch_id}; plug boards in. Ctrl-C stops.")
    runner.start()
    try:
        view.run_until(stop)
    except KeyboardInterrupt:
        click.echo("\nstopping: letting running boards finish…")
    finally:
        aborted = runner.stop(timeout=30)
        view.close()
    passed = sum(r.passed for r in runner.results)
    click.echo(f"{passed} PASS, {len(runner.results) - passed} FAIL" + (f", {aborted} aborted" if aborted else ""))
