"""``station conformance --port P``: check a board's firmware against the agent protocol
(docs/protocol.md), rule by rule, before it reaches a line. Provisions nothing and needs
no station: no station.ini, no batch, no database."""

from __future__ import annotations

import sys

import click

from station.cli.common import emit_json, friendly_errors, main


@main.command()
@click.option("--port", required=True, help="The board's serial port (or a pyserial URL).")
@click.option("--baud", default=115200, show_default=True, type=click.IntRange(1200))
@click.option("--rule", "rules", multiple=True, metavar="NAME",
              help="Check only this rule (repeatable); the names are in the output.")
@click.option("--no-commit", is_flag=True,
              help="Leave out the COMMIT rules (the board is not marked provisioned).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for CI.")
@friendly_errors
def conformance(port: str, baud: int, rules: tuple[str, ...], no_commit: bool, as_json: bool) -> None:
    """Drive the board through every rule of the protocol and print PASS/FAIL per rule with
    its spec section (exit 0 conforms, 1 a rule failed, 3 the port could not be opened).

    For development boards: the checker writes test objects, makes keys and (unless
    --no-commit) sends COMMIT. It touches no station database or batch."""
    from flashing.conformance import run_conformance

    report = run_conformance(port, baudrate=baud, commit=not no_commit, rules=list(rules) or None)
    if as_json:
        emit_json(report.to_dict())
    else:
        for line in report.lines():
            colour = "red" if line.startswith("FAIL") or "DOES NOT" in line else None
            click.secho(line, fg=colour)
    sys.exit(report.exit_code)
