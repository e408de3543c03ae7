"""The DynamoDB sync: send the station's allow-list changes to the hook's table.

How it works (docs/sync.md has the long version):

* **Only what changed.** A unit is pending while ``synced_rev < rev`` (records keeps a partial
  index of exactly those rows). A run first asks ``count_pending_sync()``; when nothing is
  pending it records the run and returns without creating a client or calling the cloud.
* **One conditional UpdateItem per unit**, built by :mod:`station.allowlist_item` (the
  station-owned attributes, signed with the station's key; never the hook's)::

      attribute_not_exists(serial)
      OR (station_id = :station_id AND (attribute_not_exists(rev) OR rev < :rev))

  so a replay, a retry after a timeout, or an older copy of the station database can never
  overwrite newer data, and a serial owned by another station is never taken over.
  ``factory_at`` is the unit's **last** PASS time: the fingerprints sent with it come from
  that PASS. Before an ``allowed`` unit is written, the device-key index is asked whether
  another serial already holds its key: if so the unit is a conflict (keys are unique
  across the fleet).
* **When the condition fails** DynamoDB returns the item (``ALL_OLD``). This station's own
  item at a rev at least ours is *unchanged* only when it says the same; a **revoke** of
  ours always wins (the unit's rev is moved past the cloud's, audited, and sent again); any
  other difference is a *conflict* (an older copy of the database was restored?). An item
  of another station (or of none) is a conflict too. Conflicts are recorded with
  ``record_sync_conflict``, never overwritten, and the unit is marked synced at that rev so
  it is not resent on every run; it goes out again when its rev changes.
* **Fast within DynamoDB's limits.** UpdateItem is single-item, so units go out
  concurrently from a bounded thread pool sharing one (thread-safe) client. The window of
  requests in flight halves when DynamoDB throttles and grows back on success; botocore's
  standard retry mode retries each request a few times on top.
* **Offline first.** Provisioning never waits for the sync. A transient failure (no network,
  5xx, throttling, timeouts) pauses sending, backs off (full jitter, exponential, capped)
  and retries the failed units; after ``retry_for_seconds`` without any confirmation the
  run stops and reports the error, leaving the rest queued for the next run. A permanent
  error (no table, bad credentials, access denied, bad endpoint URL) stops the run at once
  with one :class:`SyncError` saying what to fix.
* Only confirmed rows are marked synced, with the exact rev that was sent; every run is
  recorded with ``record_sync_run``, successful or not.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from records import Records, Unit
from records.clock import iso_utc, system_clock
from station.allowlist_item import AllowlistItem, decode_item, plain_item, serials_holding_key
from station.config import CloudConfig, StationConfig
from station.errors import StationError
from station.locks import FileLock, lock_path
from station.sync.dynamo import (
    ClientSettings,
    SyncError,
    classify_error,
    error_code,
    make_client,
    refuse_secrets_in_ini,
)
from station.sync.signing import RowSigner, load_signing_key

__all__ = [
    "CONDITION_EXPRESSION",
    "AllowlistSync",
    "ItemFailure",
    "SyncError",
    "SyncReport",
    "check_sync_config",
    "resend_if_the_table_forgot",
    "run_station_sync",
    "sync_lock",
]

log = logging.getLogger(__name__)

CONDITION_EXPRESSION = (
    "attribute_not_exists(#serial) OR "
    "(#station_id = :station_id AND (attribute_not_exists(#rev) OR #rev < :rev))"
)
"""A unit is written only as a new item, or over this station's own older revision."""


class _Kind(Enum):
    SENT = "sent"
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    REBASED = "rebased"


@dataclass(frozen=True)
class ItemFailure:
    """A unit that was not confirmed in a run; it stays pending."""

    serial: str
    rev: int
    code: str
    message: str


@dataclass(frozen=True)
class SyncReport:
    """What one run did. ``pending_left`` is the backlog after the run.

    ``error`` (``"CODE: message"``) is set when the run stopped early: transient errors leave
    ``permanent`` False (the rows go out next time by themselves); permanent ones need a
    person (``hint`` says what to do).
    """

    sent: int
    unchanged: int
    conflicts: int
    failed: int
    pending_left: int
    error: str | None = None
    error_code: str | None = None
    hint: str | None = None
    permanent: bool = False
    conflict_serials: tuple[str, ...] = ()
    failures: tuple[ItemFailure, ...] = ()
    started_at: str = ""
    finished_at: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Everything that was pending is in the cloud and nothing needs a look."""
        return self.error is None and self.failed == 0 and self.conflicts == 0

    @property
    def exit_code(self) -> int:
        """0 all synced, 3 permanent error (fix config/credentials/table), 4 anything else
        left to do or look at (conflicts, transient failures, rows still pending)."""
        if self.error is not None and self.permanent:
            return 3
        return 0 if self.ok else 4

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["conflict_serials"] = list(self.conflict_serials)
        data["failures"] = [asdict(f) for f in self.failures]
        data["ok"] = self.ok
        data["exit_code"] = self.exit_code
        return data


@dataclass
class _Result:
    unit: Unit
    kind: _Kind
    detail: str = ""
    error: SyncError | None = None
    throttled: bool = False
    cloud_rev: int | None = None


# -- the sync ----------------------------------------------------------------------------


@dataclass
class _RunState:
    workers: int
    window: int
    last_progress: float
    sent: int = 0
    unchanged: int = 0
    conflict_serials: list[str] = field(default_factory=list)
    failures: dict[str, ItemFailure] = field(default_factory=dict)
    tried: dict[str, int] = field(default_factory=dict)
    last_transient: SyncError | None = None
    stopped: SyncError | None = None
    done: int = 0
    total: int = 0
    grow_credit: int = 0
    rebased: int = 0


Progress = Callable[[int, int], None]


class AllowlistSync:
    """Sync a station's allow-list (``records``) into the hook's DynamoDB table.

    ``table`` is one of: a boto3 DynamoDB **client** (``table_name`` required), a boto3
    ``Table`` **resource** (its client and name are used: clients are thread-safe, resources
    are not), or a zero-argument **callable** returning a client, called only when there is
    something to send (so a no-op run never builds one).

    ``signer`` signs every row (the hook refuses unsigned ones); ``check_fleet_keys`` refuses
    to send a device key another serial holds in the table.
    ``clock``/``sleep`` (monotonic seconds) and ``rng`` make the retry timing testable;
    ``now`` makes the recorded run timestamps testable.
    """

    def __init__(
        self,
        records: Records,
        table: Any,
        *,
        station_id: str,
        table_name: str | None = None,
        workers: int = 32,
        page_size: int = 1000,
        retry_for_seconds: float = 30.0,
        backoff_base: float = 0.1,
        backoff_cap: float = 5.0,
        flush_every: int = 500,
        endpoint_description: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
        signer: RowSigner | None = None,
        check_fleet_keys: bool = True,
    ) -> None:
        if not station_id:
            raise ValueError("station_id must not be empty")
        if workers < 1 or page_size < 1 or flush_every < 1:
            raise ValueError("workers, page_size and flush_every must be at least 1")
        self.records = records
        self.station_id = station_id
        self.workers = workers
        self.page_size = page_size
        self.retry_for_seconds = retry_for_seconds
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.flush_every = flush_every
        self._clock = clock
        self._sleep = sleep
        self._now = now or system_clock
        self._rng = rng or random.Random()  # jitter, not security
        self._client: Any = None
        self._factory: Callable[[], Any] | None = None
        # A resource's client converts Python values to DynamoDB's wire format itself, so
        # with a resource the parameters are given as plain values ("native").
        self._native = False
        meta = getattr(table, "meta", None)
        if hasattr(table, "name") and hasattr(meta, "client"):
            self._client = meta.client  # a Table resource: use its thread-safe client
            self._native = True
            table_name = table_name or table.name
        elif hasattr(table, "update_item"):
            self._client = table  # a low-level client
        elif hasattr(meta, "client"):
            self._client = meta.client  # the DynamoDB service resource
            self._native = True
        elif callable(table):
            self._factory = table
        else:
            raise TypeError("table must be a boto3 DynamoDB client, Table resource or factory")
        if not table_name:
            raise ValueError("table_name is required with a client or a client factory")
        self.table_name = table_name
        self._endpoint = endpoint_description
        self._signer = signer
        self.check_fleet_keys = check_fleet_keys

    # -- public ----------------------------------------------------------------------------

    def run(self, progress: Progress | None = None) -> SyncReport:
        """Send every pending unit once; see the module docstring. Returns the report, or
        raises :class:`SyncError` (permanent, with ``.report``) after recording the run.
        ``progress(done, total)`` is called from this thread after each unit."""
        started_at = self._stamp()
        started = time.perf_counter()
        total = self.records.count_pending_sync()
        if total == 0:
            report = SyncReport(
                0, 0, 0, 0, 0, started_at=started_at, finished_at=self._stamp(),
                seconds=time.perf_counter() - started,
            )
            self._record(report)
            return report
        state = _RunState(
            workers=self.workers, window=self.workers, last_progress=self._clock(), total=total
        )
        error: SyncError | None = None
        try:
            self._drain(state, progress)
        except SyncError as exc:
            error = exc
        except BaseException as exc:  # KeyboardInterrupt, a bug: record, then re-raise
            report = self._report(state, started_at, started, SyncError(
                f"the sync was interrupted ({type(exc).__name__})", code="SYNC_INTERRUPTED",
                permanent=False,
            ))
            self._record(report)
            raise
        if error is None and state.stopped is not None:
            error = state.stopped
        report = self._report(state, started_at, started, error)
        self._record(report)
        log.info(
            "sync to %s: %d sent, %d unchanged, %d conflicts, %d failed, %d pending%s",
            self.table_name, report.sent, report.unchanged, report.conflicts, report.failed,
            report.pending_left, f" ({report.error})" if report.error else "",
        )
        if error is not None and error.permanent:
            error.report = report
            raise error
        return report

    # -- internals ---------------------------------------------------------------------------

    def _stamp(self) -> str:
        return iso_utc(self._now())

    def _record(self, report: SyncReport) -> None:
        self.records.record_sync_run(
            started_at=report.started_at,
            finished_at=report.finished_at,
            sent=report.sent,
            unchanged=report.unchanged,
            conflicts=report.conflicts,
            failed=report.failed,
            error=report.error,
        )

    def _report(
        self, state: _RunState, started_at: str, started: float, error: SyncError | None
    ) -> SyncReport:
        return SyncReport(
            sent=state.sent,
            unchanged=state.unchanged,
            conflicts=len(state.conflict_serials),
            failed=len(state.failures),
            pending_left=self.records.count_pending_sync(),
            error=None if error is None else f"{error.code}: {error.message}",
            error_code=None if error is None else error.code,
            hint=None if error is None else error.hint,
            permanent=bool(error is not None and error.permanent),
            conflict_serials=tuple(state.conflict_serials),
            failures=tuple(state.failures.values()),
            started_at=started_at,
            finished_at=self._stamp(),
            seconds=time.perf_counter() - started,
        )

    def _client_or_make(self) -> Any:
        if self._client is None:
            assert self._factory is not None
            self._client = self._factory()
        return self._client

    def _endpoint_text(self) -> str:
        if self._endpoint:
            return self._endpoint
        client = self._client
        url = getattr(getattr(client, "meta", None), "endpoint_url", None)
        return url or "DynamoDB"

    def _drain(self, state: _RunState, progress: Progress | None) -> None:
        client = self._client_or_make()
        pool_size = getattr(getattr(client.meta, "config", None), "max_pool_connections", None)
        workers = min(self.workers, pool_size) if isinstance(pool_size, int) else self.workers
        state.workers = state.window = max(1, workers)
        with ThreadPoolExecutor(max_workers=state.workers, thread_name_prefix="sync") as pool:
            while state.stopped is None:
                page = self._next_page(state)
                if not page:
                    return
                wave = _Wave(pool, client, deque(page), state, progress)
                try:
                    self._pump(wave)
                finally:
                    self._flush(wave)  # whatever was confirmed is recorded, also when interrupted

    def _next_page(self, state: _RunState) -> list[Unit]:
        """The next pending units not yet tried in this run at their current rev. Units that
        failed earlier in the run are still pending and come back first, so the limit grows
        by their number (records offers no keyset paging; see docs/sync.md)."""
        limit = self.page_size + len(state.failures)
        rows = self.records.pending_sync(limit=limit)
        return [u for u in rows if state.tried.get(u.serial) != u.rev]

    def _flush(self, wave: _Wave) -> None:
        if wave.confirmed:
            self.records.mark_synced(wave.confirmed)
            wave.confirmed.clear()
        for serial, detail in wave.conflicts:
            self.records.record_sync_conflict(serial, detail)
        wave.conflicts.clear()

    def _pump(self, wave: _Wave) -> None:
        """Send the wave's queue with at most ``state.window`` requests in flight; on a
        transient failure stop sending, let the wave finish, back off and retry."""
        while True:
            self._submit_while_room(wave)
            if not wave.in_flight:
                self._flush(wave)
                if wave.permanent is not None:
                    raise wave.permanent
                if not wave.retry:
                    if not wave.queue:
                        return
                    continue
                if not self._back_off(wave):
                    return
                continue
            done, _ = wait(wave.in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                wave.in_flight.pop(future)
                self._take(wave, future.result())
            if len(wave.confirmed) >= self.flush_every:
                self._flush(wave)
            if wave.permanent is not None:
                wave.queue.clear()  # never tried: they stay pending
                for unit in wave.retry:
                    self._fail(wave.state, unit, wave.permanent.code, wave.permanent.message)
                wave.retry.clear()

    def _submit_while_room(self, wave: _Wave) -> None:
        state = wave.state
        while wave.queue and not wave.paused and len(wave.in_flight) < state.window:
            unit = wave.queue.popleft()
            state.tried[unit.serial] = unit.rev
            problem = AllowlistItem.from_unit(unit).problem()
            if problem is not None:
                self._fail(state, unit, "SYNC_ITEM_INVALID", problem)
                self._tick(state, wave.progress)
                continue
            wave.in_flight[wave.pool.submit(self._send_one, wave.client, unit)] = unit

    def _back_off(self, wave: _Wave) -> bool:
        """A wave ended with transient failures: wait, then queue them again. False when the
        run has gone ``retry_for_seconds`` without progress and must stop."""
        state = wave.state
        if wave.progressed_since_sleep:
            wave.backoff_step = 0
        wave.progressed_since_sleep = False
        remaining = self.retry_for_seconds - (self._clock() - state.last_progress)
        if remaining <= 0:
            assert state.last_transient is not None
            for unit in wave.retry:
                self._fail(state, unit, state.last_transient.code, state.last_transient.message)
            state.stopped = state.last_transient
            return False
        delay = self._rng.uniform(0, min(self.backoff_cap, self.backoff_base * (2**wave.backoff_step)))
        wave.backoff_step += 1
        log.info("sync: %s; retrying %d unit(s) in %.2f s", state.last_transient, len(wave.retry), delay)
        self._sleep(min(delay, remaining))
        wave.queue.extendleft(reversed(wave.retry))
        wave.retry.clear()
        wave.paused = False
        return True

    def _take(self, wave: _Wave, result: _Result) -> None:
        """Account for one answered unit."""
        state, unit = wave.state, result.unit
        if result.kind is _Kind.REBASED:
            state.failures.pop(unit.serial, None)
            state.rebased += 1
            self._tick(state, wave.progress)
            return
        if result.kind in (_Kind.SENT, _Kind.UNCHANGED, _Kind.CONFLICT):
            wave.confirmed.append((unit.serial, unit.rev))
            state.failures.pop(unit.serial, None)
            state.last_progress = self._clock()
            wave.progressed_since_sleep = True
            self._grow(state)
            if result.kind is _Kind.SENT:
                state.sent += 1
            elif result.kind is _Kind.UNCHANGED:
                state.unchanged += 1
            else:
                state.conflict_serials.append(unit.serial)
                wave.conflicts.append((unit.serial, result.detail))
                log.warning("sync conflict: %s", result.detail)
            self._tick(state, wave.progress)
            return
        assert result.error is not None
        wave.paused = True
        if result.kind is _Kind.TRANSIENT:
            wave.retry.append(unit)
            state.last_transient = result.error
            if result.throttled:
                state.window = max(1, state.window // 2)
                state.grow_credit = 0
            return
        if wave.permanent is None:
            wave.permanent = result.error
        self._fail(state, unit, result.error.code, result.error.message)

    def _grow(self, state: _RunState) -> None:
        """Additive increase: one more request in flight per window's worth of successes."""
        if state.window >= state.workers:
            return
        state.grow_credit += 1
        if state.grow_credit >= state.window:
            state.window += 1
            state.grow_credit = 0

    def _tick(self, state: _RunState, progress: Progress | None) -> None:
        state.done += 1
        state.total = max(state.total, state.done)
        if progress is not None:
            progress(state.done, state.total)

    def _fail(self, state: _RunState, unit: Unit, code: str, message: str) -> None:
        state.failures[unit.serial] = ItemFailure(unit.serial, unit.rev, code, message)

    # -- one unit (runs in a worker thread) ---------------------------------------------------

    def _item(self, unit: Unit) -> AllowlistItem:
        item = AllowlistItem.from_unit(unit)
        return self._signer.sign(item) if self._signer is not None else item

    def _send_one(self, client: Any, unit: Unit) -> _Result:
        item = self._item(unit)
        try:
            if item.status == "allowed":
                duplicate = self._key_held_elsewhere(client, unit, item)
                if duplicate is not None:
                    return duplicate
            client.update_item(**item.update_request(self.table_name, CONDITION_EXPRESSION, native=self._native))
            return _Result(unit, _Kind.SENT)
        except Exception as exc:  # noqa: BLE001 - every failure is classified below
            if error_code(exc) == "ConditionalCheckFailedException":
                old = (getattr(exc, "response", None) or {}).get("Item")
                if old is None:
                    return self._judge_by_reading(client, unit)
                return self._judge(unit, old)
            return self._failed(unit, exc)

    def _key_held_elsewhere(self, client: Any, unit: Unit, item: AllowlistItem) -> _Result | None:
        """A conflict when another serial's item already carries this device key: a key is
        unique across the fleet (a repeat means a broken RNG or a cloned key)."""
        if not self.check_fleet_keys:
            return None
        others = serials_holding_key(client, self.table_name, item.device_key_sha256) - {item.serial}
        if not others:
            return None
        detail = (
            f"{item.serial}: its device key {item.device_key_sha256[:16]}… is already held by "
            f"{', '.join(sorted(others))} in the table; not sent (a key must be unique in the fleet)"
        )
        return _Result(unit, _Kind.CONFLICT, detail=detail)

    def _failed(self, unit: Unit, exc: BaseException) -> _Result:
        throttled, error = classify_error(exc, table=self.table_name, endpoint=self._endpoint_text())
        if error.code == "SYNC_INTERNAL_ERROR":
            log.error("sync of %s failed unexpectedly", unit.serial, exc_info=exc)
        kind = _Kind.PERMANENT if error.permanent else _Kind.TRANSIENT
        return _Result(unit, kind, error=error, throttled=throttled)

    def _judge_by_reading(self, client: Any, unit: Unit) -> _Result:
        """The endpoint did not return the item with the failed condition (older DynamoDB
        Local versions): read it, strongly consistent."""
        try:
            key = {"serial": unit.serial} if self._native else {"serial": {"S": unit.serial}}
            old = client.get_item(TableName=self.table_name, Key=key, ConsistentRead=True).get("Item")
        except Exception as exc:  # noqa: BLE001
            return self._failed(unit, exc)
        if old is None:  # deleted between the two calls: just try again
            return _Result(unit, _Kind.TRANSIENT, error=SyncError(
                f"the item of {unit.serial} changed while it was being synced",
                code="SYNC_ITEM_RACE", permanent=False,
            ))
        return self._judge(unit, old)

    def _judge(self, unit: Unit, raw: Mapping[str, Any]) -> _Result:
        """Classify a failed condition from the item the table holds.

        The table's item is this station's at a newer or equal rev: *unchanged* only when it
        says the same as ours; a revoke of ours always wins (the unit's rev moves past the
        cloud's and it is sent again); any other difference is a conflict for a person (an
        older copy of the database was restored?). Another station's item is a conflict."""
        old = decode_item(raw)
        ours = AllowlistItem.from_unit(unit)
        owner = _owner_of(raw)
        if old is not None and owner == unit.station_id:
            if old.same_content(ours):
                return _Result(unit, _Kind.UNCHANGED, cloud_rev=old.rev)
            if ours.status == "revoked":
                self.records.rebase_rev(unit.serial, old.rev, actor=f"sync:{self.station_id}",
                                        reason=f"the table held rev {old.rev}; the revoke must win")
                log.warning("sync: %s is revoked here but the table holds rev %d (%s); "
                            "sending the revoke again above it", unit.serial, old.rev, old.status)
                return _Result(unit, _Kind.REBASED, cloud_rev=old.rev)
            detail = (
                f"{unit.serial}: the table holds rev {old.rev} of this station with other content "
                f"(status {old.status}, key {old.device_key_sha256[:16]}…) than rev {unit.rev} here; "
                "an older copy of the station database? not overwritten"
            )
        elif owner == unit.station_id:
            detail = f"{unit.serial}: the table's item of this station is not readable; not overwritten"
        elif owner is None:
            detail = (
                f"{unit.serial}: the table holds an item no station wrote (no station_id); "
                f"station {unit.station_id} has rev {unit.rev} (synced by {self.station_id}); "
                "not overwritten"
            )
        else:
            detail = (
                f"{unit.serial}: the table holds it from station {owner}; "
                f"station {unit.station_id} has rev {unit.rev} (synced by {self.station_id}); "
                "not overwritten"
            )
        return _Result(unit, _Kind.CONFLICT, detail=detail, cloud_rev=old.rev if old else None)


def _owner_of(raw: Mapping[str, Any]) -> str | None:
    owner = plain_item({"station_id": raw.get("station_id")}).get("station_id")
    return owner if isinstance(owner, str) else None



@dataclass
class _Wave:
    """One page of units on its way to the table: what is queued, in flight, to retry, and
    confirmed but not yet recorded."""

    pool: ThreadPoolExecutor
    client: Any
    queue: deque[Unit]
    state: _RunState
    progress: Progress | None
    retry: list[Unit] = field(default_factory=list)
    in_flight: dict[Future[_Result], Unit] = field(default_factory=dict)
    confirmed: list[tuple[str, int]] = field(default_factory=list)
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    paused: bool = False
    permanent: SyncError | None = None
    backoff_step: int = 0
    progressed_since_sleep: bool = False


# -- running it for a station ------------------------------------------------------------


def sync_lock(config: StationConfig) -> FileLock:
    """The lock that keeps two syncs of one station from running at once (not yet taken)."""
    return FileLock(lock_path(config, "sync"), purpose="syncing this station to DynamoDB")


def check_sync_config(config: StationConfig) -> None:
    """Local checks before any sync: a table is configured, no secret in station.ini."""
    refuse_secrets_in_ini(config.path)
    if not config.cloud.configured:
        raise SyncError(
            f"no DynamoDB table is configured in {config.path}",
            code="SYNC_NOT_CONFIGURED",
            hint="Set [cloud] table (and region, or endpoint_url for a local endpoint) in "
            "station.ini.",
        )


def table_identity(client: Any, table: str) -> str | None:
    """What tells this table from another of the same name: its ARN and creation time.
    None when it cannot be read (the sync itself then reports why)."""
    try:
        found = client.describe_table(TableName=table)["Table"]
    except Exception:  # noqa: BLE001 - the sync that follows reports a missing table or access
        return None
    return f"{found.get('TableArn')}@{found.get('CreationDateTime')}"


def resend_if_the_table_forgot(records: Records, cloud: CloudConfig) -> int:
    """Units are marked synced once a table confirmed them; if the table now answering is
    another one (re-created, or `station cloud local` restarted with an empty memory),
    those units are missing there: mark them all pending again (audited). Returns how many.
    ``station sync`` and the app's sync both call it before a run."""
    if not cloud.table:
        return 0
    client = make_client(cloud, settings=ClientSettings(max_pool_connections=1))
    try:
        identity = table_identity(client, cloud.table)
    finally:
        close = getattr(client, "close", None)
        if close is not None:
            close()
    if identity is None:
        return 0
    known = records.sync_target()
    if known == identity:
        return 0
    if known is None:
        records.set_sync_target(identity)
        return 0
    return records.resend_all(identity, actor="sync", reason=f"table {cloud.table} is another table now")


def station_signer(config: StationConfig) -> RowSigner:
    """The station's row signer, from ``[station] signing_key``."""
    return load_signing_key(config.signing_key, config.station_id,
                            passphrase_env=config.signing_passphrase_env)


def run_station_sync(
    records: Records,
    config: StationConfig,
    *,
    settings: ClientSettings | None = None,
    progress: Progress | None = None,
    lock: bool = True,
    **options: Any,
) -> SyncReport:
    """One sync run for a station: check the config, take the sync lock
    (:class:`station.locks.LockBusy` if another sync runs), load the signing key when
    something is pending, run. ``station sync``, the app and the demo all sync this way.

    The client is made only if something is pending. ``options`` go to :class:`AllowlistSync`.
    """
    from station.sync.dynamo import describe_endpoint

    try:
        check_sync_config(config)
    except StationError as exc:
        now = iso_utc(system_clock())
        records.record_sync_run(
            started_at=now, finished_at=now, sent=0, unchanged=0, conflicts=0, failed=0,
            error=f"{exc.code}: {exc.message}",
        )
        raise
    cloud = config.cloud
    assert cloud.table is not None
    held = sync_lock(config).acquire() if lock else None
    try:
        if "signer" not in options and records.count_pending_sync():
            options["signer"] = station_signer(config)
        sync = AllowlistSync(
            records,
            lambda: make_client(cloud, settings=settings),
            station_id=config.station_id,
            table_name=cloud.table,
            endpoint_description=describe_endpoint(cloud),
            **options,
        )
        return sync.run(progress=progress)
    finally:
        if held is not None:
            held.release()
