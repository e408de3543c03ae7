"""Attempts: every try is kept, from start to pass, fail or abort."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import records as records_package
from records import (
    AttemptNotFound,
    AttemptNotOpen,
    BatchClosed,
    BatchNotFound,
    Records,
    StepTiming,
)

STEPS = [
    StepTiming("read_serial", "2026-11-22T10:00:00.000Z", 12.5, True),
    StepTiming(
        "write_claim",
        "2026-11-22T10:00:00.013Z",
        800.0,
        False,
        retries=2,
        error_code="READBACK_MISMATCH",
    ),
]


def start(records, batch="B1", **overrides):
    arguments = dict(
        port="COM3", station_id="ST-01", operator="alice", driver="reference", batch=batch
    )
    arguments.update(overrides)
    return records.start_attempt(**arguments)


def test_a_started_attempt_is_running(records, batch):
    attempt_id = start(records, label="slot 3")
    attempt = records.get_attempt(attempt_id)
    assert attempt.result == "running"
    assert (attempt.port, attempt.station_id, attempt.operator, attempt.driver) == (
        "COM3",
        "ST-01",
        "alice",
        "reference",
    )
    assert attempt.batch == "B1" and attempt.label == "slot 3"
    assert attempt.serial is None and attempt.finished_at is None
    assert attempt.started_at.endswith("Z")
    assert attempt.steps == ()


def test_an_attempt_may_start_without_a_batch(records):
    attempt = records.get_attempt(start(records, batch=None))
    assert attempt.batch is None


def test_an_attempt_cannot_start_in_an_unknown_batch(records):
    with pytest.raises(BatchNotFound):
        start(records, batch="nope")
    assert records.attempts() == []


def test_an_attempt_cannot_start_in_a_closed_batch(records, batch):
    records.close_batch(batch, actor="bob")
    with pytest.raises(BatchClosed):
        start(records)
    assert records.attempts() == []


def test_the_serial_is_set_on_a_running_attempt(records, batch):
    attempt_id = start(records)
    records.set_attempt_serial(attempt_id, "SN1")
    assert records.get_attempt(attempt_id).serial == "SN1"


def test_a_failed_attempt_keeps_its_error_hint_and_steps(records, batch):
    attempt_id = start(records)
    records.set_attempt_serial(attempt_id, "SN1")
    key = hashlib.sha256(b"k").hexdigest()
    attempt = records.finish_attempt_fail(
        attempt_id,
        error_code="READBACK_MISMATCH",
        error_detail="claim cert digest differs after write",
        hint="Re-seat the board and try again.",
        steps=STEPS,
        device_key_sha256=key,
    )
    assert attempt == records.get_attempt(attempt_id)
    assert attempt.result == "fail"
    assert attempt.error_code == "READBACK_MISMATCH"
    assert attempt.error_detail == "claim cert digest differs after write"
    assert attempt.hint == "Re-seat the board and try again."
    assert attempt.steps == tuple(STEPS)
    assert attempt.device_key_sha256 == key
    assert attempt.finished_at > attempt.started_at


def test_a_failed_attempt_never_creates_a_unit(records, batch):
    attempt_id = start(records)
    records.set_attempt_serial(attempt_id, "SN1")
    records.finish_attempt_fail(attempt_id, error_code="X", error_detail="d", hint="h", steps=[])
    assert records.get_unit("SN1") is None
    assert records.count_units() == 0


def test_a_finished_attempt_cannot_be_finished_or_changed_again(records, batch):
    attempt_id = start(records)
    records.finish_attempt_fail(attempt_id, error_code="X", error_detail="d", hint="h", steps=[])
    with pytest.raises(AttemptNotOpen) as raised:
        records.finish_attempt_fail(
            attempt_id, error_code="Y", error_detail="d", hint="h", steps=[]
        )
    assert raised.value.code == "ATTEMPT_NOT_OPEN"
    with pytest.raises(AttemptNotOpen):
        records.set_attempt_serial(attempt_id, "SN1")
    assert records.get_attempt(attempt_id).error_code == "X"


def test_finishing_an_unknown_attempt_raises_attempt_not_open(records):
    with pytest.raises(AttemptNotOpen, match="no attempt 42"):
        records.finish_attempt_fail(42, error_code="X", error_detail="d", hint="h", steps=[])


def test_getting_an_unknown_attempt_raises_attempt_not_found(records):
    with pytest.raises(AttemptNotFound):
        records.get_attempt(42)


def test_a_reprovision_override_is_kept_on_the_attempt_and_audited(records, batch):
    attempt_id = start(records)
    records.set_attempt_serial(attempt_id, "SN1")
    records.set_attempt_reprovision(attempt_id, by="carol", reason="RMA 1234: new flash")
    attempt = records.get_attempt(attempt_id)
    assert (attempt.reprovision_by, attempt.reprovision_reason) == ("carol", "RMA 1234: new flash")
    [entry] = records.audit_entries(subject="SN1")
    assert (entry.action, entry.actor) == ("unit.reprovision_override", "carol")
    assert entry.details["reason"] == "RMA 1234: new flash"
    assert entry.details["attempt_id"] == attempt_id


def test_attempts_are_listed_newest_first_and_filtered(records, batch):
    records.open_batch("B2", "sensor-v2", 10, actor="alice")
    first = start(records)
    records.set_attempt_serial(first, "SN1")
    second = start(records, batch="B2")
    records.set_attempt_serial(second, "SN2")
    third = start(records)
    records.set_attempt_serial(third, "SN1")

    assert [a.id for a in records.attempts()] == [third, second, first]
    assert [a.id for a in records.attempts(serial="SN1")] == [third, first]
    assert [a.id for a in records.attempts(batch="B2")] == [second]
    assert [a.id for a in records.attempts(limit=2)] == [third, second]


def test_running_attempts_are_aborted_after_the_station_restarts(db_path, clock):
    with Records(db_path, now=clock) as first_run:
        first_run.open_batch("B1", "sensor-v2", 10, actor="alice")
        running = first_run.start_attempt(
            port="COM3", station_id="ST-01", operator="alice", driver="reference", batch="B1"
        )
        done = first_run.start_attempt(
            port="COM4", station_id="ST-01", operator="alice", driver="reference", batch="B1"
        )
        first_run.finish_attempt_fail(done, error_code="X", error_detail="d", hint="h", steps=[])
        # the station goes away without finishing `running`

    with Records(db_path, now=clock) as second_run:
        assert second_run.abort_open_attempts() == 1
        aborted = second_run.get_attempt(running)
        assert aborted.result == "aborted"
        assert aborted.error_code == "ATTEMPT_ABORTED"
        assert aborted.error_detail == "station restarted while this attempt was running"
        assert aborted.hint
        assert aborted.finished_at is not None
        assert second_run.get_attempt(done).result == "fail"
        assert second_run.abort_open_attempts() == 0


def test_an_attempt_cut_short_by_a_killed_process_is_aborted_on_the_next_start(db_path):
    repo_root = Path(records_package.__file__).resolve().parent.parent
    script = (
        "import os, sys\n"
        "from records import Records\n"
        "r = Records(sys.argv[1])\n"
        "r.open_batch('B1', 'sensor-v2', 10, actor='alice')\n"
        "a = r.start_attempt(port='COM3', station_id='ST-01', operator='alice',"
        " driver='reference', batch='B1')\n"
        "r.set_attempt_serial(a, 'SN1')\n"
        "os._exit(1)  # no close, no cleanup: as if the power went\n"
    )
    environment = {**os.environ, "PYTHONPATH": str(repo_root)}
    completed = subprocess.run(
        [sys.executable, "-c", script, str(db_path)],
        env=environment,
        capture_output=True,
        timeout=60,
    )
    assert completed.returncode == 1, completed.stderr.decode()

    with Records(db_path) as restarted:
        assert restarted.abort_open_attempts(reason="power cut") == 1
        [attempt] = restarted.attempts(serial="SN1")
        assert (attempt.result, attempt.error_detail) == ("aborted", "power cut")
