"""Shared helpers for the integration tests: the station as a real process, small ini edits.

Everything here drives the real code: simulated boards on real pseudo-terminals, the
station's own driver over pyserial, the real SQLite file. Nothing is mocked.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result

from records import Records
from station.cli import main as station_main
from station.demo.line import prepare_folder

FAST_TIMEOUTS = {
    "answer_seconds": "0.3",
    "retries": "2",
    "step_retries": "1",
    "step_seconds": "20",
}

SUBPROCESS_TIMEOUT = 60


def station_command() -> list[str]:
    """The installed ``station`` console script, else ``python -m station``."""
    script = Path(sys.executable).with_name("station")
    if script.exists():
        return [str(script)]
    found = shutil.which("station")
    return [found] if found else [sys.executable, "-m", "station"]


def clean_env(**extra: str | None) -> dict[str, str]:
    """The test process's environment without STATION_CONFIG, plus ``extra`` (None removes)."""
    env = {k: v for k, v in os.environ.items() if k != "STATION_CONFIG"}
    env["STATION_OPERATOR"] = "tester"
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@dataclass(frozen=True)
class Run:
    """One finished ``station`` process."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:  # shown by pytest when an assertion about a run fails
        return f"station {' '.join(self.args)} -> {self.returncode}\n--stdout--\n{self.stdout}\n--stderr--\n{self.stderr}"


def run_station(
    *args: str | os.PathLike[str],
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = SUBPROCESS_TIMEOUT,
) -> Run:
    """Run ``station ARGS`` as a real process in ``cwd`` and wait for it (never a traceback)."""
    argv = [str(a) for a in args]
    done = subprocess.run(
        [*station_command(), *argv],
        cwd=cwd,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    run = Run(tuple(argv), done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in run.stderr, f"the user saw a traceback:\n{run}"
    return run


def invoke(*args: str | os.PathLike[str], env: dict[str, str | None] | None = None, input: str | None = None) -> Result:
    """Run ``station ARGS`` in this process with click's runner (cwd: the current one).

    Whatever the command does, no exception may escape it and no traceback may be printed.
    """
    runner = CliRunner()
    merged: dict[str, str | None] = {"STATION_CONFIG": None, "STATION_OPERATOR": "tester"}
    merged.update(env or {})
    result = runner.invoke(station_main, [str(a) for a in args], env=merged, catch_exceptions=True, input=input)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"station {' '.join(map(str, args))} raised {result.exception!r}:\n{result.output}"
    )
    assert "Traceback" not in result.stderr, result.output
    return result


def assert_no_traceback(result: Result | Run) -> None:
    """The user never sees a Python traceback, and no exception escaped the command."""
    if isinstance(result, Result):
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"the command raised {result.exception!r}"
        )
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout


def ini_set(ini: Path, section: str, key: str, value: str | None) -> None:
    """Set (or, with None, remove) one key of a station.ini."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ini, encoding="utf-8")
    if value is None:
        parser.remove_option(section, key)
    else:
        if not parser.has_section(section):
            parser.add_section(section)
        parser.set(section, key, value)
    with open(ini, "w", encoding="utf-8") as handle:
        parser.write(handle)


def make_station_folder(folder: Path, **timeouts: str) -> Path:
    """A demo station folder like the ``station_folder`` fixture's; returns its station.ini."""
    ini = prepare_folder(folder)
    for key, value in {**FAST_TIMEOUTS, **timeouts}.items():
        ini_set(ini, "timeouts", key, value)
    return ini


def open_batch(folder: Path, batch: str = "B1", product: str = "GW") -> None:
    """Open a batch in the folder's database without holding the line afterwards."""
    with Records(folder / "station.sqlite") as records:
        records.open_batch(batch, product, 100, "tester")

