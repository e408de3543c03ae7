"""What every ``station`` command shares: the command group, the per-invocation context,
error handling (one line and an exit code, never a traceback), JSON output and exit codes.

Exit codes: 0 success (every board PASS), 1 at least one board FAILed, 2 usage error,
3 the station could not do what was asked (config, claim credentials, database, port...),
4 a sync did not complete, 5 another sync is running (see ``station sync``)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import getpass
import importlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import click

from station.errors import StationError, explain

if TYPE_CHECKING:
    from station.context import Station

EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_ERROR = 3
EXIT_INTERRUPTED = 130

STATION_SIDE_CODES = frozenset({
    "PORT_UNAVAILABLE", "LABEL_REQUIRED", "WRONG_DRIVER", "DB_FULL", "DB_READ_ONLY", "DB_IO_ERROR", "DB_LOCKED", "DB_CORRUPT",
})
"""FAIL codes that are the station's mistake, not the board's: a command that meets one
exits 3 (the station could not do it), not 1."""

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(func: F) -> F:
    """Turn every expected error into one clear line and an exit code, never a traceback.

    A command called with ``--json`` also gets the error as JSON on stdout
    (:func:`error_json`), so a script never reads an empty answer."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            click.echo("\nstopped", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:
            if type(exc).__name__ == "FaultSpecError":
                fail(f"FAULT_SPEC_INVALID: {exc}",
                     "Write faults as [N=]KIND[@STEP], e.g. 2=drop@keygen (station sim --help).", code=EXIT_USAGE)
            explained = explain(exc)
            if explained.code == "INTERNAL_ERROR" and logging.getLogger().handlers:
                logging.getLogger("station.cli").exception("unexpected error")
            fail(explained.line(), explained.hint)

    return wrapper  # type: ignore[return-value]


def wants_json() -> bool:
    """Whether the running command was given ``--json``."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.params.get("as_json"))


def error_json(code: str, message: str, hint: str | None, exit_code: int) -> dict[str, Any]:
    """The one shape of an error on stdout for ``--json`` callers."""
    return {"error": {"code": code, "message": message, "hint": hint, "exit_code": exit_code}}


def fail(message: str, hint: str | None, code: int = EXIT_ERROR) -> None:
    """Print ``error: CODE: message`` and the hint on stderr (and JSON on stdout with ``--json``), exit ``code``."""
    if wants_json():
        error_code, _, text = message.partition(": ")
        if not text or not error_code.replace("_", "").isalnum() or error_code.upper() != error_code:
            error_code, text = "ERROR", message
        emit_json(error_json(error_code, text, hint, code))
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

    def station(self, *, read_only: bool = False) -> Station:
        """The station, opened on first use; ``read_only`` for commands that only look
        (no database or log folder is created for them)."""
        if self._station is None:
            from station.context import open_station

            self._station = open_station(self.config_path, read_only=read_only)
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
    """Every command also takes ``--config``, so ``station provision --config X`` works too.

    A command can be known by the module that defines it (:attr:`lazy_commands`, name to
    module) and is then imported only when it is asked for: ``station units`` does not pay
    for the sync, the cloud or the app's commands at start; ``station --help`` lists them all.
    """

    group_class = type

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, str] = {}

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        _accept_config_option(cmd)
        super().add_command(cmd, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            importlib.import_module(self.lazy_commands[cmd_name])  # it adds its commands to the group
        return super().get_command(ctx, cmd_name)


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


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: the service is being stopped or the terminal is gone, so there is
    no waiting for running boards; they are recorded as aborted at once."""


def _interrupt(signum: int, frame: object) -> None:
    raise Terminated(f"signal {signum}")


@contextlib.contextmanager
def stopping_on_signals() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP (a service stopped, a terminal closed) raise
    :class:`Terminated`, a KeyboardInterrupt: the command stops cleanly and running attempts
    are recorded as aborted (:meth:`Station.close`). The earlier handlers are put back on
    the way out."""
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGHUP"):
            number = getattr(signal, name, None)
            if number is not None:
                previous[number] = signal.signal(number, _interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)



def prompt_passphrase() -> str:
    if not sys.stdin.isatty():
        raise StationError(
            "the claim key is encrypted and no passphrase was given",
            code="CLAIM_KEY_PASSPHRASE_NEEDED",
            hint="Set the environment variable named by [claim] passphrase_env, or run interactively.",
        )
    return click.prompt("Claim key passphrase", hide_input=True)


def read_secret_line(prompt: str, from_stdin: bool, *, how: str) -> str:
    """A PIN or passphrase: the first line of standard input with ``from_stdin``, else asked
    without echo on a terminal; without either, an error that says ``how`` to give it."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise StationError(f"{prompt} is needed and there is no terminal to ask on", code="PIN_NEEDED", hint=how)
    return click.prompt(prompt, hide_input=True)


def check_supervisor(records: Any, name: str, pin_stdin: bool) -> str:
    """The supervisor ``name`` after their PIN was checked (``records.check_pin``), as the
    app does for every override; raises ``SUPERVISOR_PIN_WRONG`` otherwise."""
    pin = read_secret_line(f"PIN of supervisor {name}", pin_stdin,
                           how="Pass --pin-stdin and give the supervisor's PIN on the first line of standard input.")
    user = records.check_pin(name, pin)
    if user is None or user.role != "supervisor":
        raise StationError(
            f"{name!r} is not a supervisor, or the PIN is wrong",
            code="SUPERVISOR_PIN_WRONG",
            hint="A supervisor gives their own name (--by NAME) and PIN; `station user add NAME --role supervisor` "
            "sets one up.",
        )
    return user.name
