"""Exit codes as the README's table says, and errors a script can read (``--json``)."""

from __future__ import annotations

import json
import signal

from cli_helpers import Running, attempts, station

from records import Records


def test_a_port_that_cannot_be_opened_exits_3_and_is_not_an_attempt(line):
    done = station("provision", "--port", "/dev/no-such-port", cwd=line)

    assert done.code == 3, done
    assert "error: PORT_UNAVAILABLE" in done.err
    assert attempts(line) == []


def test_run_once_on_ports_that_cannot_be_opened_exits_3_saying_why(line):
    done = station("run", "--once", "--ports", "/dev/no-such-port", cwd=line)

    assert done.code == 3, done
    assert "PORT_UNAVAILABLE" in done.err
    assert attempts(line) == []


def test_run_into_an_unknown_batch_fails_like_provision(line, boards):
    [board] = boards(1)

    done = station("run", "--once", "--ports", board.port, "--batch", "NOPE", cwd=line)

    assert done.code == 3, done
    assert "error: BATCH_NOT_FOUND" in done.err
    assert board.requests_seen == []


def test_run_into_a_closed_batch_fails_like_provision(line, boards):
    with Records(line / "station.sqlite") as records:
        records.close_batch("B1", "tester")
    [board] = boards(1)

    done = station("run", "--once", "--ports", board.port, "--batch", "B1", cwd=line)

    assert done.code == 3, done
    assert "error: BATCH_CLOSED" in done.err


def test_an_error_with_json_is_json_on_stdout(line):
    done = station("show", "NOPE", "--json", cwd=line)

    assert done.code == 3
    assert json.loads(done.out) == {"error": {
        "code": "SERIAL_UNKNOWN", "message": "serial 'NOPE' is unknown to this station",
        "hint": "Check the serial (station units --search PART lists close matches).", "exit_code": 3,
    }}


def test_run_json_into_an_unknown_batch_is_a_json_error_not_an_empty_list(line):
    done = station("run", "--once", "--ports", "/dev/null", "--batch", "NOPE", "--json", cwd=line)

    assert json.loads(done.out)["error"]["code"] == "BATCH_NOT_FOUND"


def test_a_bad_fault_is_a_usage_error_said_like_every_other(tmp_path):
    done = station("demo", "--fault", "2=no-such-fault", cwd=tmp_path)

    assert done.code == 2, done
    assert done.err.startswith("error: FAULT_SPEC_INVALID")


def test_a_continuous_run_that_saw_a_fail_exits_1(line, boards):
    [board] = boards(1, faults={0: ["wrong-cn"]})
    run = Running("run", "--ports", board.port, cwd=line)

    run.wait_for("FAIL CSR_CN_MISMATCH")
    run.signal(signal.SIGINT)

    assert run.wait() == 1


def test_a_continuous_run_where_every_board_passed_exits_0(line, boards):
    [board] = boards(1)
    run = Running("run", "--ports", board.port, cwd=line)

    run.wait_for("PASS")
    run.signal(signal.SIGINT)

    assert run.wait() == 0


def test_a_board_refused_for_its_label_keeps_its_serial(line, boards):
    [board] = boards(1)

    done = station("provision", "--port", board.port, "--label", "SIM999999", cwd=line)

    assert done.code == 1
    assert "SERIAL_LABEL_MISMATCH" in done.out
    [attempt] = attempts(line)
    assert attempt.serial == board.serial
    assert station("show", board.serial, cwd=line).code == 0


def test_a_sync_that_finds_another_sync_running_answers_json_on_stdout(line):
    from station.config import load_config
    from station.locks import FileLock, lock_path

    ini = line / "station.ini"
    with open(ini, "a", encoding="utf-8") as handle:
        handle.write("\n[cloud]\ntable = t\nregion = us-east-1\nendpoint_url = http://127.0.0.1:9\n")
    with FileLock(lock_path(load_config(ini), "sync"), purpose="syncing"):
        done = station("sync", "--json", cwd=line)

    assert done.code == 5, done
    assert json.loads(done.out)["error"]["code"] == "LOCK_BUSY"
