"""``batch_serials``, the tally of every batch's serials, is always what grouping the
attempts gives: whatever attempts are started, named, passed, failed, moved to another batch
at PASS or aborted, and when an older database is brought up to date."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from older_schema import take_back_to

from records import Records, RecordsError, StepTiming
from records.schema import FIRST_FINISHED

STEPS = [StepTiming(name="read_serial", started_at="2026-11-22T10:00:00.000Z", duration_ms=1.0, ok=True)]

GROUPED = f"""
SELECT batch, serial, count(*), sum(result = 'pass'), sum(result = 'running'),
       min(id * 2 + (result = 'pass')) % 2, max(id), {FIRST_FINISHED}
FROM attempts WHERE batch IS NOT NULL AND serial IS NOT NULL
GROUP BY batch, serial ORDER BY batch, serial
"""
TALLY = "SELECT * FROM batch_serials ORDER BY batch, serial"

SERIALS = st.sampled_from(["SN1", "SN2", "SN3"])
BATCHES = st.sampled_from(["B1", "B2"])
ENDINGS = st.sampled_from(["pass", "fail", "running", "abort-all"])
# (batch the attempt starts in or None, serial read or None, how it ends, batch it passes into
# when it started without one)
ATTEMPTS = st.lists(st.tuples(st.none() | BATCHES, st.none() | SERIALS, ENDINGS, BATCHES), max_size=12)


def fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def tally_and_grouping(path: Path) -> tuple[list[tuple], list[tuple]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(TALLY).fetchall(), conn.execute(GROUPED).fetchall()


@given(ATTEMPTS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_tally_is_the_grouping_of_the_attempts_after_any_history(tmp_path_factory, attempts):
    path = tmp_path_factory.mktemp("tally") / "station.sqlite"
    with Records(path) as records:
        records.open_batch("B1", "sensor-v2", 10, "qa")
        records.open_batch("B2", "sensor-v2", 10, "qa")
        for number, (batch, serial, ending, pass_batch) in enumerate(attempts):
            attempt_id = records.start_attempt(port="COM1", station_id="ST", operator="op", driver="agent",
                                               batch=batch)
            if serial is not None:
                records.set_attempt_serial(attempt_id, serial)
            if ending == "pass" and serial is not None:
                try:
                    records.finish_attempt_pass(
                        attempt_id, serial=serial, batch=batch or pass_batch, product="sensor-v2",
                        device_key_sha256=fingerprint(f"key {number}"), claim_cert_sha256=fingerprint("claim"),
                        station_id="ST", operator="op", steps=STEPS)
                except RecordsError:
                    records.finish_attempt_fail(attempt_id, error_code="X", error_detail="x", hint="", steps=[])
            elif ending in ("pass", "fail"):
                records.finish_attempt_fail(attempt_id, error_code="X", error_detail="x", hint="", steps=[])
            elif ending == "abort-all":
                records.abort_open_attempts()

    tally, grouping = tally_and_grouping(path)

    assert tally == grouping


def test_an_attempt_that_started_outside_a_batch_is_tallied_in_the_batch_it_passes_in(records, db_path):
    records.open_batch("B2", "sensor-v2", 10, "qa")
    attempt_id = records.start_attempt(port="COM1", station_id="ST", operator="op", driver="agent", batch=None)
    records.set_attempt_serial(attempt_id, "SN1")

    records.finish_attempt_pass(attempt_id, serial="SN1", batch="B2", product="sensor-v2",
                                device_key_sha256=fingerprint("k"), claim_cert_sha256=fingerprint("c"),
                                station_id="ST", operator="op", steps=STEPS)

    tally, _ = tally_and_grouping(db_path)
    assert tally == [("B2", "SN1", 1, 1, 0, 1, attempt_id, attempt_id * 2 + 1)]


def test_a_database_from_before_the_tally_gets_it_filled_when_opened(records, db_path, provision):
    provision("SN1")
    provision("SN2")
    attempt_id = records.start_attempt(port="COM1", station_id="ST", operator="op", driver="agent", batch="B1")
    records.set_attempt_serial(attempt_id, "SN3")
    records.close()
    take_back_to(db_path, 3)

    Records(db_path).close()

    tally, grouping = tally_and_grouping(db_path)
    assert tally == grouping and len(tally) == 3


def test_a_database_from_before_the_first_finished_attempt_gets_it_when_opened(records, db_path, provision):
    failed = records.start_attempt(port="COM1", station_id="ST", operator="op", driver="agent", batch="B1")
    records.set_attempt_serial(failed, "SN1")
    records.finish_attempt_fail(failed, error_code="X", error_detail="x", hint="", steps=[])
    provision("SN1")
    provision("SN2")
    records.close()
    take_back_to(db_path, 6)

    Records(db_path).close()

    tally, grouping = tally_and_grouping(db_path)
    assert tally == grouping
    assert [row[7] % 2 for row in tally] == [0, 1]  # SN1 failed first, SN2 passed first
