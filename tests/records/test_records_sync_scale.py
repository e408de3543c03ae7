"""The sync backlog check stays cheap on a million-unit allow-list with nothing pending."""

import sqlite3
import time

import pytest

from records import Records
from records.db import COUNT_PENDING_SYNC_SQL, PENDING_SYNC_SQL

UNITS = 1_000_000


@pytest.fixture(scope="module")
def million_units(tmp_path_factory):
    """A real station database holding a million synced units. Built by SQLite itself in
    serial order with short placeholder values, bypassing Records: only the number of rows
    and the schema matter here, and this way it takes seconds."""
    path = tmp_path_factory.mktemp("scale") / "station.sqlite"
    Records(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")  # a scratch file: no WAL copy of 150 MB
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO batches VALUES ('B1', 'sensor-v2', ?, '2026-01-01T00:00:00.000Z', 'x', NULL, NULL)",
            [UNITS],
        )
        conn.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO units
            SELECT 'SN' || i, 'B1', 'sensor-v2', 'allowed', 'key' || i, 'claim', 'ST-01', 'op',
                   'T', 'T', 1, 1, NULL, 'T'
            FROM n
            """,
            [UNITS, 2 * UNITS - 1],
        )
        conn.execute("COMMIT")
    finally:
        conn.close()
    return path


def plan_of(path, sql, params=()):
    conn = sqlite3.connect(path)
    try:
        return " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
    finally:
        conn.close()


def test_the_backlog_queries_use_the_partial_index_on_a_million_units(million_units):
    assert "SCAN units USING INDEX units_pending_sync" in plan_of(
        million_units, PENDING_SYNC_SQL, [1000]
    )
    assert "USING INDEX units_pending_sync" in plan_of(million_units, COUNT_PENDING_SYNC_SQL)


def test_the_backlog_queries_still_use_the_partial_index_after_analyze(million_units):
    conn = sqlite3.connect(million_units, isolation_level=None)
    try:
        conn.execute("PRAGMA analysis_limit = 1000")
        conn.execute("BEGIN")
        conn.execute("ANALYZE")  # statistics change the planner's choices; rolled back below
        plan = " ".join(
            row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + PENDING_SYNC_SQL, [1000])
        )
        conn.execute("ROLLBACK")
    finally:
        conn.close()
    assert "USING INDEX units_pending_sync" in plan


def test_an_empty_backlog_on_a_million_units_is_answered_at_once(million_units):
    with Records(million_units) as records:
        assert records.count_units() == UNITS
        started = time.perf_counter()
        assert records.pending_sync() == []
        assert records.count_pending_sync() == 0
        elapsed = time.perf_counter() - started
    assert elapsed < 1.0  # generous: it is microseconds; a table scan would take far longer


def test_a_small_backlog_on_a_million_units_is_found(million_units):
    with Records(million_units) as records:
        try:
            records.revoke("SN1500000", actor="carol", reason="lost")
            assert [u.serial for u in records.pending_sync()] == ["SN1500000"]
            assert records.count_pending_sync() == 1
        finally:
            records.mark_synced([("SN1500000", 2)])
    with Records(million_units) as records:
        assert records.count_pending_sync() == 0
