"""A station process killed between steps: nothing is finished by accident, and the next
process that takes the line marks the attempt aborted (docs/architecture.md: "Every attempt is
kept (started, finished or aborted), so a crash mid-board is visible after restart").

The station runs as a real ``station provision`` process against a simulated board (in
this process) whose key generation takes 5 s; it is SIGKILLed while the board generates
its key, i.e. after install_claim and verify and before anything is recorded as a PASS.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from integration_harness import (
    clean_env,
    make_station_folder,
    open_batch,
    run_station,
    station_command,
)

from flashing.protocol import Command
from flashing.sim import SimulatedBoard
from records import Attempt
from station.context import open_station
from station.locks import lock_path

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL, flock and ptys are POSIX-only")

KEYGEN_MS = 5000


@dataclass(frozen=True)
class Crash:
    folder: Path
    ini: Path
    serial: str
    pid: int
    returncode: int
    attempts_after_kill: list[dict]
    units_after_kill: int
    lock_text_after_kill: str
    stderr: str


@dataclass(frozen=True)
class Restart:
    aborted: int
    attempt: Attempt
    units: int
    lock_text_while_held: str
    audit_verify_returncode: int
    audit_verify_output: str


def read_only(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)
    conn.row_factory = sqlite3.Row
    return conn


def running_attempts(db: Path) -> list[dict]:
    try:
        with read_only(db) as conn:
            return [dict(r) for r in conn.execute("SELECT * FROM attempts WHERE result = 'running'")]
    except sqlite3.Error:
        return []  # not created yet, or mid-migration


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> Crash:
    folder = tmp_path_factory.mktemp("crash") / "station"
    # answer_seconds must outlast the simulator's 0.5 s between PROGRESS frames.
    ini = make_station_folder(folder, answer_seconds="1.0")
    open_batch(folder, "B1")
    db = folder / "station.sqlite"
    board = SimulatedBoard("SIM000001", keygen_ms=KEYGEN_MS).start()
    process = subprocess.Popen(
        [*station_command(), "--config", str(ini), "provision", "--port", board.port, "--batch", "B1"],
        cwd=folder,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if Command.KEYGEN in board.requests_seen and any(a["serial"] for a in running_attempts(db)):
                break
            if process.poll() is not None:
                pytest.fail(f"station provision ended before the kill: {process.communicate()}")
            time.sleep(0.05)
        else:
            pytest.fail("the board never got KEYGEN")
        assert Command.COMMIT not in board.requests_seen
        os.kill(process.pid, signal.SIGKILL)
        _, stderr = process.communicate(timeout=10)
        with read_only(db) as conn:
            attempts = [dict(r) for r in conn.execute("SELECT * FROM attempts")]
            units = conn.execute("SELECT count(*) FROM units").fetchone()[0]
        lock_text = lock_path_for(ini).read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        board.unplug()
        board.stop()
    return Crash(folder, ini, board.serial, process.pid, process.returncode, attempts, units, lock_text, stderr)


@pytest.fixture(scope="module")
def restart(crash: Crash) -> Restart:
    with open_station(crash.ini) as station:
        aborted = station.take_line()
        attempt = station.records.get_attempt(crash.attempts_after_kill[0]["id"])
        units = station.records.count_units()
        lock_text = lock_path(station.config, "line").read_text()
    verify = run_station("--config", crash.ini, "audit", "verify", cwd=crash.folder)
    return Restart(aborted, attempt, units, lock_text, verify.returncode, verify.stdout + verify.stderr)


def lock_path_for(ini: Path) -> Path:
    return ini.with_name("station.sqlite.line.lock")


def test_the_station_process_died_of_the_kill(crash):
    assert crash.returncode == -signal.SIGKILL


def test_after_the_kill_the_attempt_is_still_running_and_unfinished(crash):
    assert len(crash.attempts_after_kill) == 1
    attempt = crash.attempts_after_kill[0]
    assert attempt["result"] == "running"
    assert attempt["serial"] == crash.serial
    assert attempt["finished_at"] is None
    assert attempt["error_code"] is None


def test_after_the_kill_there_is_no_unit_row(crash):
    assert crash.units_after_kill == 0


def test_the_killed_process_left_its_pid_in_the_line_lock_file(crash):
    assert crash.lock_text_after_kill.strip() == str(crash.pid)


def test_the_next_process_takes_the_line_despite_the_dead_holders_lock_file(crash, restart):
    assert restart.lock_text_while_held.strip() == str(os.getpid())


def test_taking_the_line_marks_the_crashed_attempt_aborted(restart):
    assert restart.aborted == 1
    assert restart.attempt.result == "aborted"
    assert restart.attempt.error_code == "ATTEMPT_ABORTED"
    assert restart.attempt.hint
    assert restart.attempt.finished_at is not None


def test_an_aborted_attempt_allows_nothing(restart):
    assert restart.units == 0


def test_the_audit_log_still_verifies_after_the_crash(restart):
    assert restart.audit_verify_returncode == 0, restart.audit_verify_output
    assert "audit log OK" in restart.audit_verify_output


def test_the_aborted_board_can_be_provisioned_from_the_start(crash, restart, boards):
    sim = boards(1, first_number=1)[0]
    assert sim.serial == crash.serial

    done = run_station("--config", crash.ini, "provision", "--port", sim.port, "--batch", "B1", cwd=crash.folder)

    assert done.returncode == 0, done
    assert "PASS" in done.stdout
    assert "Traceback" not in done.stderr
