"""Batch figures for the batch panel and the QA tab (no Qt; computed off the UI thread).

* done: boards of the batch in the allow-list (they PASSed), against the planned quantity;
* PASS / FAIL: finished attempts of each kind (a retried board counts each time);
* first-pass yield: boards that passed at their first attempt / boards tried.
  An attempt that never read a serial counts as one board that failed.

:func:`summarize` reads the batch once; :meth:`BatchSummary.add` then keeps it
current from the runner's AttemptFinished events without touching the database.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from records import Records


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
        """One more finished attempt in this batch."""
        if passed:
            self.passes += 1
        else:
            self.fails += 1
            self.failures_by_code[code or "UNKNOWN"] += 1
        if serial is None:
            self.boards_tried += 1
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
    """Read one batch's figures (a worker-thread read: it walks the batch's attempts)."""
    batch = records.get_batch(batch_id)
    summary = BatchSummary(batch_id)
    if batch is not None:
        summary.product = batch.product
        summary.planned = batch.planned_quantity
        summary.is_open = batch.is_open
    for attempt in reversed(records.attempts(batch=batch_id)):  # oldest first
        if attempt.result == "running":
            continue
        if attempt.result == "aborted":
            summary.aborted += 1
            continue
        summary.add(attempt.serial, attempt.result == "pass", attempt.error_code)
    # Units re-provisioned into another batch left this one: the allow-list is the truth.
    summary.done = records.count_units(batch=batch_id)
    return summary


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"
