"""The report model: every figure of the known batch, the definitions, the edge cases."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from report_fixtures import (
    BATCH,
    DAY,
    EMPTY_BATCH,
    EXPECTED_COUNTS,
    EXPECTED_FAILURES,
    EXPECTED_HEADER,
    EXPECTED_STEPS,
    EXPECTED_THROUGHPUT,
    EXPECTED_UNIT_CYCLE,
    EXPECTED_UNITS,
    PRODUCT,
    UNIT_COLUMNS,
    ManualClock,
    build_known_database,
    drop_the_tally,
    fingerprint,
    report_clock,
)

from records import Records, StepTiming
from records.reports import ReportQueries
from station.reports.data import (
    BatchReport,
    ReportError,
    build_report,
    build_trace,
    duration_stats,
    duration_stats_of_counts,
    hour_buckets,
    percentile,
    redact,
)


@pytest.fixture(scope="module")
def report(known_db: Path) -> BatchReport:
    with Records(known_db) as records:
        return build_report(records, BATCH, now=report_clock, station_id="ST-QA")


def test_header(report: BatchReport) -> None:
    h = report.header
    for field, value in EXPECTED_HEADER.items():
        got = getattr(h, field)
        if field in ("stations", "operators"):
            got = list(got)
        if field == "claim_certificates":
            got = [(c.sha256, c.units) for c in got]
        assert got == value, field
    assert h.generated_by == "ST-QA"
    assert report.schema_version == 1


def test_counts(report: BatchReport) -> None:
    assert dataclasses.asdict(report.counts) == EXPECTED_COUNTS


def test_the_counts_add_up(report: BatchReport) -> None:
    c = report.counts
    assert c.units_passed + c.units_revoked + c.units_failed + c.units_in_progress == c.units_attempted
    assert c.attempts_passed + c.attempts_failed + c.attempts_aborted + c.attempts_running == (
        c.attempts
    )
    assert c.units_synced + c.units_pending_sync == c.allow_list_units
    # attempts without a serial are attempts, not units
    assert c.attempts_per_unit_mean * c.units_attempted == c.attempts - c.attempts_without_serial


def test_failure_pareto(report: BatchReport) -> None:
    got = [(f.code, f.attempts, f.units, f.share, f.cumulative_share, f.hint)
           for f in report.failures]
    assert got == EXPECTED_FAILURES


def test_cycle_times(report: BatchReport) -> None:
    cycle = report.cycle_times
    assert cycle is not None
    unit = dataclasses.asdict(cycle.per_unit)
    assert unit.pop("name") == "unit"
    assert unit == EXPECTED_UNIT_CYCLE
    steps = {s.name: {k: v for k, v in dataclasses.asdict(s).items() if k != "name"}
             for s in cycle.per_step}
    assert steps == EXPECTED_STEPS
    assert [s.name for s in cycle.per_step] == ["read_serial", "install_claim", "generate_csr"]
    assert (cycle.step_attempts_used, cycle.step_attempts_total) == (10, 10)


def test_throughput(report: BatchReport) -> None:
    assert [(b.hour, b.attempts, b.passed) for b in report.throughput] == EXPECTED_THROUGHPUT


def test_unit_list(report: BatchReport) -> None:
    assert [u.serial for u in report.units] == sorted(EXPECTED_UNITS)
    for unit in report.units:
        expected = EXPECTED_UNITS[unit.serial]
        got = tuple(getattr(unit, column) for column in UNIT_COLUMNS)
        got = got[:2] + (bool(got[2]),) + got[3:]
        assert got == expected, unit.serial
        assert unit.provisioned_at is None


def test_exceptions_are_the_units_that_need_a_look(report: BatchReport) -> None:
    # SN003 retried, SN004 failed, SN005 revoked, SN006 not synced
    assert [u.serial for u in report.exceptions()] == ["SN003", "SN004", "SN005", "SN006"]


def test_notes_say_attempts_without_serial_are_not_units(report: BatchReport) -> None:
    assert any("1 attempt(s) failed before the board's serial was read" in n
               and "not as units" in n for n in report.notes)


def test_summary_without_units_gives_the_same_figures(known_db: Path, report: BatchReport) -> None:
    with Records(known_db) as records:
        summary = build_report(records, BATCH, now=report_clock, station_id="ST-QA",
                               include_units=False)
    assert summary.units == () and not summary.units_included
    assert summary.counts == report.counts  # SQL totals == totals from the unit list
    assert summary.failures == report.failures
    assert summary.throughput == report.throughput


def test_sql_unit_totals_match_the_python_ones(known_db: Path, report: BatchReport) -> None:
    with ReportQueries(known_db) as queries:
        totals = queries.unit_totals(BATCH)
        page = queries.unit_rows(BATCH, limit=2)
        everything = queries.unit_rows(BATCH)
    assert totals["attempted"] == report.counts.units_attempted
    assert totals["first_pass"] == report.counts.units_first_pass
    assert [row[0] for row in page] == ["SN001", "SN002"]
    assert [row[0] for row in everything] == sorted(EXPECTED_UNITS)


def test_the_known_database_is_read_both_with_and_without_the_tally(known_db: Path) -> None:
    with ReportQueries(known_db) as queries:
        assert queries.tallied == ("grouped" not in known_db.parent.name)


@pytest.mark.parametrize("tallied", [True, False])
def test_a_unit_row_takes_its_newest_attempt_in_this_batch_and_its_allow_list_row_here(
    tmp_path: Path, tallied: bool,
) -> None:
    """SN-A failed twice here and once later in another batch; SN-B passed in another batch
    and failed here; SN-C is on a fixture right now: each row tells this batch's story."""
    clock = ManualClock(DAY.replace(hour=9))
    with Records(tmp_path / "s.sqlite", now=clock) as records:
        records.open_batch("HERE", PRODUCT, 10, actor="qa")
        records.open_batch("ELSEWHERE", PRODUCT, 10, actor="qa")

        def attempt(serial: str, batch: str, operator: str, station: str, code: str | None,
                    minute: int) -> None:
            clock.set(10, minute)
            attempt_id = records.start_attempt(port="COM3", station_id=station, operator=operator,
                                               driver="agent", batch=batch)
            records.set_attempt_serial(attempt_id, serial)
            if code is None:
                records.finish_attempt_pass(
                    attempt_id, serial=serial, batch=batch, product=PRODUCT,
                    device_key_sha256=fingerprint(serial), claim_cert_sha256=fingerprint("claim"),
                    station_id=station, operator=operator, steps=[])
            else:
                records.finish_attempt_fail(attempt_id, error_code=code, error_detail=code,
                                            hint="", steps=[])

        attempt("SN-A", "HERE", "alice", "ST-01", "BOARD_TIMEOUT", 1)
        attempt("SN-A", "HERE", "bob", "ST-02", "CSR_REJECTED", 2)
        attempt("SN-A", "ELSEWHERE", "carol", "ST-09", "CLAIM_MISMATCH", 3)
        attempt("SN-B", "ELSEWHERE", "carol", "ST-09", None, 4)
        attempt("SN-B", "HERE", "dave", "ST-03", "BOARD_TIMEOUT", 5)
        clock.set(10, 6)
        running = records.start_attempt(port="COM4", station_id="ST-04", operator="erin",
                                         driver="agent", batch="HERE")
        records.set_attempt_serial(running, "SN-C")
    if not tallied:
        drop_the_tally(tmp_path / "s.sqlite")
    with ReportQueries(tmp_path / "s.sqlite") as queries:
        assert queries.tallied == tallied
        rows = queries.unit_rows("HERE")
        pages = list(queries.iter_unit_pages("HERE", page=2, with_provisioned=True))

    no_allow_list_row = (None, None, None, None)
    assert rows == [
        ("SN-A", "fail", 2, 0, *no_allow_list_row, "bob", "ST-02", None, "CSR_REJECTED"),
        ("SN-B", "fail", 1, 0, *no_allow_list_row, "dave", "ST-03", None, "BOARD_TIMEOUT"),
        ("SN-C", "running", 1, 0, *no_allow_list_row, "erin", "ST-04", None, None),
    ]
    assert [len(page) for page in pages] == [2, 1]
    assert [row for page in pages for row in page] == [(*row, None) for row in rows]


def test_empty_batch_gives_a_valid_report_that_says_so(known_db: Path) -> None:
    with Records(known_db) as records:
        report = build_report(records, EMPTY_BATCH, now=report_clock)
    assert report.is_empty
    assert report.header.product == PRODUCT and report.header.planned_quantity == 5
    assert report.counts.attempts == 0 and report.counts.units_attempted == 0
    assert report.counts.first_pass_yield is None and report.counts.final_yield is None
    assert report.failures == () and report.throughput == () and report.units == ()
    assert report.cycle_times.per_unit is None and report.cycle_times.per_step == ()
    assert any("No attempts in this batch yet" in note for note in report.notes)


def test_unknown_batch(known_db: Path) -> None:
    with Records(known_db) as records, pytest.raises(ReportError) as raised:
        build_report(records, "NO-SUCH-BATCH")
    assert raised.value.code == "BATCH_NOT_FOUND"
    assert "NO-SUCH-BATCH" in raised.value.message
    assert "station batch list" in raised.value.hint


def test_trace_of_a_retested_unit(known_db: Path) -> None:
    with Records(known_db) as records:
        trace = build_trace(records, "SN003", now=report_clock)
    assert trace.unit is not None and trace.unit.serial == "SN003"
    assert [(a.result, a.error_code) for a in trace.attempts] == [
        ("fail", "BOARD_TIMEOUT"), ("pass", None)]
    assert [s.name for s in trace.attempts[1].steps] == [
        "read_serial", "install_claim", "generate_csr"]
    assert trace.attempts[1].steps[2].duration_ms == 3000.0
    assert [e.action for e in trace.audit] == ["unit.pass"]
    assert trace.batches == (BATCH,)


def test_trace_of_a_revoked_and_of_a_failed_unit(known_db: Path) -> None:
    with Records(known_db) as records:
        revoked = build_trace(records, "SN005")
        failed = build_trace(records, "SN004")
    assert [e.action for e in revoked.audit] == ["unit.pass", "unit.revoke"]
    assert revoked.audit[1].details["reason"] == "dropped on the floor"
    assert failed.unit is None
    assert [a.error_code for a in failed.attempts] == ["CSR_REJECTED"] * 3


def test_trace_of_an_unknown_serial(known_db: Path) -> None:
    with Records(known_db) as records, pytest.raises(ReportError) as raised:
        build_trace(records, "NOPE")
    assert raised.value.code == "SERIAL_UNKNOWN"


def test_running_and_aborted_attempts(tmp_path: Path) -> None:
    clock = ManualClock(DAY.replace(hour=8))
    with Records(tmp_path / "s.sqlite", now=clock) as records:
        records.open_batch("B2", PRODUCT, 3, actor="qa")
        for serial in ("R1", "R2"):
            attempt = records.start_attempt(port="P", station_id="S", operator="o",
                                            driver="agent", batch="B2")
            records.set_attempt_serial(attempt, serial)
        records.abort_open_attempts()  # R1 and R2 aborted: they count as FAIL
        attempt = records.start_attempt(port="P", station_id="S", operator="o",
                                        driver="agent", batch="B2")
        records.set_attempt_serial(attempt, "R3")  # still running
        report = build_report(records, "B2")
        summary = build_report(records, "B2", include_units=False)
    c = report.counts
    assert (c.attempts, c.attempts_aborted, c.attempts_running) == (3, 2, 1)
    assert (c.units_attempted, c.units_failed, c.units_in_progress) == (3, 2, 1)
    assert summary.counts == report.counts
    assert [(f.code, f.attempts) for f in report.failures] == [("ATTEMPT_ABORTED", 2)]
    assert {u.serial: u.result for u in report.units} == {
        "R1": "fail", "R2": "fail", "R3": "running"}
    assert report.throughput[0].attempts == 2  # running attempts have not finished
    assert any("still running" in note for note in report.notes)


def test_step_timings_are_sampled_on_big_batches(known_db: Path) -> None:
    with Records(known_db) as records:
        report = build_report(records, BATCH, step_sample=4)
    cycle = report.cycle_times
    assert cycle.step_attempts_total == 10
    assert 0 < cycle.step_attempts_used <= 4
    assert any("evenly spread" in note for note in report.notes)
    # the figures that do not come from step timings stay exact
    assert cycle.per_unit.count == 5 and report.counts.attempts == 10


def test_percentile_is_nearest_rank() -> None:
    values = [20.0, 30.0, 40.0, 50.0, 60.0]
    assert percentile(values, 50) == 40.0
    assert percentile(values, 95) == 60.0
    assert percentile(values, 0) == 20.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0


def test_hour_buckets_fill_the_gaps() -> None:
    buckets = hour_buckets([("2026-11-22T10", 2, 1), ("2026-11-22T13", 1, 1)])
    assert [(b.hour, b.attempts, b.passed) for b in buckets] == [
        ("2026-11-22T10:00Z", 2, 1), ("2026-11-22T11:00Z", 0, 0),
        ("2026-11-22T12:00Z", 0, 0), ("2026-11-22T13:00Z", 1, 1)]
    # over a day boundary
    assert len(hour_buckets([("2026-11-22T23", 1, 1), ("2026-11-23T01", 1, 1)])) == 3
    # a batch spread over months lists only the hours with activity
    assert len(hour_buckets([("2026-01-01T00", 1, 1), ("2026-06-01T00", 1, 1)])) == 2


def test_redact_keeps_keys_out() -> None:
    pem = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI...\n-----END EC PRIVATE KEY-----"
    assert "MHcCAQEEI" not in redact(f"board said {pem}")
    assert "PRIVATE KEY" not in redact(f"board said {pem}")
    assert redact("plain text") == "plain text"


def test_no_secret_reaches_a_trace(tmp_path: Path) -> None:
    clock = ManualClock(DAY.replace(hour=8))
    pem = "-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n-----END PRIVATE KEY-----"
    with Records(tmp_path / "s.sqlite", now=clock) as records:
        records.open_batch("B3", PRODUCT, 1, actor="qa")
        attempt = records.start_attempt(port="P", station_id="S", operator="o",
                                        driver="agent", batch="B3")
        records.set_attempt_serial(attempt, "LEAKY1")
        records.finish_attempt_fail(attempt, error_code="WEIRD", error_detail=f"got {pem}",
                                    hint=pem, steps=[])
        records.audit(actor="o", action="note", subject="LEAKY1", details={"text": pem})
        trace = build_trace(records, "LEAKY1")
        report = build_report(records, "B3")
    text = repr(trace) + repr(report)
    assert "SECRETSECRET" not in text and "PRIVATE KEY" not in text


def test_reports_read_a_snapshot_while_the_line_writes(tmp_path: Path) -> None:
    path = build_known_database(tmp_path / "s.sqlite")
    with Records(path) as records, ReportQueries(path) as queries:
        before = queries.activity(BATCH).attempts
        attempt = records.start_attempt(port="P", station_id="S", operator="o",
                                        driver="agent", batch=BATCH)
        records.finish_attempt_fail(attempt, error_code="X", error_detail="", hint="",
                                    steps=[StepTiming("identify", "t", 1.0, False)])
        assert queries.activity(BATCH).attempts == before  # same snapshot
    with Records(path) as records:
        assert build_report(records, BATCH).counts.attempts == before + 1


def test_the_aggregates_walk_the_report_index(known_db: Path) -> None:
    """Speed guard: the per-batch aggregates never read the attempts' rows (step JSON)."""
    from records import reports

    conn = sqlite3.connect(known_db)
    try:
        for sql, params in (
            (reports._ACTIVITY_SQL[False], [BATCH]),
            (reports._PEOPLE_SQL, [BATCH]),
            (reports._UNIT_TOTALS_SQL, {"batch": BATCH}),
            (reports._FAILURES_SQL, [BATCH]),
            (reports._PASS_DURATIONS_SQL, [BATCH]),
        ):
            plan = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            assert "COVERING INDEX attempts_by_batch_report" in plan, plan
    finally:
        conn.close()


def test_the_activity_of_a_tallied_database_is_read_off_the_hours_tally(known_db: Path) -> None:
    """Speed guard: a few hundred rows of batch_hours, not every attempt of the batch."""
    from records import reports

    with ReportQueries(known_db) as queries:
        tallied = queries.hours_tallied
    conn = sqlite3.connect(known_db)
    try:
        plan = " ".join(row[3] for row in conn.execute(
            "EXPLAIN QUERY PLAN " + reports._ACTIVITY_SQL[tallied], [BATCH]))
    finally:
        conn.close()
    assert tallied == ("grouped" not in known_db.parent.name)
    assert ("SEARCH batch_hours USING PRIMARY KEY (batch=?)" if tallied
            else "COVERING INDEX attempts_by_batch_report") in plan, plan


def test_the_step_sample_reads_only_the_sampled_attempts_even_when_statistics_say_the_batch_is_everything(
    tmp_path: Path, known_db: Path,
) -> None:
    """Speed guard: a scan of the table would read every attempt's step timings."""
    from records import reports

    path = tmp_path / "analyzed.sqlite"
    shutil.copy(known_db, path)
    conn = sqlite3.connect(path)
    try:
        conn.execute("ANALYZE")
        plan = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + reports._SAMPLED_STEPS_SQL, [BATCH, 3]))
    finally:
        conn.close()
    assert "USING INDEX attempts_by_batch (batch=?)" in plan, plan


def test_the_line_counters_off_the_tallies_are_what_grouping_the_attempts_gives(known_db: Path) -> None:
    from records import reports

    with ReportQueries(known_db) as queries:
        counters = queries.batch_counters(BATCH)
        grouped = dict(queries._conn.execute(reports._BATCH_COUNTERS_SQL, {"batch": BATCH}).fetchone())
        tallied = queries.counters_tallied

    assert counters == grouped
    assert counters["passes"] == EXPECTED_COUNTS["attempts_passed"]
    assert tallied == ("grouped" not in known_db.parent.name)


def test_the_unit_list_comes_in_serial_order_without_a_sort(known_db: Path) -> None:
    """Speed guard: a million-unit list is read in the order of an index (the tally's key,
    or the report index), never sorted in a temporary b-tree."""
    from records import reports

    conn = sqlite3.connect(known_db)
    try:
        tallied = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'batch_serials'").fetchone() is not None
        for sql in (reports._UNIT_ROWS_SQL[tallied], reports._REPORT_UNIT_ROWS_SQL[tallied],
                    reports._UNIT_TOTALS[tallied]):
            plan = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, {"batch": BATCH}))
            assert "TEMP B-TREE" not in plan, plan
            assert ("USING PRIMARY KEY (batch=?)" if tallied else "COVERING INDEX attempts_by_batch_report") in plan, plan
    finally:
        conn.close()


def test_claim_fingerprints_only(report: BatchReport) -> None:
    assert {c.sha256 for c in report.header.claim_certificates} == {
        fingerprint("claim certificate A"), fingerprint("claim certificate B")}


def test_a_finish_time_that_is_no_hour_counts_but_gets_no_throughput_bucket(tmp_path: Path) -> None:
    """A tampered database: the report still comes, with the attempt in its totals."""
    path = tmp_path / "tampered.sqlite"
    with Records(path) as records:
        records.open_batch("B1", "sensor-v2", 10, "qa")
        for serial in ("SN1", "SN2"):
            attempt = records.start_attempt(port="P", station_id="S", operator="o", driver="agent", batch="B1")
            records.set_attempt_serial(attempt, serial)
            records.finish_attempt_fail(attempt, error_code="X", error_detail="", hint="", steps=[])
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE attempts SET finished_at = 'not a time' WHERE serial = 'SN1'")
    conn.close()

    with Records(path) as records:
        report = build_report(records, "B1")

    assert report.counts.attempts == 2
    assert sum(bucket.attempts or 0 for bucket in report.throughput) == 1


@given(st.lists(st.integers(min_value=-5, max_value=400), min_size=1, max_size=300))
def test_duration_figures_from_counts_are_those_of_the_whole_list(values: list[int]) -> None:
    """The batch's cycle time comes from (ms, attempts) pairs, not a list of every attempt."""
    ordered = sorted(values)
    counts = sorted({v: ordered.count(v) for v in ordered}.items())

    assert duration_stats_of_counts("unit", counts) == duration_stats("unit", [float(v) for v in ordered])


def test_no_passes_give_no_cycle_time() -> None:
    assert duration_stats_of_counts("unit", []) is None


def test_pass_durations_are_counted_by_millisecond_and_a_pass_with_no_real_times_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "passes.sqlite"
    with Records(path) as records:
        records.open_batch("B1", "sensor-v2", 10, "qa")
        for serial in ("SN1", "SN2", "SN3", "SN4"):
            attempt = records.start_attempt(port="P", station_id="S", operator="o", driver="agent", batch="B1")
            records.set_attempt_serial(attempt, serial)
            records.finish_attempt_pass(attempt, serial=serial, batch="B1", product="sensor-v2",
                                        device_key_sha256=fingerprint(serial), claim_cert_sha256=fingerprint("c"),
                                        station_id="S", operator="o", steps=[])
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE attempts SET started_at = '2026-11-02T06:00:00.000Z'")
        conn.execute("UPDATE attempts SET finished_at = '2026-11-02T06:00:04.500Z' WHERE serial IN ('SN1', 'SN2')")
        conn.execute("UPDATE attempts SET finished_at = '2026-11-02T06:00:07.250Z' WHERE serial = 'SN3'")
        conn.execute("UPDATE attempts SET finished_at = 'not a time' WHERE serial = 'SN4'")
    conn.close()

    with ReportQueries(path) as queries:
        assert queries.pass_durations_ms("B1") == [(4500, 2), (7250, 1)]
    with Records(path) as records:
        per_unit = build_report(records, "B1").cycle_times.per_unit
    assert (per_unit.count, per_unit.p50_ms, per_unit.max_ms) == (3, 4500.0, 7250.0)
