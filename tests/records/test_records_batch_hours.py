"""``batch_hours``, the tally of every batch's attempts by hour, result and whether they read
a serial, is always what grouping the attempts gives: after any inserts, updates and deletes
(through the ``Records`` API or plain SQL), and when an older database is brought up to date."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from older_schema import take_back_to

from records import Records
from records.schema import HOUR_OF_ATTEMPT

HOUR = HOUR_OF_ATTEMPT.format(row="")
GROUPED = f"""
SELECT batch, {HOUR}, result, serial IS NULL, count(*), min(started_at),
       max(coalesce(finished_at, started_at)), min(finished_at), max(finished_at)
FROM attempts WHERE batch IS NOT NULL
GROUP BY batch, {HOUR}, result, serial IS NULL ORDER BY 1, 2, 3, 4
"""
TALLY = "SELECT * FROM batch_hours ORDER BY batch, hour, result, without_serial"

BATCHES = st.sampled_from(["B1", "B2", None])
SERIALS = st.sampled_from(["SN1", "SN2", None])
RESULTS = st.sampled_from(["running", "pass", "fail", "aborted"])
# a few hours, a time of no hour ('' and short text a tampered row could hold) and none at all
TIMES = st.sampled_from(["2026-11-02T06:10:00Z", "2026-11-02T06:50:00Z", "2026-11-02T07:05:00Z",
                         "2026-11-03T00:00:00Z", "", "x", None])
ROW = st.fixed_dictionaries({"batch": BATCHES, "serial": SERIALS, "result": RESULTS,
                             "started_at": TIMES.filter(lambda t: t is not None), "finished_at": TIMES})
COLUMN_CHANGES = st.sampled_from(["batch", "serial", "result", "started_at", "finished_at"]).flatmap(
    lambda column: st.tuples(st.just(column), {"batch": BATCHES, "serial": SERIALS, "result": RESULTS,
                                               "started_at": TIMES.filter(lambda t: t is not None),
                                               "finished_at": TIMES}[column]))
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), ROW),
        st.tuples(st.just("update"), st.integers(0, 8), st.lists(COLUMN_CHANGES, min_size=1, max_size=3)),
        st.tuples(st.just("delete"), st.integers(0, 8)),
    ),
    max_size=25,
)


def tally_and_grouping(path: Path) -> tuple[list[tuple], list[tuple]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(TALLY).fetchall(), conn.execute(GROUPED).fetchall()


def run_sql(path: Path, operations: list) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys = OFF")  # batches need not exist: the SQL is the test
        for operation in operations:
            ids = [row[0] for row in conn.execute("SELECT id FROM attempts ORDER BY id")]
            if operation[0] == "insert":
                row = operation[1]
                conn.execute(
                    "INSERT INTO attempts (batch, serial, result, started_at, finished_at, port, station_id, "
                    "operator, driver) VALUES (:batch, :serial, :result, :started_at, :finished_at, 'COM1', "
                    "'ST', 'op', 'agent')", row)
            elif ids and operation[0] == "update":
                changes = dict(operation[2])
                assignments = ", ".join(f"{column} = :{column}" for column in changes)
                conn.execute(f"UPDATE attempts SET {assignments} WHERE id = :id",
                             {**changes, "id": ids[operation[1] % len(ids)]})
            elif ids and operation[0] == "delete":
                conn.execute("DELETE FROM attempts WHERE id = ?", [ids[operation[1] % len(ids)]])


@given(OPERATIONS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_hours_tally_is_the_grouping_of_the_attempts_after_any_sql(tmp_path_factory, operations):
    path = tmp_path_factory.mktemp("hours") / "station.sqlite"
    Records(path).close()

    run_sql(path, operations)

    tally, grouping = tally_and_grouping(path)
    assert tally == grouping


def test_the_hours_tally_follows_attempts_through_the_records_api(records, db_path, provision):
    provision("SN1")
    failed = records.start_attempt(port="COM2", station_id="ST", operator="op", driver="agent", batch="B1")
    records.set_attempt_serial(failed, "SN2")
    records.finish_attempt_fail(failed, error_code="X", error_detail="x", hint="", steps=[])
    records.start_attempt(port="COM3", station_id="ST", operator="op", driver="agent", batch="B1")

    tally, grouping = tally_and_grouping(db_path)

    assert tally == grouping
    assert sorted((result, attempts) for _, _, result, _, attempts, *_ in tally) == [
        ("fail", 1), ("pass", 1), ("running", 1)]


def test_a_database_from_before_the_hours_tally_gets_it_filled_when_opened(records, db_path, provision):
    provision("SN1")
    provision("SN2")
    records.start_attempt(port="COM1", station_id="ST", operator="op", driver="agent", batch="B1")
    records.close()
    take_back_to(db_path, 4)

    Records(db_path).close()

    tally, grouping = tally_and_grouping(db_path)
    assert tally == grouping and sum(row[4] for row in tally) == 3


def test_a_group_an_attempt_leaves_is_counted_again_through_the_hour_index(db_path, records):
    """Not the report index, which holds the whole batch: finishing an attempt recounts only
    the batch's unfinished attempts, whatever the planner would rather do."""
    records.close()
    with sqlite3.connect(db_path) as conn:
        trigger = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'batch_hours_on_update'").fetchone()[0]

    assert "INDEXED BY attempts_by_batch_hour" in trigger
