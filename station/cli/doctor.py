"""``station doctor``: the station's security posture and health on one screen."""

from __future__ import annotations

import sys

import click

from station.cli.common import Context, as_dict, emit_json, friendly_errors, main, pass_ctx


@main.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@friendly_errors
def doctor(ctx: Context, as_json: bool) -> None:
    """The station's security posture and health: key file, claim cert, database, log, cloud."""
    from station.doctor import FAIL, WARN, diagnose

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
