"""What every ``station`` command shares: the command group, the per-invocation context,
error handling (one line and an exit code, never a traceback), JSON output and exit codes.

Exit codes: 0 success (every board PASS), 1 at least one board FAILed, 2 usage error,
3 the station could not do what was asked (config, claim credentials, database, port...),
4 a sync did not complete, 5 another sync is running (see ``station sync``)."""

from __future__ import annotations

import dataclasses
import functools
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from flashing.sim.faults import FaultSpecError
from station.context import Station, open_station
from station.errors import StationError, explain

EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_ERROR = 3

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(func: F) -> F:
    """Turn every expected error into one clear line and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FaultSpecError as exc:
            fail(f"FAULT_SPEC_INVALID: {exc}",
                 "Write faults as [N=]KIND[@STEP], e.g. 2=drop@keygen (station sim --help).", code=EXIT_USAGE)
        except KeyboardInterrupt:
            click.echo("\nstopped", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:
            explained = explain(exc)
            if explained.code == "INTERNAL_ERROR":
                logging.getLogger("station.cli").exception("unexpected error")
            fail(explained.line(), explained.hint)

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



def prompt_passphrase() -> str:
    if not sys.stdin.isatty():
        raise StationError(
            "the claim key is encrypted and no passphrase was given",
            code="CLAIM_KEY_PASSPHRASE_NEEDED",
            hint="Set the environment variable named by [claim] passphrase_env, or run interactively.",
        )
    return click.prompt("Claim key passphrase", hide_input=True)
