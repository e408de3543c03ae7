"""``station demo`` (a whole demo line) and ``station sim`` (simulated boards)."""

from __future__ import annotations

import sys
import time

import click

from station import render
from station.cli.common import friendly_errors, main


@main.command()
@click.option("--boards", default=4, show_default=True, type=click.IntRange(1, 64))
@click.option("--dir", "folder", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Folder for the demo station (its station.ini, database and claim material).")
@click.option("--fault", "faults", multiple=True, metavar="[N=]FAULT",
              help="Fault for board N (1-based), e.g. 3=drop@keygen. Default: board 2 answers with a CSR for another serial.")
@click.option("--baud", default=115200, show_default=True, type=click.IntRange(0))
@click.option("--keygen-ms", default=200.0, show_default=True, type=click.FloatRange(0))
@click.option("--endpoint-url", help="Sync to this DynamoDB-compatible endpoint instead of a local one.")
@click.option("--driver", type=click.Choice(["agent", "nrf91", "greengrass"]), default="agent", show_default=True,
              help="Which kind of simulated board: our firmware agent, or Nordic nRF91 modems over AT commands.")
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
def demo(boards: int, folder: str, faults: tuple[str, ...], baud: int, keygen_ms: float,
         endpoint_url: str | None, driver: str, as_json: bool) -> None:
    """Run a whole demo line: demo claim material, simulated boards, provisioning, summary.

    Exit 0 when every board ended as its faults predict (a predicted FAIL is expected) and
    the cloud check held; 1 otherwise; 2 for a wrong option; 3 when the station could not
    run it (e.g. an --endpoint-url that does not answer; nothing is written then)."""
    from station.demo.line import run_demo

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
@click.option("--driver", type=click.Choice(["agent", "nrf91", "greengrass"]), default="agent", show_default=True)
@friendly_errors
def sim(boards: int, baud: int, keygen_ms: float, faults: tuple[str, ...], serial_prefix: str,
        first_number: int, tcp: bool, driver: str) -> None:
    """Start simulated boards and keep them up until Ctrl-C."""
    from flashing.sim import start_boards, start_simulated
    from station.demo.line import parse_board_faults

    fault_map = parse_board_faults(faults, boards, driver)
    transport = "tcp" if tcp else "pty"
    if driver == "agent":
        started = start_boards(
            boards, serial_prefix=serial_prefix, first_number=first_number, baud=baud or None,
            keygen_ms=keygen_ms, faults=fault_map, transport=transport,
        )
    elif driver == "greengrass":
        from station.demo.line import GATEWAY_DEMO_PASSWORD, demo_gateway_settings

        started = start_simulated(  # type: ignore[assignment]
            driver, boards, first_number=first_number, baud=baud or None, faults=fault_map,
            transport=transport, greengrass=demo_gateway_settings(), password=GATEWAY_DEMO_PASSWORD,
        )
        click.echo(f"The gateways' factory account: root, password {GATEWAY_DEMO_PASSWORD!r}.")
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
