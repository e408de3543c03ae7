"""The ``station`` command.

Exit codes: 0 success (every board PASS), 1 at least one board FAILed,
2 usage error, 3 the station could not do what was asked (config, claim
credentials, database, port...), 4 a sync did not complete (see ``station sync``).
"""

from __future__ import annotations

import dataclasses
import functools
import getpass
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from flashing.errors import BoardError
from flashing.sim.faults import FaultSpecError
from records import RecordsError

from . import render
from .context import Station, open_station
from .errors import StationError
from .live_view import LiveView
from .pipeline import Provisioner, ProvisionRequest, ProvisionResult, ReprovisionOverride
from .ports import ConfiguredPorts, UsbPortWatcher
from .runner import LineRunner

EXIT_FAIL = 1
EXIT_ERROR = 3

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(func: F) -> F:
    """Turn every expected error into one clear line and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (StationError, BoardError) as exc:
            fail(f"{exc.code}: {exc.message}", exc.hint)
        except RecordsError as exc:
            fail(f"{getattr(exc, 'code', 'DB_ERROR')}: {exc}", "Check the station database (station doctor).")
        except FaultSpecError as exc:
            fail(f"FAULT_SPEC_INVALID: {exc}", "Write faults as [N=]KIND[@STEP], e.g. 2=drop@keygen (station sim --help).")
        except KeyboardInterrupt:
            click.echo("\nstopped", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:
            logging.getLogger("station.cli").exception("unexpected error")
            fail(f"INTERNAL_ERROR: {type(exc).__name__} (details in the station log)",
                 "This is a bug in the station software. Report it with logs/station.log.")

    return wrapper  # type: ignore[return-value]


def fail(message: str, hint: str | None, code: int = EXIT_ERROR) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    if hint:
        click.echo(f"  what to do: {hint}", err=True)
    sys.exit(code)


def default_operator() -> str:
    return os.environ.get("STATION_OPERATOR") or getpass.getuser()


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def as_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


class Context:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._station: Station | None = None

    def station(self) -> Station:
        if self._station is None:
            self._station = open_station(self.config_path)
        return self._station

    def close(self) -> None:
        if self._station is not None:
            self._station.close()


pass_ctx = click.make_pass_decorator(Context)


def _remember_config(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        ctx.ensure_object(Context).config_path = value
    return value


class StationGroup(click.Group):
    """Every command also takes ``--config``, so ``station provision --config X`` works too."""

    group_class = type

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        _accept_config_option(cmd)
        super().add_command(cmd, name)


def _accept_config_option(cmd: click.Command) -> None:
    if not any(p.name == "config_here" for p in cmd.params):
        cmd.params.append(click.Option(
            ["--config", "config_here"], type=click.Path(dir_okay=False), expose_value=False,
            callback=_remember_config, help="station.ini to use (default: ./station.ini, or $STATION_CONFIG).",
        ))
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            _accept_config_option(sub)


@click.group(cls=StationGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="station.ini to use (default: ./station.ini, or $STATION_CONFIG).",
)
@click.version_option(package_name="provisioning-station")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Provision IoT boards for AWS IoT fleet provisioning by claim."""
    ctx.obj = Context(config_path)
    ctx.call_on_close(ctx.obj.close)


# -- provisioning --------------------------------------------------------------


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
    provisioner = Provisioner(station.config, station.records, station.claim(prompt=_prompt_passphrase))
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
    provisioner = Provisioner(config, station.records, station.claim(prompt=_prompt_passphrase))
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


def _prompt_passphrase() -> str:
    if not sys.stdin.isatty():
        raise StationError(
            "the claim key is encrypted and no passphrase was given",
            code="CLAIM_KEY_PASSPHRASE_NEEDED",
            hint="Set the environment variable named by [claim] passphrase_env, or run interactively.",
        )
    return click.prompt("Claim key passphrase", hide_input=True)


# -- the demo line and simulated boards ----------------------------------------------


@main.command()
@click.option("--boards", default=4, show_default=True, type=click.IntRange(1, 64))
@click.option("--dir", "folder", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Folder for the demo station (its station.ini, database and claim material).")
@click.option("--fault", "faults", multiple=True, metavar="[N=]FAULT",
              help="Fault for board N (1-based), e.g. 3=drop@keygen. Default: board 2 answers with a CSR for another serial.")
@click.option("--baud", default=115200, show_default=True, type=click.IntRange(0))
@click.option("--keygen-ms", default=200.0, show_default=True, type=click.FloatRange(0))
@click.option("--endpoint-url", help="Sync to this DynamoDB-compatible endpoint instead of a local one.")
@click.option("--driver", type=click.Choice(["agent", "nrf91"]), default="agent", show_default=True,
              help="Which kind of simulated board: our firmware agent, or Nordic nRF91 modems over AT commands.")
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
def demo(boards: int, folder: str, faults: tuple[str, ...], baud: int, keygen_ms: float,
         endpoint_url: str | None, driver: str, as_json: bool) -> None:
    """Run a whole demo line: demo claim material, simulated boards, provisioning, summary."""
    from .demo import run_demo

    code = run_demo(
        folder, boards=boards, faults=faults, baud=baud, keygen_ms=keygen_ms,
        endpoint_url=endpoint_url, driver=driver, as_json=as_json, echo=click.echo,
    )
    sys.exit(code)


@main.command()
@click.option("--boards", default=1, show_default=True, type=click.IntRange(1, 256))
@click.option("--baud", default=115200, show_default=True, type=click.IntRange(0), help="Emulated baud rate (0: no wire time).")
@click.option("--keygen-ms", default=300.0, show_default=True, type=click.FloatRange(0))
@click.option("--fault", "faults", multiple=True, metavar="[N=]FAULT",
              help="Fault for board N (1-based) or, without N=, for every board. Repeatable.")
@click.option("--serial-prefix", default="SIM", show_default=True)
@click.option("--first", "first_number", default=1, show_default=True, type=click.IntRange(0))
@click.option("--tcp", is_flag=True, help="Listen on loopback TCP (socket:// URLs) instead of pseudo-terminals.")
@click.option("--driver", type=click.Choice(["agent", "nrf91"]), default="agent", show_default=True)
@friendly_errors
def sim(boards: int, baud: int, keygen_ms: float, faults: tuple[str, ...], serial_prefix: str,
        first_number: int, tcp: bool, driver: str) -> None:
    """Start simulated boards and keep them up until Ctrl-C."""
    from flashing.sim import start_boards, start_simulated

    from .demo import parse_board_faults

    fault_map = parse_board_faults(faults, boards, driver)
    transport = "tcp" if tcp else "pty"
    if driver == "agent":
        started = start_boards(
            boards, serial_prefix=serial_prefix, first_number=first_number, baud=baud or None,
            keygen_ms=keygen_ms, faults=fault_map, transport=transport,
        )
    else:
        started = start_simulated(  # type: ignore[assignment]
            driver, boards, first_number=first_number, baud=baud or None, keygen_ms=keygen_ms,
            faults=fault_map, transport=transport,
        )
    click.echo(render.table(
        ["board", "serial", "port", "faults"],
        [(i + 1, b.serial, b.port, ",".join(fault_map.get(i, [])) or "none") for i, b in enumerate(started)],
    ))
    click.echo("ports: " + ",".join(b.port for b in started))
    click.echo("Simulated boards are up. Press Ctrl-C to stop them.")
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    finally:
        for board in started:
            board.stop()


# -- looking at the records -------------------------------------------------


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


# -- batches -------------------------------------------------------------------


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
    opened = ctx.station().records.open_batch(batch_id, product, planned, operator)
    click.echo(f"batch {opened.id} open: {opened.product}, {opened.planned_quantity} planned")


@batch.command("close")
@click.argument("batch_id")
@click.option("--operator", default=default_operator)
@pass_ctx
@friendly_errors
def batch_close(ctx: Context, batch_id: str, operator: str) -> None:
    """Close BATCH_ID: no more boards are provisioned into it."""
    closed = ctx.station().records.close_batch(batch_id, operator)
    click.echo(f"batch {closed.id} closed at {closed.closed_at}")


@batch.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@friendly_errors
def batch_list(ctx: Context, as_json: bool) -> None:
    """List batches with their progress."""
    records = ctx.station().records
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


# -- audit ----------------------------------------------------------------------


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



# -- health -------------------------------------------------------------------------


@main.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@friendly_errors
def doctor(ctx: Context, as_json: bool) -> None:
    """The station's security posture and health: key file, claim cert, database, log, cloud."""
    from .doctor import FAIL, WARN, diagnose

    checks = diagnose(ctx.config_path)
    if as_json:
        emit_json([as_dict(c) for c in checks])
    else:
        colours = {FAIL: "red", WARN: "yellow"}
        for check in checks:
            click.echo(f"{click.style(check.status.ljust(4), fg=colours.get(check.status, 'green'), bold=True)}  "
                       f"{check.area:<22} {check.finding}")
            if check.hint:
                click.echo(f"{'':28}what to do: {check.hint}")
    sys.exit(1 if any(c.status == FAIL for c in checks) else 0)


# -- cloud administration ---------------------------------------------------------


@main.group()
def cloud() -> None:
    """One-off cloud administration (run by the AWS account's administrator, not on the line)."""


@cloud.command("local")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@pass_ctx
@friendly_errors
def cloud_local(ctx: Context, port: int) -> None:
    """Run a DynamoDB-compatible server on this PC (loopback only) until Ctrl-C.

    For trying `station sync`, `station-gui` and reports from the cloud on a demo station.
    Its tables live in memory: they are gone when it stops.
    """
    from .config import find_config, load_config
    from .dynamo import make_client
    from .dynamo_local import LocalDynamo, create_allowlist_table

    with LocalDynamo(port=port) as server:
        click.echo(f"DynamoDB-compatible server at {server.endpoint_url} (loopback only, in memory)")
        try:
            config = load_config(find_config(ctx.config_path))
        except StationError:
            config = None
        if config is not None and config.cloud.table:
            from dataclasses import replace

            cloud = replace(config.cloud, endpoint_url=server.endpoint_url, region=config.cloud.region or "us-east-1")
            create_allowlist_table(make_client(cloud), cloud.table)
            click.echo(f"table {cloud.table} ready (from {config.path})")
        click.echo("Press Ctrl-C to stop it.")
        sys.stdout.flush()
        while True:
            time.sleep(3600)


@cloud.command("claim-create")
@click.option("--template", required=True, help="Fleet provisioning template name (cloud/template.yaml's TemplateName).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for the claim files.")
@click.option("--policy", help="Claim IoT policy to attach (default: TEMPLATE-claim, as the template creates it).")
@click.option("--region")
@click.option("--profile")
@click.option("--endpoint-url", help="Another IoT endpoint (tests, local emulators).")
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
def claim_create(template: str, out_dir: str, policy: str | None, region: str | None, profile: str | None,
                 endpoint_url: str | None, as_json: bool) -> None:
    """Create the shared claim certificate and key in AWS IoT and write them to --out."""
    from pathlib import Path

    from .claim_create import create_claim

    created = create_claim(template, Path(out_dir), policy=policy, region=region, profile=profile,
                           endpoint_url=endpoint_url)
    if as_json:
        emit_json({k: str(v) for k, v in as_dict(created).items()})
        return
    click.echo(f"claim certificate {created.certificate_id} created, policy {created.policy_name} attached")
    click.echo(f"  {created.certificate}\n  {created.private_key}  (owner-only; copy it to the line PCs securely)")
    click.echo(f"  {created.root_ca}")
    click.echo("\nPut these lines in each station's station.ini (adjust the paths on the line PC):\n")
    click.echo(created.ini_lines())


# Commands that live in modules of their own; they take `main` rather than import it.
from .cli_report import register_report_commands  # noqa: E402
from .cli_sync import register_sync_commands  # noqa: E402
from .cli_users import register_user_commands  # noqa: E402

register_sync_commands(main)
register_user_commands(main)
register_report_commands(main)


if __name__ == "__main__":  # pragma: no cover
    main()
