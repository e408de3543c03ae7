"""Sync bookkeeping: which units the DynamoDB sync must still send, and its run history."""

import sqlite3

from records.db import COUNT_PENDING_SYNC_SQL, PENDING_SYNC_SQL


def pending(records):
    return [(u.serial, u.rev) for u in records.pending_sync()]


def test_a_new_unit_is_pending(records, provision):
    provision("SN1")
    assert pending(records) == [("SN1", 1)]
    assert records.count_pending_sync() == 1


def test_nothing_is_pending_on_an_empty_database(records):
    assert records.pending_sync() == []
    assert records.count_pending_sync() == 0


def test_a_confirmed_unit_is_no_longer_pending(records, provision):
    provision("SN1")
    records.mark_synced([("SN1", 1)])
    assert records.pending_sync() == []
    assert records.get_unit("SN1").synced_rev == 1


def test_a_change_after_a_sync_makes_the_unit_pending_again(records, provision):
    provision("SN1")
    records.mark_synced([("SN1", 1)])
    records.revoke("SN1", actor="carol", reason="r")
    assert pending(records) == [("SN1", 2)]


def test_a_stale_confirmation_leaves_the_newer_change_pending(records, provision):
    provision("SN1")
    records.revoke("SN1", actor="carol", reason="r")  # rev 2 while the sync was sending rev 1
    records.mark_synced([("SN1", 1)])
    assert pending(records) == [("SN1", 2)]
    assert records.get_unit("SN1").synced_rev == 1


def test_a_late_confirmation_never_moves_synced_rev_backwards(records, provision):
    provision("SN1")
    records.revoke("SN1", actor="carol", reason="r")
    records.mark_synced([("SN1", 2)])
    records.mark_synced([("SN1", 1)])
    assert records.get_unit("SN1").synced_rev == 2
    assert records.pending_sync() == []


def test_a_confirmation_beyond_the_current_rev_stops_at_the_current_rev(records, provision):
    provision("SN1")
    records.mark_synced([("SN1", 99)])
    assert records.get_unit("SN1").synced_rev == 1
    records.revoke("SN1", actor="carol", reason="r")
    assert pending(records) == [("SN1", 2)]


def test_confirmations_for_unknown_serials_are_ignored(records, provision):
    provision("SN1")
    records.mark_synced([("ghost", 1), ("SN1", 1)])
    assert records.pending_sync() == []


def test_marking_synced_does_not_touch_what_the_unit_says(records, provision):
    unit = provision("SN1")
    records.mark_synced([("SN1", 1)])
    after = records.get_unit("SN1")
    assert (after.rev, after.updated_at, after.status) == (unit.rev, unit.updated_at, unit.status)


def test_pending_units_come_in_serial_order_up_to_the_limit(records, provision):
    for serial in ("SN3", "SN1", "SN2"):
        provision(serial)
    assert [u.serial for u in records.pending_sync(limit=2)] == ["SN1", "SN2"]


def test_the_pending_queries_read_the_partial_index(records, db_path):
    conn = sqlite3.connect(db_path)
    try:
        plan = " ".join(
            row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + PENDING_SYNC_SQL, [1000])
        )
        count_plan = " ".join(
            row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + COUNT_PENDING_SYNC_SQL)
        )
        index_sql = conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'units_pending_sync'"
        ).fetchone()[0]
    finally:
        conn.close()
    assert "USING INDEX units_pending_sync" in plan and "TEMP B-TREE" not in plan
    assert "USING INDEX units_pending_sync" in count_plan
    assert index_sql.endswith("WHERE synced_rev < rev")


def test_there_is_no_sync_run_before_the_first(records):
    assert records.last_sync() is None
    assert records.last_successful_sync() is None


def test_sync_runs_are_kept_and_the_newest_is_reported(records):
    records.record_sync_run(
        started_at="2026-11-22T10:00:00.000Z",
        finished_at="2026-11-22T10:00:01.000Z",
        sent=5,
        unchanged=1,
        conflicts=0,
        failed=0,
        error=None,
    )
    records.record_sync_run(
        started_at="2026-11-22T11:00:00.000Z",
        finished_at="2026-11-22T11:00:30.000Z",
        sent=0,
        unchanged=0,
        conflicts=0,
        failed=3,
        error="endpoint unreachable",
    )
    last = records.last_sync()
    assert {k: last[k] for k in ("started_at", "failed", "error")} == {
        "started_at": "2026-11-22T11:00:00.000Z",
        "failed": 3,
        "error": "endpoint unreachable",
    }
    ok = records.last_successful_sync()
    assert (ok["started_at"], ok["sent"], ok["unchanged"], ok["conflicts"]) == (
        "2026-11-22T10:00:00.000Z",
        5,
        1,
        0,
    )


def test_a_run_with_failed_items_is_not_successful(records):
    records.record_sync_run(
        started_at="2026-11-22T10:00:00.000Z",
        finished_at="2026-11-22T10:00:01.000Z",
        sent=5,
        unchanged=0,
        conflicts=0,
        failed=1,
        error=None,
    )
    assert records.last_successful_sync() is None


def test_sync_conflicts_are_recorded_newest_first(records):
    records.record_sync_conflict("SN1", "cloud has rev 5, station rev 3")
    records.record_sync_conflict("SN2", "cloud item owned by another station")
    conflicts = records.sync_conflicts()
    assert [(c["serial"], c["detail"]) for c in conflicts] == [
        ("SN2", "cloud item owned by another station"),
        ("SN1", "cloud has rev 5, station rev 3"),
    ]
    assert all(c["at"].endswith("Z") for c in conflicts)
