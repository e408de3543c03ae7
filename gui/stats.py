"""Batch figures for the batch panel and the QA tab (no Qt; computed off the UI thread).

* done: boards of the batch in the allow-list (they PASSed), against the planned quantity;
* PASS / FAIL: finished attempts of each kind (a retried board counts each time);
* first-pass yield: boards (serials) whose first finished attempt passed / boards tried.
  A board retried counts once; an attempt that never read a serial names no board: it
  counts in FAIL and by code, not in the yield (as in the batch report).

:func:`summarize` asks the database for the counters in one SQL aggregate
(``records.reports.ReportQueries.batch_counters``): right however many attempts the
batch has, and cheap enough to run again after every board.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from records import Records
from records.reports import ReportQueries


@dataclass
class BatchSummary:
    batch: str
    product: str = ""
    planned: int = 0
    is_open: bool = True
    done: int = 0
    passes: int = 0
    fails: int = 0
    aborted: int = 0
    first_pass: int = 0
    boards_tried: int = 0
    failures_by_code: Counter = field(default_factory=Counter)
    _first_result: dict[str, bool] = field(default_factory=dict, repr=False)
    _passed_serials: set[str] = field(default_factory=set, repr=False)

    @property
    def first_pass_yield(self) -> float | None:
        return self.first_pass / self.boards_tried if self.boards_tried else None

    def add(self, serial: str | None, passed: bool, code: str | None) -> None:
        """One more finished attempt (for a summary built by hand; the app re-reads :func:`summarize`)."""
        if passed:
            self.passes += 1
        else:
            self.fails += 1
            self.failures_by_code[code or "UNKNOWN"] += 1
        if serial is None:
            return
        if serial not in self._first_result:
            self._first_result[serial] = passed
            self.boards_tried += 1
            if passed:
                self.first_pass += 1
        if passed and serial not in self._passed_serials:
            self._passed_serials.add(serial)
            self.done += 1


def summarize(records: Records, batch_id: str) -> BatchSummary:
    """Read one batch's figures (worker thread): one aggregate for the counters, one for the
    failures by code, both from the same snapshot."""
    batch = records.get_batch(batch_id)
    summary = BatchSummary(batch_id)
    if batch is not None:
        summary.product = batch.product
        summary.planned = batch.planned_quantity
        summary.is_open = batch.is_open
    with ReportQueries(records.path) as queries:
        counters = queries.batch_counters(batch_id)
        failures = queries.failures(batch_id)
    summary.passes = counters["passes"]
    summary.fails = counters["fails"]
    summary.aborted = counters["aborted"]
    summary.boards_tried = counters["boards_tried"]
    summary.first_pass = counters["first_pass"]
    summary.done = counters["done"]
    summary.failures_by_code = Counter()
    for row in failures:
        summary.failures_by_code[row["error_code"] or "UNKNOWN"] += row["attempts"]
    return summary


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"
