"""Report queries: what QA asks about a batch, answered by SQL aggregates.

:class:`ReportQueries` reads through **its own connection in one read transaction**, so
every figure of a report comes from the same snapshot of the database, and the line keeps
provisioning meanwhile (WAL lets readers and the writer work at the same time; the
:class:`~records.Records` lock is never held while a report is built).

Definitions (all per batch; ``docs/reports.md`` is the user-facing version):

* an **attempt** of the batch is a row of ``attempts`` with ``batch = B``, whatever its
  result; attempts that failed before the board's serial was read have no serial: they
  count as attempts (and in the failure Pareto) but not as units;
* a **unit attempted** is a distinct serial with at least one attempt in the batch;
* a unit **passed** if any of its attempts in the batch passed, **failed** if none did and
  none is running (they ended ``fail`` or ``aborted``), and is **in progress** if none
  passed and one is still ``running``;
* **first pass**: the unit's first attempt in the batch (lowest id) passed;
* **revoked / pending sync / synced** look at the allow-list rows of the batch
  (``units.batch = B``): ``status = 'revoked'``; ``synced_rev < rev``; ``synced_rev >= rev``.

Speed: the per-batch aggregates walk ``attempts_by_batch_report`` (migration 2), an index
that holds every column they need, so they never read the attempts' step timings (about a
kilobyte per attempt). Only the per-step figures read ``steps``; on big batches they use an
evenly spread sample (see :meth:`ReportQueries.step_durations_ms`). Tallies that triggers
keep spare the walk over every attempt: the unit totals and the unit list read
``batch_serials`` (migration 4), the attempt totals, hourly throughput and times
``batch_hours`` (migration 5), the line's counters both (migration 7). A database without
them (opened read-only before it was brought up to date) is read by grouping the attempts,
with the same result.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from types import TracebackType
from typing import Any

DEFAULT_STEP_SAMPLE = 2_000
"""Attempts whose step timings are read for the per-step figures, at most. Each is a random
read of about a kilobyte and a JSON parse (5,000 of them: 110 ms of a 100,000-unit report);
with 2,000 a step's p95 is the whole batch's p94 to p96, 19 times in 20."""

# Every statement below is a constant; values only ever go in as parameters.

_BATCH_SQL = "SELECT * FROM batches WHERE id = ?"

# The batch's attempts by the hour they finished in (None while running), result and whether
# they read a serial, with their first and last times: a few hundred groups, from which the
# totals and the hourly throughput come. Off the tally (batch_hours, schema version 5) they
# are read as they stand; a database without it groups every attempt of the batch.
_ACTIVITY_FROM_TALLY_SQL = """
SELECT
    nullif(hour, '') AS hour, result, without_serial, attempts,
    first_at, last_at, first_finished_at, last_finished_at
FROM batch_hours
WHERE batch = ?
"""
_ACTIVITY_GROUPED_SQL = """
SELECT
    nullif(substr(finished_at, 1, 13), '') AS hour,
    result,
    serial IS NULL AS without_serial,
    count(*) AS attempts,
    min(started_at) AS first_at,
    max(coalesce(finished_at, started_at)) AS last_at,
    min(finished_at) AS first_finished_at,
    max(finished_at) AS last_finished_at
FROM attempts
WHERE batch = ?
GROUP BY hour, result, without_serial
"""
_ACTIVITY_SQL = {True: _ACTIVITY_FROM_TALLY_SQL, False: _ACTIVITY_GROUPED_SQL}
"""By whether the database keeps the hours tally."""
_PEOPLE_SQL = "SELECT DISTINCT station_id, operator FROM attempts WHERE batch = ?"

# One row per serial, straight off attempts_by_batch_report (ordered by batch, serial).
# ``min(id * 2 + (result = 'pass')) % 2`` is 1 when the serial's first attempt (the lowest
# id: ids are unique) passed. Each aggregate here costs about 50 ms on 100,000 units, so
# there are no more of them than the figures need.
_PER_SERIAL_CTE = """
WITH per AS (
    SELECT
        serial,
        count(*) AS attempts,
        max(result = 'pass') AS passed,
        max(result = 'running') AS running,
        min(id * 2 + (result = 'pass')) % 2 AS first_pass
    FROM attempts
    WHERE batch = :batch AND serial IS NOT NULL
    GROUP BY serial
)
"""

_UNIT_TOTALS_SQL = (
    _PER_SERIAL_CTE
    + """
SELECT
    count(*) AS attempted,
    coalesce(sum(passed), 0) AS passed,
    coalesce(sum(NOT passed AND NOT running), 0) AS failed,
    coalesce(sum(NOT passed AND running), 0) AS in_progress,
    coalesce(sum(attempts > 1), 0) AS retested,
    coalesce(sum(first_pass), 0) AS first_pass,
    coalesce(sum(attempts), 0) AS attempts_with_serial,
    coalesce(max(attempts), 0) AS max_attempts
FROM per
"""
)

# The same totals off the tally of the batch's serials (batch_serials, schema version 4),
# one compact row per unit: a quarter of the time of grouping the attempts.
_UNIT_TOTALS_FROM_TALLY_SQL = """
SELECT
    count(*) AS attempted,
    coalesce(sum(passes > 0), 0) AS passed,
    coalesce(sum(passes = 0 AND running = 0), 0) AS failed,
    coalesce(sum(passes = 0 AND running > 0), 0) AS in_progress,
    coalesce(sum(attempts > 1), 0) AS retested,
    coalesce(sum(first_pass), 0) AS first_pass,
    coalesce(sum(attempts), 0) AS attempts_with_serial,
    coalesce(max(attempts), 0) AS max_attempts
FROM batch_serials
WHERE batch = :batch
"""

# The batch bar's counters in one walk over attempts_by_batch_report (the index carries
# batch, serial, result and the rowid): attempts by result, and per serial whether its
# first finished attempt passed. Boards are serials: a board retried counts once, and an
# attempt that never read a serial is no board anyone can name (``without_serial``).
_BATCH_COUNTERS_SQL = """
WITH per AS (
    SELECT
        serial,
        sum(result = 'pass') AS passes,
        sum(result = 'fail') AS fails,
        sum(result = 'aborted') AS aborted,
        min(CASE WHEN result IN ('pass', 'fail') THEN id * 2 + (result = 'pass') END) AS first
    FROM attempts
    WHERE batch = :batch
    GROUP BY serial
)
SELECT
    coalesce(sum(passes), 0) AS passes,
    coalesce(sum(fails), 0) AS fails,
    coalesce(sum(aborted), 0) AS aborted,
    coalesce(sum(serial IS NOT NULL AND first IS NOT NULL), 0) AS boards_tried,
    coalesce(sum(serial IS NOT NULL AND first % 2 = 1), 0) AS first_pass,
    coalesce(sum(CASE WHEN serial IS NULL THEN passes + fails ELSE 0 END), 0) AS without_serial,
    (SELECT count(*) FROM units WHERE batch = :batch) AS done
FROM per
"""

# The same counters off the two tallies (schema version 7): attempts by result from
# batch_hours, boards tried and first passes from batch_serials' first finished attempt.
_BATCH_COUNTERS_FROM_TALLIES_SQL = """
WITH attempts_by AS (
    SELECT
        coalesce(sum(CASE WHEN result = 'pass' THEN attempts END), 0) AS passes,
        coalesce(sum(CASE WHEN result = 'fail' THEN attempts END), 0) AS fails,
        coalesce(sum(CASE WHEN result = 'aborted' THEN attempts END), 0) AS aborted,
        coalesce(sum(CASE WHEN without_serial AND result IN ('pass', 'fail') THEN attempts END), 0)
            AS without_serial
    FROM batch_hours WHERE batch = :batch
), boards AS (
    SELECT count(first_finished) AS boards_tried, coalesce(sum(first_finished % 2), 0) AS first_pass
    FROM batch_serials WHERE batch = :batch
)
SELECT passes, fails, aborted, boards_tried, first_pass, without_serial,
    (SELECT count(*) FROM units WHERE batch = :batch) AS done
FROM attempts_by, boards
"""
_BATCH_COUNTERS = {True: _BATCH_COUNTERS_FROM_TALLIES_SQL, False: _BATCH_COUNTERS_SQL}

# The batch's allow-list rows by claim certificate, with the figures of each: the claim
# certificates and the allow-list totals in one walk over the rows (a million-unit batch
# reads each unit row once, not twice).
_ALLOW_LIST_BY_CLAIM_SQL = """
SELECT
    claim_cert_sha256,
    count(*) AS rows,
    sum(status = 'revoked') AS revoked,
    sum(synced_rev < rev) AS pending_sync,
    sum(synced_rev >= rev) AS synced
FROM units WHERE batch = ?
GROUP BY claim_cert_sha256
"""

# One row per serial. Off the tally (batch_serials, in (batch, serial) order): the unit's
# figures as they stand, in serial order with no sort, and a page (LIMIT) stops early. The
# unit's allow-list row (in this batch) gives status, key, PASS times, operator and sync
# state; a unit that never passed here gets operator, station and error code from its newest
# attempt in the batch (``last_id``, one row looked up by its id, only for those).
_UNIT_ROWS_FROM_TALLY_TEMPLATE = """
SELECT
    t.serial AS serial,
    CASE WHEN t.passes THEN 'pass' WHEN t.running THEN 'running' ELSE 'fail' END AS result,
    t.attempts AS attempts,
    t.first_pass AS first_pass,
    {allow_list},
    CASE WHEN t.passes THEN NULL ELSE {error_code} END AS last_error_code{extra}
FROM batch_serials AS t
LEFT JOIN units AS u ON u.serial = t.serial AND u.batch = :batch
WHERE t.batch = :batch
ORDER BY t.serial
"""
_NEWEST_BY_TALLY = "(SELECT b.{column} FROM attempts AS b WHERE b.id = t.last_id)"

# The same rows from a database without the tally (read-only, from before version 4),
# grouped straight off attempts_by_batch_report (batch, serial order, so no sort either).
# The allow-list row is joined per attempt, which is per unit but for the few re-tested
# ones (``units.serial`` is unique); the newest attempt of a unit that never passed is
# found through attempts_by_serial (serial, id).
_UNIT_ROWS_GROUPED_TEMPLATE = """
SELECT
    a.serial AS serial,
    CASE WHEN max(a.result = 'pass') THEN 'pass' WHEN max(a.result = 'running') THEN 'running'
        ELSE 'fail' END AS result,
    count(*) AS attempts,
    min(a.id * 2 + (a.result = 'pass')) % 2 AS first_pass,
    {allow_list},
    CASE WHEN max(a.result = 'pass') THEN NULL ELSE {error_code} END AS last_error_code{extra}
FROM attempts AS a
LEFT JOIN units AS u ON u.serial = a.serial AND u.batch = :batch
WHERE a.batch = :batch AND a.serial IS NOT NULL
GROUP BY a.serial
ORDER BY a.serial
"""
_NEWEST_BY_GROUPING = (
    "(SELECT b.{column} FROM attempts AS b INDEXED BY attempts_by_serial "
    "WHERE b.serial = a.serial AND b.batch = :batch ORDER BY b.id DESC LIMIT 1)"
)
_ALLOW_LIST_COLUMNS = """u.status AS status,
    u.device_key_sha256 AS device_key_sha256,
    u.first_pass_at AS first_pass_at,
    u.last_pass_at AS last_pass_at,
    CASE WHEN u.serial IS NOT NULL THEN u.operator ELSE {operator} END AS operator,
    CASE WHEN u.serial IS NOT NULL THEN u.station_id ELSE {station_id} END AS station_id,
    CASE WHEN u.serial IS NULL THEN NULL WHEN u.synced_rev >= u.rev THEN 'synced'
        ELSE 'pending' END AS sync_state"""


def _unit_rows_sql(template: str, newest: str, extra: str = "") -> str:
    """A unit list statement (constant fragments only, built once at import)."""
    lookups = {column: newest.format(column=column) for column in ("operator", "station_id", "error_code")}
    allow_list = _ALLOW_LIST_COLUMNS.format(**lookups)
    return template.format(allow_list=allow_list, error_code=lookups["error_code"], extra=extra)


# The report's rows have an empty last column (``provisioned``: the station does not know
# when a unit was provisioned in the cloud).
_PROVISIONED = ",\n    NULL AS provisioned"
_UNIT_ROWS_SQL = {
    True: _unit_rows_sql(_UNIT_ROWS_FROM_TALLY_TEMPLATE, _NEWEST_BY_TALLY),
    False: _unit_rows_sql(_UNIT_ROWS_GROUPED_TEMPLATE, _NEWEST_BY_GROUPING),
}
"""The unit list, by whether the database has the tally."""
_REPORT_UNIT_ROWS_SQL = {
    True: _unit_rows_sql(_UNIT_ROWS_FROM_TALLY_TEMPLATE, _NEWEST_BY_TALLY, _PROVISIONED),
    False: _unit_rows_sql(_UNIT_ROWS_GROUPED_TEMPLATE, _NEWEST_BY_GROUPING, _PROVISIONED),
}
_UNIT_TOTALS = {True: _UNIT_TOTALS_FROM_TALLY_SQL, False: _UNIT_TOTALS_SQL}
# A unit row that needs a look (``BatchReport.exceptions``); a NULL status or sync state (no
# allow-list row here) is no reason, in SQL as in Python.
_NEEDS_A_LOOK = "result != 'pass' OR first_pass = 0 OR status = 'revoked' OR sync_state = 'pending'"
UNIT_COLUMNS = (
    "serial",
    "result",
    "attempts",
    "first_pass",
    "status",
    "device_key_sha256",
    "first_pass_at",
    "last_pass_at",
    "operator",
    "station_id",
    "sync_state",
    "last_error_code",
)
"""The columns of :meth:`ReportQueries.unit_rows`, in order."""

# Failed and aborted attempts by error code, off the covering index; the hints (not in the
# index) are then read from the newest attempt of each code, a handful of rows.
_FAILURES_SQL = """
SELECT error_code, count(*) AS attempts, count(DISTINCT serial) AS units, max(id) AS last_id
FROM attempts
WHERE batch = ? AND result IN ('fail', 'aborted')
GROUP BY error_code
ORDER BY attempts DESC, error_code
"""
_HINTS_SQL = "SELECT id, hint FROM attempts WHERE id IN (SELECT value FROM json_each(?))"

# Whole milliseconds: the stamps are to the millisecond, and julianday's doubles add a few
# microseconds of noise (3500.0011 for 3500) that would only spread the counts.
_PASS_DURATIONS_SQL = """
SELECT CAST(round((julianday(finished_at) - julianday(started_at)) * 86400000.0) AS INTEGER) AS ms
FROM attempts
WHERE batch = ? AND result = 'pass' AND finished_at IS NOT NULL
"""

_COUNT_WITH_STEPS_SQL = "SELECT count(*) FROM attempts WHERE batch = ? AND result != 'running'"
_ALL_STEPS_SQL = "SELECT steps FROM attempts WHERE batch = ? AND result != 'running'"
# Named index: the planner cannot tell that ``id % k`` keeps one attempt in k, and with
# statistics saying the batch is most of the table it would rather read every row (a
# 100,000-attempt batch: 61 ms instead of 17).
_SAMPLED_STEPS_SQL = (
    "SELECT steps FROM attempts INDEXED BY attempts_by_batch WHERE batch = ? AND result != 'running' AND id % ? = 0"
)


@dataclass(frozen=True)
class Activity:
    """The attempts of a batch, summed up (see :meth:`ReportQueries.activity`).

    ``hourly`` holds ``(hour, finished attempts, passes)`` for every UTC hour (``YYYY-MM-DDTHH``)
    in which an attempt finished, in order; running attempts count in ``attempts`` and
    ``running`` only.
    """

    attempts: int
    passed: int
    failed: int
    aborted: int
    running: int
    without_serial: int
    first_at: str | None
    last_at: str | None
    first_pass_at: str | None
    last_pass_at: str | None
    stations: tuple[str, ...]
    operators: tuple[str, ...]
    hourly: tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class StepSample:
    """Durations (ms, sorted) of every step that finished OK, by step name in pipeline
    order (the earliest position a step had in any attempt), and how many attempts they
    were read from (``used`` of ``total``)."""

    durations: dict[str, list[float]]
    used: int
    total: int

    @property
    def sampled(self) -> bool:
        return self.used < self.total


class ReportQueries:
    """The report queries over one read snapshot of a station database; a context manager.

    >>> with ReportQueries(records.path) as q:                  # doctest: +SKIP
    ...     q.unit_totals("B1")
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = 10.0) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no station database at {path}")
        self.path = path
        self._conn = sqlite3.connect(
            str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA query_only = ON")
        self._conn.execute("BEGIN")  # the snapshot starts with the first read
        self._by_claim: dict[str, list[sqlite3.Row]] = {}
        tables = {name for (name,) in self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('batch_serials', 'batch_hours')")}
        self.tallied = "batch_serials" in tables
        """Whether the database keeps the tally of its batches' serials (schema version 4;
        a database opened read-only before it was brought up to date has none)."""
        self.hours_tallied = "batch_hours" in tables
        """Whether it keeps the tally of its batches' attempts by hour (schema version 5)."""
        self.counters_tallied = self.hours_tallied and self._conn.execute(
            "SELECT 1 FROM pragma_table_info('batch_serials') WHERE name = 'first_finished'").fetchone() is not None
        """Whether the line's batch counters can be read off the tallies (schema version 7)."""

    def close(self) -> None:
        if self._conn is not None:
            try:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
            finally:
                self._conn.close()
                self._conn = None  # type: ignore[assignment]

    def __enter__(self) -> ReportQueries:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the batch and who worked on it ----------------------------------------------------

    def batch(self, batch_id: str) -> dict[str, Any] | None:
        """The batch row (``id``, ``product``, ``planned_quantity``, ``opened_at``, ...)."""
        row = self._conn.execute(_BATCH_SQL, [batch_id]).fetchone()
        return dict(row) if row else None

    def claim_certificates(self, batch_id: str) -> list[tuple[str, int]]:
        """``(claim_cert_sha256, units)`` of the batch's allow-list rows, most used first."""
        rows = [(row["claim_cert_sha256"], row["rows"]) for row in self._allow_list_by_claim(batch_id)]
        return sorted(rows, key=lambda row: (-row[1], row[0]))

    def _allow_list_by_claim(self, batch_id: str) -> list[sqlite3.Row]:
        """The batch's allow-list figures by claim certificate, read once per snapshot."""
        rows = self._by_claim.get(batch_id)
        if rows is None:
            rows = self._by_claim[batch_id] = self._conn.execute(_ALLOW_LIST_BY_CLAIM_SQL, [batch_id]).fetchall()
        return rows

    # -- counts ----------------------------------------------------------------------------

    def activity(self, batch_id: str) -> Activity:
        """What happened in the batch, attempt by attempt: totals by result, the hourly
        throughput, the stations and operators, the first and last times."""
        totals = dict.fromkeys(("pass", "fail", "aborted", "running"), 0)
        hours: dict[str, list[int]] = {}
        stations: set[str] = set()
        operators: set[str] = set()
        without_serial = 0
        first_at = last_at = first_pass_at = last_pass_at = None
        for row in self._conn.execute(_ACTIVITY_SQL[self.hours_tallied], [batch_id]):
            count = row["attempts"]
            totals[row["result"]] = totals.get(row["result"], 0) + count
            if row["without_serial"]:
                without_serial += count
            first_at = _earliest(first_at, row["first_at"])
            last_at = _latest(last_at, row["last_at"])
            if row["result"] == "pass":
                first_pass_at = _earliest(first_pass_at, row["first_finished_at"])
                last_pass_at = _latest(last_pass_at, row["last_finished_at"])
            if row["hour"] is not None:
                bucket = hours.setdefault(row["hour"], [0, 0])
                bucket[0] += count
                if row["result"] == "pass":
                    bucket[1] += count
        for station, operator in self._conn.execute(_PEOPLE_SQL, [batch_id]):
            stations.add(station)
            operators.add(operator)
        return Activity(
            attempts=sum(totals.values()),
            passed=totals["pass"],
            failed=totals["fail"],
            aborted=totals["aborted"],
            running=totals["running"],
            without_serial=without_serial,
            first_at=first_at,
            last_at=last_at,
            first_pass_at=first_pass_at,
            last_pass_at=last_pass_at,
            stations=tuple(sorted(stations)),
            operators=tuple(sorted(operators)),
            hourly=tuple((hour, *hours[hour]) for hour in sorted(hours)),
        )

    def unit_totals(self, batch_id: str) -> dict[str, int]:
        """``attempted``, ``passed``, ``failed``, ``in_progress``, ``retested``,
        ``first_pass``, ``attempts_with_serial``, ``max_attempts`` (see the module doc)."""
        return dict(self._conn.execute(_UNIT_TOTALS[self.tallied], {"batch": batch_id}).fetchone())

    def batch_counters(self, batch_id: str) -> dict[str, int]:
        """The line's batch bar in one aggregate: ``passes``, ``fails``, ``aborted``
        (attempts), ``boards_tried`` (distinct serials with a finished attempt),
        ``first_pass`` (of those, the ones whose first finished attempt passed),
        ``without_serial`` (finished attempts that never read a serial) and ``done``
        (allow-list rows of the batch)."""
        return dict(self._conn.execute(_BATCH_COUNTERS[self.counters_tallied], {"batch": batch_id}).fetchone())

    def allow_list_totals(self, batch_id: str) -> dict[str, int]:
        """``rows``, ``revoked``, ``pending_sync``, ``synced`` of the batch's allow-list."""
        totals = dict.fromkeys(("rows", "revoked", "pending_sync", "synced"), 0)
        for row in self._allow_list_by_claim(batch_id):
            for name in totals:
                totals[name] += row[name]
        return totals

    # -- failures, times, throughput --------------------------------------------------------

    def failures(self, batch_id: str) -> list[dict[str, Any]]:
        """Failed and aborted attempts by error code, most frequent first: ``error_code``
        (None if none was recorded), ``attempts``, ``units`` (distinct serials) and ``hint``
        (the newest such attempt's)."""
        rows = [dict(row) for row in self._conn.execute(_FAILURES_SQL, [batch_id])]
        hints = {
            row["id"]: row["hint"]
            for row in self._conn.execute(
                _HINTS_SQL, [json.dumps([row["last_id"] for row in rows])]
            )
        }
        for row in rows:
            row["hint"] = hints.get(row.pop("last_id"))
        return rows

    def pass_durations_ms(self, batch_id: str) -> list[tuple[int, int]]:
        """How long the passing attempts took (``finished_at - started_at``, whole
        milliseconds), as ``(ms, attempts)`` pairs, shortest first.

        As many pairs as distinct durations, not as attempts: a million passes of 20-60 s
        are at most 40,000 pairs, where a list of every duration was 32 MB. An attempt whose
        times are no times (a tampered row) has no duration and is left out.
        """
        cursor = self._conn.cursor()
        cursor.row_factory = None
        counts = Counter(map(itemgetter(0), cursor.execute(_PASS_DURATIONS_SQL, [batch_id])))  # counted in C
        counts.pop(None, None)
        return sorted(counts.items())

    def step_durations_ms(
        self, batch_id: str, *, max_attempts: int | None = DEFAULT_STEP_SAMPLE
    ) -> StepSample:
        """Durations of the steps that finished OK, from the step timings of the batch's
        finished attempts (any result).

        Reading step timings means parsing about a kilobyte of JSON per attempt, so when a
        batch has more than ``max_attempts`` finished attempts only every k-th attempt (by
        id, k chosen so that at most ``max_attempts`` remain) is read: an evenly spread
        sample, reported in :attr:`StepSample.used`. ``None`` reads them all.
        """
        total = self._conn.execute(_COUNT_WITH_STEPS_SQL, [batch_id]).fetchone()[0]
        if max_attempts is None or total <= max_attempts:
            cursor = self._conn.execute(_ALL_STEPS_SQL, [batch_id])
        else:
            every = -(-total // max(1, max_attempts))  # ceiling division
            cursor = self._conn.execute(_SAMPLED_STEPS_SQL, [batch_id, every])
        durations: dict[str, list[float]] = {}
        position: dict[str, int] = {}  # the earliest place a step had in any attempt
        used = 0
        loads = json.loads
        for (text,) in cursor:
            used += 1
            for index, step in enumerate(loads(text)):
                if step.get("ok"):
                    name = str(step.get("name"))
                    bucket = durations.get(name)
                    if bucket is None:
                        bucket = durations[name] = []
                        position[name] = index
                    elif index < position[name]:
                        position[name] = index
                    bucket.append(float(step.get("duration_ms") or 0.0))
        ordered = sorted(durations, key=lambda name: position[name])  # stable: ties keep order
        for bucket in durations.values():
            bucket.sort()
        return StepSample({name: durations[name] for name in ordered}, used=used, total=total)

    # -- the unit list ---------------------------------------------------------------------

    def unit_rows(self, batch_id: str, *, limit: int | None = None, with_provisioned: bool = False) -> list[tuple]:
        """One tuple per unit attempted, in serial order; columns :data:`UNIT_COLUMNS`.

        ``status``, ``device_key_sha256``, ``first_pass_at``, ``last_pass_at`` and
        ``sync_state`` come from the unit's allow-list row in this batch (None if it has
        none: it never passed here); ``operator`` and ``station_id`` are the row's (those of
        the last PASS), else the newest attempt's; ``last_error_code`` is the newest
        attempt's for a unit that did not pass. ``first_pass`` is 1 or 0. ``with_provisioned``
        adds a last column, always None (as :meth:`iter_unit_pages`).
        """
        cursor = self._conn.cursor()
        cursor.row_factory = None  # plain tuples: 100,000 of them must be cheap
        sql = (_REPORT_UNIT_ROWS_SQL if with_provisioned else _UNIT_ROWS_SQL)[self.tallied]
        if limit is not None:
            return cursor.execute(sql + " LIMIT :limit", {"batch": batch_id, "limit": int(limit)}).fetchall()
        return cursor.execute(sql, {"batch": batch_id}).fetchall()

    def iter_unit_pages(self, batch_id: str, *, page: int = 5000, with_provisioned: bool = False,
                        needing_a_look: bool = False) -> Iterator[list[tuple]]:
        """The tuples of :meth:`unit_rows`, in the same (serial) order, ``page`` at a time
        from one cursor: a million-unit list in constant memory. ``with_provisioned`` adds a
        last column, always None (a report's unit row has it for the cloud's sake).
        ``needing_a_look`` keeps only the units that are not PASS, PASSed only after a retry,
        are revoked or wait for the sync (what a PDF lists): SQLite drops the others, so a
        good batch of a million units costs a few rows in Python."""
        cursor = self._conn.cursor()
        cursor.row_factory = None
        sql = (_REPORT_UNIT_ROWS_SQL if with_provisioned else _UNIT_ROWS_SQL)[self.tallied]
        if needing_a_look:
            # (off the tally SQLite merges the two and needs no sort for the order)
            sql = f"SELECT * FROM ({sql}) WHERE {_NEEDS_A_LOOK} ORDER BY serial"  # noqa: S608 - constants only
        cursor.execute(sql, {"batch": batch_id})
        while rows := cursor.fetchmany(page):
            yield rows


def _earliest(current: str | None, candidate: str | None) -> str | None:
    if candidate is None:
        return current
    return candidate if current is None or candidate < current else current


def _latest(current: str | None, candidate: str | None) -> str | None:
    if candidate is None:
        return current
    return candidate if current is None or candidate > current else current
