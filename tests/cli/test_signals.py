"""A stopped station leaves no attempt RUNNING: SIGTERM and SIGHUP (a service stop, a
closed terminal) and a second Ctrl-C record the boards still running as aborted."""

from __future__ import annotations

import signal
import time

import pytest
from cli_helpers import Running, attempts, wait_until


def _running(folder) -> bool:
    return any(a.result == "running" for a in attempts(folder))


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_records_running_attempts_as_aborted_at_once(line, boards, number):
    [board] = boards(1, keygen_ms=30_000)
    run = Running("run", "--ports", board.port, cwd=line)
    assert wait_until(lambda: _running(line)), run.seen

    started = time.monotonic()
    run.signal(number)
    run.wait(timeout=15)

    assert time.monotonic() - started < 10
    [attempt] = attempts(line)
    assert attempt.result == "aborted"


def test_a_second_ctrl_c_aborts_the_boards_the_first_one_let_finish(line, boards):
    [board] = boards(1, keygen_ms=30_000)
    run = Running("run", "--ports", board.port, cwd=line)
    assert wait_until(lambda: _running(line)), run.seen

    run.signal(signal.SIGINT)
    run.wait_for("Ctrl-C again aborts")
    run.signal(signal.SIGINT)
    run.wait(timeout=15)

    [attempt] = attempts(line)
    assert attempt.result == "aborted", (attempt, run.seen)


def test_sigterm_during_provision_of_one_board_records_it_aborted(line, boards):
    [board] = boards(1, keygen_ms=30_000)
    run = Running("provision", "--port", board.port, cwd=line)
    assert wait_until(lambda: _running(line)), run.seen

    run.signal(signal.SIGTERM)
    run.wait(timeout=15)

    [attempt] = attempts(line)
    assert attempt.result == "aborted"
