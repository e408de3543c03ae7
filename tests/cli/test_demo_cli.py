"""``station demo``: options checked before any board runs, the folder left as the demo ran,
the README's fault examples end as expected, Ctrl-C records aborted boards."""

from __future__ import annotations

import signal
from dataclasses import dataclass

from cli_helpers import Running, station, wait_until

from records import Records
from station.config import load_config
from station.demo.line import ended_as_expected


def test_an_endpoint_url_that_is_no_url_is_refused_before_anything_is_written(tmp_path):
    done = station("demo", "--endpoint-url", "notaurl", cwd=tmp_path)

    assert done.code == 3
    assert "SYNC_ENDPOINT_INVALID" in done.err
    assert list(tmp_path.iterdir()) == []


def test_an_endpoint_url_where_nothing_answers_is_refused_before_any_board_runs(tmp_path):
    done = station("demo", "--endpoint-url", "http://127.0.0.1:9", cwd=tmp_path)

    assert done.code == 3
    assert "DEMO_ENDPOINT_UNREACHABLE" in done.err
    assert list(tmp_path.iterdir()) == []


def test_the_demo_leaves_the_driver_it_ran_in_station_ini(tmp_path):
    station("demo", "--driver", "nrf91", "--boards", "1", "--keygen-ms", "10", cwd=tmp_path, timeout=120)

    assert load_config(tmp_path / "station.ini").driver == "nrf91"


@dataclass
class _Result:
    passed: bool
    code: str | None = None


def test_one_reuse_key_board_alone_passes_as_expected():
    assert ended_as_expected([_Result(True), _Result(True)], {1: ["reuse-key"]})


def test_of_two_reuse_key_boards_one_fails_with_a_repeated_key_as_expected():
    results = [_Result(True), _Result(False, "DEVICE_KEY_REPEATED")]

    assert ended_as_expected(results, {0: ["reuse-key"], 1: ["reuse-key"]})


def test_two_reuse_key_boards_that_both_pass_are_unexpected():
    assert not ended_as_expected([_Result(True), _Result(True)], {0: ["reuse-key"], 1: ["reuse-key"]})


def test_ctrl_c_during_the_demo_records_the_running_boards_as_aborted(tmp_path):
    run = Running("demo", "--boards", "2", "--keygen-ms", "30000", cwd=tmp_path)
    database = tmp_path / "station.sqlite"

    def running() -> bool:
        if not database.exists():
            return False
        with Records(database) as records:
            return len([a for a in records.attempts() if a.result == "running"]) == 2

    assert wait_until(running, timeout=60), run.seen
    run.signal(signal.SIGINT)
    run.wait(timeout=20)

    with Records(database) as records:
        assert {a.result for a in records.attempts()} == {"aborted"}
