"""The batch report and the serial trace, as a tree of frozen values.

:func:`build_report` asks :mod:`records.reports` (SQL aggregates over one read snapshot)
and turns the answers into a :class:`BatchReport`; :func:`build_trace` gathers everything
known about one serial into a :class:`SerialTrace`. The renderers
(:mod:`station.reports.formats`, and ``gui.report_pdf`` for PDF) only read these values, so
every format shows the same figures. :mod:`station.reports.cloud_source` builds a
:class:`BatchReport` from the DynamoDB table instead; the figures only the station knows
are then ``None`` and named in :attr:`BatchReport.unavailable`.

Definitions are in ``records/reports.py`` and, for people, in ``docs/reports.md``.
Percentiles use the nearest-rank method: the p-th percentile of n sorted values is the
value at rank ``ceil(p / 100 * n)``, so it is always a time that was really measured.

No value in a report is secret: keys and certificates appear only as SHA-256
fingerprints, and free text that came from a board or a person (error details, hints,
audit details) goes through :func:`redact` on its way in.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, NamedTuple

from records import Attempt, AuditEntry, Records, Unit, iso_utc
from records.reports import DEFAULT_STEP_SAMPLE, ReportQueries
from station.errors import StationError

SCHEMA_VERSION = 1
"""Version of the JSON layout (``docs/reports.md``); bumped on any incompatible change."""

MAX_FILLED_HOURS = 744
"""The throughput lists every hour between the first and the last finished attempt (empty
hours as 0) unless that is more than 31 days of hours; then only hours with activity."""

STATION_ONLY_FIELDS = (
    "header.planned_quantity",
    "header.opened_at",
    "header.closed_at",
    "header.operators",
    "header.first_attempt_at",
    "header.last_attempt_at",
    "counts.attempts",
    "counts.attempts_passed",
    "counts.attempts_failed",
    "counts.attempts_aborted",
    "counts.attempts_running",
    "counts.attempts_without_serial",
    "counts.units_attempted",
    "counts.units_failed",
    "counts.units_in_progress",
    "counts.units_retested",
    "counts.units_first_pass",
    "counts.units_pending_sync",
    "counts.first_pass_yield",
    "counts.final_yield",
    "counts.attempts_per_unit_mean",
    "counts.attempts_per_unit_max",
    "failures",
    "cycle_times",
    "throughput.attempts",
    "units.attempts",
    "units.first_pass",
    "units.first_pass_at",
    "units.operator",
    "units.last_error_code",
)
"""What only the station knows: the cloud holds one item per unit that passed (its
allow-list row), not the attempts, failures, times or operators behind it."""


class ReportError(StationError):
    code = "REPORT_ERROR"
    hint = "See the station log for details."


# -- the report tree ----------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimCertificate:
    """A claim certificate used in the batch (fingerprint only) and how many units got it."""

    sha256: str
    units: int


@dataclass(frozen=True)
class ReportHeader:
    batch: str
    product: str | None
    planned_quantity: int | None
    opened_at: str | None
    opened_by: str | None
    closed_at: str | None
    closed_by: str | None
    stations: tuple[str, ...]
    operators: tuple[str, ...] | None
    first_attempt_at: str | None
    last_attempt_at: str | None
    first_pass_at: str | None
    last_pass_at: str | None
    claim_certificates: tuple[ClaimCertificate, ...]
    generated_at: str
    generated_by: str | None
    """The station that made the report (its ``[station] id``), when known."""
    source: str
    """``station`` (the station database) or ``cloud`` (the DynamoDB table)."""
    table: str | None = None
    """The DynamoDB table, for ``source == 'cloud'``."""


@dataclass(frozen=True)
class Counts:
    """The batch in numbers; ``None`` means "not known from this source"."""

    attempts: int | None
    attempts_passed: int | None
    attempts_failed: int | None
    attempts_aborted: int | None
    attempts_running: int | None
    attempts_without_serial: int | None
    units_attempted: int | None
    units_passed: int
    units_failed: int | None
    units_in_progress: int | None
    units_retested: int | None
    units_first_pass: int | None
    allow_list_units: int
    units_revoked: int
    units_pending_sync: int | None
    units_synced: int
    first_pass_yield: float | None
    final_yield: float | None
    attempts_per_unit_mean: float | None
    attempts_per_unit_max: int | None
    units_provisioned: int | None = None
    """Units the pre-provisioning hook let register (``provisioned_at`` set): cloud only."""


@dataclass(frozen=True)
class FailureCode:
    """One bar of the failure Pareto: failed (or aborted) attempts with this error code."""

    code: str
    attempts: int
    units: int
    share: float
    """Of all failed and aborted attempts of the batch."""
    cumulative_share: float
    hint: str | None


@dataclass(frozen=True)
class DurationStats:
    name: str
    count: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    mean_ms: float


@dataclass(frozen=True)
class CycleTimes:
    per_unit: DurationStats | None
    """Duration of the passing attempts (finished minus started)."""
    per_step: tuple[DurationStats, ...]
    """Steps that finished OK, in pipeline order."""
    step_attempts_used: int
    step_attempts_total: int
    """Per-step figures come from ``step_attempts_used`` of ``step_attempts_total`` finished
    attempts (all of them unless the batch is large: see records.reports)."""


@dataclass(frozen=True)
class HourBucket:
    hour: str
    """Start of the UTC hour, ``YYYY-MM-DDTHH:00Z``."""
    attempts: int | None
    passed: int


class UnitRow(NamedTuple):
    """One row of the unit list (a tuple: a batch can hold 100,000 of them).

    ``result``: ``pass`` | ``fail`` | ``running``; ``status``: ``allowed`` | ``revoked`` or
    None (no allow-list row in this batch); ``sync_state``: ``synced`` | ``pending`` or None;
    ``first_pass`` is 1 if the unit passed on its first attempt, else 0.
    """

    serial: str
    result: str
    attempts: int | None
    first_pass: int | None
    status: str | None
    device_key_sha256: str | None
    first_pass_at: str | None
    last_pass_at: str | None
    operator: str | None
    station_id: str | None
    sync_state: str | None
    last_error_code: str | None
    provisioned_at: str | None = None


_as_unit_row = partial(tuple.__new__, UnitRow)
"""A row of :data:`records.reports.UNIT_COLUMNS` plus ``provisioned`` as a :class:`UnitRow`,
in one C call (``UnitRow._make`` is a Python function: a quarter of a second on 100,000)."""


@dataclass(frozen=True)
class BatchReport:
    schema_version: int
    header: ReportHeader
    counts: Counts
    failures: tuple[FailureCode, ...]
    cycle_times: CycleTimes | None
    throughput: tuple[HourBucket, ...]
    units: tuple[UnitRow, ...] | StreamedUnits
    units_included: bool
    """False when the report was built without its unit list (on-screen summaries)."""
    notes: tuple[str, ...]
    """Plain sentences every format shows: an empty batch, sampling, what a source lacks."""
    unavailable: tuple[str, ...] = ()
    """Fields not known from this source (see :data:`STATION_ONLY_FIELDS`)."""

    @property
    def is_empty(self) -> bool:
        """No attempt (station) or no unit (cloud) in the batch."""
        if self.header.source == "cloud":
            return self.counts.units_passed == 0
        return not self.counts.attempts

    def exceptions(self) -> list[UnitRow]:
        """Units that need a look: not PASS, PASS only after a retry, revoked, or not
        synced yet (what the PDF lists)."""
        return list(self.iter_exceptions())

    def iter_exceptions(self) -> Iterator[UnitRow]:
        """:meth:`exceptions` one at a time, in one pass over the unit list (which a
        streamed report reads from the database as it goes, asking only for these)."""
        if isinstance(self.units, StreamedUnits):
            yield from self.units.needing_a_look()
            return
        for row in self.units:
            if row.result != "pass" or row.first_pass == 0 or row.status == "revoked" or row.sync_state == "pending":
                yield row


@dataclass(frozen=True)
class SerialTrace:
    """Everything the station knows about one serial."""

    serial: str
    generated_at: str
    unit: Unit | None
    attempts: tuple[Attempt, ...]
    """Oldest first, in every batch."""
    audit: tuple[AuditEntry, ...]
    """Entries about the serial and about its attempts (``attempt:<id>``), in log order."""
    labels: tuple[Any, ...] = ()
    """Every label printed (or waiting) for the serial, oldest first (``records.LabelRecord``)."""

    @property
    def batches(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for attempt in self.attempts:
            if attempt.batch:
                seen.setdefault(attempt.batch)
        if self.unit is not None:
            seen.setdefault(self.unit.batch)
        return tuple(seen)


# -- building ------------------------------------------------------------------------------


def build_report(
    records: Records,
    batch_id: str,
    *,
    include_units: bool = True,
    now: Callable[[], datetime] | None = None,
    station_id: str | None = None,
    step_sample: int | None = DEFAULT_STEP_SAMPLE,
    stream_units: bool = False,
) -> BatchReport:
    """The report of ``batch_id`` from the station database.

    ``include_units=False`` leaves the unit list out (an on-screen summary of a big batch
    is then a few aggregates). Raises :class:`ReportError` (``BATCH_NOT_FOUND``) for an
    unknown batch; a batch with no attempts gives a valid report that says so.
    """
    generated_at = iso_utc((now or utc_now)())
    if not os.path.isfile(records.path):  # a station that has no database yet
        raise batch_not_found(batch_id, records)
    with ReportQueries(records.path) as queries:
        batch = queries.batch(batch_id)
        if batch is None:
            raise batch_not_found(batch_id, records)
        activity = queries.activity(batch_id)
        allow_list = queries.allow_list_totals(batch_id)
        certificates = queries.claim_certificates(batch_id)
        failures = queries.failures(batch_id)
        pass_durations = queries.pass_durations_ms(batch_id)
        steps = queries.step_durations_ms(batch_id, max_attempts=step_sample)
        if include_units and stream_units:
            unit_totals = queries.unit_totals(batch_id)
            rows = StreamedUnits(records.path, batch_id, unit_totals["attempted"])
        elif include_units:
            rows = list(map(_as_unit_row, queries.unit_rows(batch_id, with_provisioned=True)))
            unit_totals = queries.unit_totals(batch_id)
        else:
            rows = []
            unit_totals = queries.unit_totals(batch_id)

    header = ReportHeader(
        batch=batch["id"],
        product=batch["product"],
        planned_quantity=batch["planned_quantity"],
        opened_at=batch["opened_at"],
        opened_by=batch["opened_by"],
        closed_at=batch["closed_at"],
        closed_by=batch["closed_by"],
        stations=activity.stations,
        operators=activity.operators,
        first_attempt_at=activity.first_at,
        last_attempt_at=activity.last_at,
        first_pass_at=activity.first_pass_at,
        last_pass_at=activity.last_pass_at,
        claim_certificates=tuple(ClaimCertificate(sha, n) for sha, n in certificates),
        generated_at=generated_at,
        generated_by=station_id,
        source="station",
    )
    attempted = unit_totals["attempted"]
    # a revoked unit passed once but may not join the fleet: it is no PASS of the batch
    passed = max(0, unit_totals["passed"] - allow_list["revoked"])
    counts = Counts(
        attempts=activity.attempts,
        attempts_passed=activity.passed,
        attempts_failed=activity.failed,
        attempts_aborted=activity.aborted,
        attempts_running=activity.running,
        attempts_without_serial=activity.without_serial,
        units_attempted=attempted,
        units_passed=passed,
        units_failed=unit_totals["failed"],
        units_in_progress=unit_totals["in_progress"],
        units_retested=unit_totals["retested"],
        units_first_pass=unit_totals["first_pass"],
        allow_list_units=allow_list["rows"],
        units_revoked=allow_list["revoked"],
        units_pending_sync=allow_list["pending_sync"],
        units_synced=allow_list["synced"],
        first_pass_yield=_ratio(unit_totals["first_pass"], attempted),
        final_yield=_ratio(passed, attempted),
        attempts_per_unit_mean=_ratio(unit_totals["attempts_with_serial"], attempted),
        attempts_per_unit_max=unit_totals["max_attempts"] if attempted else None,
    )
    cycle = CycleTimes(
        per_unit=duration_stats_of_counts("unit", pass_durations),
        per_step=tuple(
            stats
            for name, values in steps.durations.items()
            if (stats := duration_stats(str(name), values)) is not None
        ),
        step_attempts_used=steps.used,
        step_attempts_total=steps.total,
    )
    throughput = hour_buckets(activity.hourly)
    notes = _station_notes(counts, cycle)
    return BatchReport(
        schema_version=SCHEMA_VERSION,
        header=header,
        counts=counts,
        failures=pareto(failures),
        cycle_times=cycle,
        throughput=throughput,
        units=rows if isinstance(rows, StreamedUnits) else tuple(rows),
        units_included=include_units,
        notes=notes,
    )


def build_trace(
    records: Records, serial: str, *, now: Callable[[], datetime] | None = None
) -> SerialTrace:
    """Every attempt, step timing and audit entry of ``serial``.

    Raises :class:`ReportError` (``SERIAL_UNKNOWN``) if the station never saw it.
    """
    unit = records.get_unit(serial)
    attempts = sorted(records.attempts(serial=serial), key=lambda a: a.id)
    if unit is None and not attempts:
        raise ReportError(
            f"serial {serial!r} is unknown to this station (no unit, no attempt)",
            code="SERIAL_UNKNOWN",
            hint="Check the serial; `station units --search PART` lists close matches. "
            "A board provisioned on another station is only in that station's database "
            "(or, once synced, in `station report --source cloud`).",
        )
    entries = {entry.id: entry for entry in records.audit_entries(subject=serial)}
    for attempt in attempts:
        for entry in records.audit_entries(subject=f"attempt:{attempt.id}"):
            entries[entry.id] = entry
    return SerialTrace(
        serial=serial,
        generated_at=iso_utc((now or utc_now)()),
        unit=unit,
        attempts=tuple(_redacted_attempt(a) for a in attempts),
        audit=tuple(_redacted_entry(entries[key]) for key in sorted(entries)),
        labels=tuple(records.labels(serial)),
    )


def batch_not_found(batch_id: str, records: Records | None = None) -> ReportError:
    known = ""
    if records is not None:
        batches = [b.id for b in records.list_batches()[:5]]
        if batches:
            known = f" Recent batches: {', '.join(batches)}."
    return ReportError(
        f"there is no batch {batch_id!r} on this station",
        code="BATCH_NOT_FOUND",
        hint=f"Check the batch id (station batch list shows them all).{known}",
    )


# -- the figures ---------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of ascending ``sorted_values`` (not empty)."""
    if not sorted_values:
        raise ValueError("no values")
    return float(sorted_values[_nearest_rank(p, len(sorted_values)) - 1])


def _nearest_rank(p: float, count: int) -> int:
    """The 1-based rank of the p-th percentile among ``count`` sorted values."""
    return min(count, max(1, math.ceil(p / 100 * count)))


def duration_stats_of_counts(name: str, counts: Sequence[tuple[float, int]]) -> DurationStats | None:
    """:func:`duration_stats` of the values ``counts`` stands for (``(value, how many)``
    pairs, ascending values): the same figures without the list of every value."""
    total = sum(n for _, n in counts)
    if not total:
        return None
    ranks = {p: _nearest_rank(p, total) for p in (50, 95)}
    at: dict[int, float] = {}
    seen = 0
    for value, n in counts:
        seen += n
        for p, rank in ranks.items():
            if p not in at and seen >= rank:
                at[p] = float(value)
    return DurationStats(
        name=name,
        count=total,
        p50_ms=round(at[50], 1),
        p95_ms=round(at[95], 1),
        max_ms=round(float(counts[-1][0]), 1),
        mean_ms=round(math.fsum(value * n for value, n in counts) / total, 1),
    )


def duration_stats(name: str, sorted_values: Sequence[float]) -> DurationStats | None:
    """The figures of ascending ``sorted_values`` (a step's sampled times), each value
    counted once: one way to compute them for steps and units alike."""
    return duration_stats_of_counts(name, [(value, 1) for value in sorted_values])


def pareto(rows: Iterable[dict[str, Any]]) -> tuple[FailureCode, ...]:
    """Failure codes by count, with their share and the cumulative share."""
    rows = list(rows)
    total = sum(row["attempts"] for row in rows)
    out = []
    running = 0
    for row in rows:
        running += row["attempts"]
        out.append(
            FailureCode(
                code=row["error_code"] or "(no code)",
                attempts=row["attempts"],
                units=row["units"],
                share=round(row["attempts"] / total, 6) if total else 0.0,
                cumulative_share=round(running / total, 6) if total else 0.0,
                hint=redact(row["hint"]) if row["hint"] else None,
            )
        )
    return tuple(out)


def hour_buckets(hourly: Iterable[tuple[str, int | None, int]]) -> tuple[HourBucket, ...]:
    """``(YYYY-MM-DDTHH, attempts, passed)`` to buckets, filling empty hours in between.
    An hour that is no time (a finish time a tampered database holds) has no bucket; its
    attempts still count in the totals."""
    known = {hour: (attempts, passed) for hour, attempts, passed in hourly if _is_hour(hour)}
    if not known:
        return ()
    first = _hour(min(known))
    last = _hour(max(known))
    span = int((last - first) / timedelta(hours=1)) + 1
    if span > MAX_FILLED_HOURS:
        hours = sorted(known)
    else:
        hours = [(first + timedelta(hours=i)).strftime("%Y-%m-%dT%H") for i in range(span)]
    # From the cloud there are no attempts: an empty hour is then "unknown", not 0.
    empty = (None if any(a is None for a, _ in known.values()) else 0, 0)
    return tuple(
        HourBucket(f"{hour}:00Z", *known.get(hour, empty)) for hour in hours
    )


class StreamedUnits:
    """The unit list of a report, read from the database as it is written (``build_report(
    ..., stream_units=True)``, what ``station report`` uses): a million units in constant
    memory. Each pass reads the rows anew, from a snapshot of its own, so a unit provisioned
    after the counts were taken may appear in the list; ``len()`` is the count."""

    def __init__(self, path: str | os.PathLike[str], batch_id: str, count: int) -> None:
        self.path = path
        self.batch_id = batch_id
        self.count = count

    def __iter__(self) -> Iterator[UnitRow]:
        for rows in self.pages():
            yield from map(_as_unit_row, rows)

    def pages(self, size: int = 5000, *, needing_a_look: bool = False) -> Iterator[list[tuple]]:
        """The rows a few thousand at a time, as plain tuples in :class:`UnitRow`'s column
        order: what the writers of a million-unit report take, a row costing no object of
        its own. ``needing_a_look`` keeps those of :meth:`BatchReport.exceptions` (SQLite
        filters them)."""
        with ReportQueries(self.path) as queries:
            yield from queries.iter_unit_pages(self.batch_id, page=size, with_provisioned=True,
                                               needing_a_look=needing_a_look)

    def needing_a_look(self) -> Iterator[UnitRow]:
        """The rows of :meth:`BatchReport.exceptions`, filtered by SQLite."""
        for rows in self.pages(needing_a_look=True):
            yield from map(_as_unit_row, rows)

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.count > 0


def _station_notes(counts: Counts, cycle: CycleTimes) -> tuple[str, ...]:
    notes = []
    if not counts.attempts:
        notes.append(
            "No attempts in this batch yet: no board has been tried, so there are no "
            "counts, failures or times to report."
        )
    if counts.attempts_without_serial:
        notes.append(
            f"{counts.attempts_without_serial} attempt(s) failed before the board's serial "
            "was read: they count as attempts and in the failure Pareto, not as units."
        )
    if counts.attempts_running:
        notes.append(f"{counts.attempts_running} attempt(s) were still running.")
    if cycle.step_attempts_used < cycle.step_attempts_total:
        notes.append(
            f"Per-step times come from {cycle.step_attempts_used} of "
            f"{cycle.step_attempts_total} attempts, evenly spread over the batch."
        )
    return tuple(notes)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def _hour(text: str) -> datetime:
    return datetime.strptime(text[:13], "%Y-%m-%dT%H").replace(tzinfo=UTC)


def _is_hour(text: Any) -> bool:
    try:
        _hour(text)
    except (TypeError, ValueError):
        return False
    return True


def utc_now() -> datetime:
    return datetime.now(UTC)


# -- keeping secrets out -------------------------------------------------------------------

_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(-----END [A-Z0-9 ]+-----|\Z)", re.DOTALL)
_PRIVATE = re.compile(r"PRIVATE KEY")


def redact(text: str) -> str:
    """``text`` without PEM blocks; anything mentioning a private key is withheld whole.

    Nothing secret is ever recorded (records and the pipeline make sure of that); this is
    the report's own second line of defence for free text that came from elsewhere.
    """
    if "-----BEGIN" in text:
        text = _PEM.sub("[PEM block removed]", text)
    if _PRIVATE.search(text):
        return "[withheld: mentions a private key]"
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


def _redacted_attempt(attempt: Attempt) -> Attempt:
    return replace(
        attempt,
        error_detail=redact(attempt.error_detail) if attempt.error_detail else None,
        hint=redact(attempt.hint) if attempt.hint else None,
        reprovision_reason=(
            redact(attempt.reprovision_reason) if attempt.reprovision_reason else None
        ),
    )


def _redacted_entry(entry: AuditEntry) -> AuditEntry:
    return replace(entry, details=_redact_value(entry.details))
