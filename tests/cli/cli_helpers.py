"""The ``station`` command as a real process, for the CLI tests: start it, read its lines,
signal it, wait for it. Boards are simulators on real pseudo-terminals."""

from __future__ import annotations

import configparser
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# ``station`` with Ctrl-C working as on a terminal, even when pytest was started with
# SIGINT ignored (as background jobs are): the same entry point, nothing else.
ENTRY = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from station.cli import main; sys.argv[0] = 'station'; main()"
)


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k != "STATION_CONFIG"}
    out.update(STATION_OPERATOR="tester", PYTHONUNBUFFERED="1", **extra)
    return out


@dataclass(frozen=True)
class Done:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"station {' '.join(self.args)} -> {self.code}\n--stdout--\n{self.out}\n--stderr--\n{self.err}"


def station(*args: str, cwd: Path, stdin: str | None = None, timeout: float = 60) -> Done:
    """Run ``station ARGS`` to its end; the user never sees a traceback."""
    done = subprocess.run([sys.executable, "-c", ENTRY, *args], cwd=cwd, env=env(), input=stdin,
                          capture_output=True, text=True, timeout=timeout, check=False,
                          stdin=None if stdin is not None else subprocess.DEVNULL)
    result = Done(args, done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in result.err + result.out, result
    return result


class Running:
    """A long-running ``station`` process whose stdout and stderr lines are read as they come."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.args = args
        self.popen = subprocess.Popen([sys.executable, "-c", ENTRY, *args], cwd=cwd, env=env(),
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        for stream in (self.popen.stdout, self.popen.stderr):
            threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} from station {' '.join(self.args)}; got {self.seen}")

    def signal(self, number: int = signal.SIGINT) -> None:
        self.popen.send_signal(number)

    def wait(self, timeout: float = 20) -> int:
        try:
            return self.popen.wait(timeout=timeout)
        finally:
            self.kill()
            while not self.lines.empty():
                self.seen.append(self.lines.get())
            assert not any("Traceback" in line for line in self.seen), self.seen

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)


def ini_set(ini: Path, section: str, key: str, value: str) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ini, encoding="utf-8")
    if not parser.has_section(section):
        parser.add_section(section)
    parser.set(section, key, value)
    with open(ini, "w", encoding="utf-8") as handle:
        parser.write(handle)


def wait_until(condition: object, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def attempts(folder: Path) -> list:
    """Every attempt recorded in the station folder's database."""
    from records import Records

    with Records(folder / "station.sqlite") as records:
        return records.attempts()
