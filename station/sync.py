"""The DynamoDB sync: send the station's allow-list changes to the hook's table.

How it works (docs/sync.md has the long version):

* **Only what changed.** A unit is pending while ``synced_rev < rev`` (records keeps a partial
  index of exactly those rows). A run first asks ``count_pending_sync()``; when nothing is
  pending it records the run and returns without creating a client or calling the cloud.
* **One conditional UpdateItem per unit**, setting only the station-owned attributes of the
  cloud contract (``status, batch, product, station_id, device_key_sha256,
  claim_cert_sha256, factory_at, rev``) and never the hook's (``provisioned_at,
  certificate_id, thing_name``)::

      attribute_not_exists(serial)
      OR (station_id = :station_id AND (attribute_not_exists(rev) OR rev < :rev))

  so a replay, a retry after a timeout, or an older copy of the station database can never
  overwrite newer data, and a serial owned by another station is never taken over.
  ``factory_at`` is the unit's **last** PASS time: the fingerprints sent with it come from
  that PASS.
* **When the condition fails** DynamoDB returns the item (``ALL_OLD``); if the same station
  holds a rev at least ours the unit is *unchanged* (confirmed); if another station (or no
  station) owns the item it is a *conflict*: recorded with ``record_sync_conflict``, never
  overwritten, and the unit is marked synced at that rev so it is not resent on every run;
  it goes out again only when its rev changes (a revoke, a new PASS).
* **Fast within DynamoDB's limits.** UpdateItem is single-item, so units go out
  concurrently from a bounded thread pool sharing one (thread-safe) client. The window of
  requests in flight halves when DynamoDB throttles and grows back on success; botocore's
  adaptive retry mode rate-limits the client as well.
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
import re
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from records import Records, Unit
from records.clock import iso_utc, system_clock

from .config import StationConfig
from .context import lock_path
from .dynamo import ClientSettings, SyncError, make_client, refuse_secrets_in_ini
from .errors import StationError
from .locks import FileLock

__all__ = [
    "CONDITION_EXPRESSION",
    "EXPRESSION_ATTRIBUTE_NAMES",
    "HOOK_ATTRIBUTES",
    "STATION_ATTRIBUTES",
    "UPDATE_EXPRESSION",
    "AllowlistSync",
    "ItemFailure",
    "SyncError",
    "StationSync",
    "SyncReport",
    "classify_error",
    "item_values",
    "check_sync_config",
    "run_station_sync",
    "sync_from_station",
    "sync_lock",
    "unit_problem",
]

log = logging.getLogger(__name__)

# -- the cloud contract ------------------------------------------------------------------

STATION_ATTRIBUTES = (
    "status",
    "batch",
    "product",
    "station_id",
    "device_key_sha256",
    "claim_cert_sha256",
    "factory_at",
    "rev",
)
"""What the station writes (and the only attributes it ever writes)."""

HOOK_ATTRIBUTES = ("provisioned_at", "certificate_id", "thing_name")
"""What the pre-provisioning hook writes; the sync never names them."""

EXPRESSION_ATTRIBUTE_NAMES = {
    "#serial": "serial",
    "#status": "status",
    "#batch": "batch",
    "#product": "product",
    "#station_id": "station_id",
    "#device_key": "device_key_sha256",
    "#claim_cert": "claim_cert_sha256",
    "#factory_at": "factory_at",
    "#rev": "rev",
}

UPDATE_EXPRESSION = (
    "SET #status = :status, #batch = :batch, #product = :product, "
    "#station_id = :station_id, #device_key = :device_key, #claim_cert = :claim_cert, "
    "#factory_at = :factory_at, #rev = :rev"
)

CONDITION_EXPRESSION = (
    "attribute_not_exists(#serial) OR "
    "(#station_id = :station_id AND (attribute_not_exists(#rev) OR #rev < :rev))"
)

# DynamoDB limits (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html)
MAX_ITEM_BYTES = 400 * 1024
HOOK_RESERVE_BYTES = 2 * 1024  # provisioned_at, certificate_id, thing_name (<= 128) and names
MAX_PARTITION_KEY_BYTES = 2048
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

# -- error classes -----------------------------------------------------------------------

THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "Throttling",
        "TooManyRequestsException",
        "SlowDown",
    }
)
TRANSIENT_CODES = frozenset(
    {
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "TransactionConflictException",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
    }
)
BAD_CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "MissingAuthenticationToken",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredTokenException",
        "ExpiredToken",
        "InvalidAccessKeyId",
        "AuthFailure",
    }
)
ACCESS_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "NotAuthorized"})


class _Kind(Enum):
    SENT = "sent"
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


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


# -- item building and checking ----------------------------------------------------------


def item_values(unit: Unit) -> dict[str, dict[str, str]]:
    """``ExpressionAttributeValues`` for one unit (the station-owned attributes)."""
    return {
        ":status": {"S": unit.status},
        ":batch": {"S": unit.batch},
        ":product": {"S": unit.product},
        ":station_id": {"S": unit.station_id},
        ":device_key": {"S": unit.device_key_sha256},
        ":claim_cert": {"S": unit.claim_cert_sha256},
        ":factory_at": {"S": unit.last_pass_at},
        ":rev": {"N": str(int(unit.rev))},
    }


def _native(value: dict[str, str]) -> Any:
    """A wire-format value (``{"S": ...}`` / ``{"N": ...}``) as the plain value a boto3
    resource expects."""
    (kind, raw), = value.items()
    return int(raw) if kind == "N" else raw


def _plain(value: Any) -> Any:
    """An attribute of a returned item, wire format or already plain, as a plain value."""
    if isinstance(value, dict) and len(value) == 1:
        (kind, raw), = value.items()
        if kind in ("S", "N"):
            return raw
        return None
    return value


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def unit_problem(unit: Unit) -> str | None:
    """Why ``unit`` cannot be written as an item of the contract, or None.

    Checks what DynamoDB would refuse (partition key over 2 KB, empty index key, item over
    400 KB including room for the hook's attributes, invalid UTF-8) and what the hook would
    deny (fingerprints that are not 64 lowercase hex digits, unknown status).
    """
    texts = {
        "serial": unit.serial,
        "status": unit.status,
        "batch": unit.batch,
        "product": unit.product,
        "station_id": unit.station_id,
        "device_key_sha256": unit.device_key_sha256,
        "claim_cert_sha256": unit.claim_cert_sha256,
        "factory_at": unit.last_pass_at,
    }
    size = 0
    for name, value in texts.items():
        if not isinstance(value, str) or not value:
            return f"{name} is empty"
        try:
            size += len(name) + _utf8_len(value)
        except UnicodeEncodeError:
            return f"{name} is not valid UTF-8 text"
    if _utf8_len(unit.serial) > MAX_PARTITION_KEY_BYTES:
        return f"serial is longer than DynamoDB's {MAX_PARTITION_KEY_BYTES}-byte key limit"
    if _utf8_len(unit.batch) > MAX_PARTITION_KEY_BYTES:
        return f"batch is longer than the {MAX_PARTITION_KEY_BYTES}-byte index key limit"
    if unit.status not in ("allowed", "revoked"):
        return f"status {unit.status!r} is neither allowed nor revoked"
    for name in ("device_key_sha256", "claim_cert_sha256"):
        if not _SHA256_HEX.fullmatch(texts[name]):
            return f"{name} is not a lowercase hex SHA-256"
    if isinstance(unit.rev, bool) or not isinstance(unit.rev, int) or unit.rev < 1:
        return f"rev {unit.rev!r} is not a positive whole number"
    size += len("rev") + len(str(unit.rev))
    if size > MAX_ITEM_BYTES - HOOK_RESERVE_BYTES:
        return (
            f"the item would be {size} bytes; DynamoDB's limit is {MAX_ITEM_BYTES} "
            f"(with {HOOK_RESERVE_BYTES} kept for the hook's attributes)"
        )
    return None


# -- errors ------------------------------------------------------------------------------


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", "") or "")


def _error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Message", "") or exc)


def _http_status(exc: BaseException) -> int:
    response = getattr(exc, "response", None) or {}
    try:
        return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    except (TypeError, ValueError):
        return 0


def classify_error(exc: BaseException, *, table: str, endpoint: str) -> tuple[bool, SyncError]:
    """Turn an exception from a DynamoDB call into ``(throttled, SyncError)``; the error's
    ``permanent`` flag says whether retrying can help."""
    from botocore import exceptions as bx

    credential_errors = tuple(
        cls
        for cls in (
            getattr(bx, name, None)
            for name in (
                "NoCredentialsError",
                "PartialCredentialsError",
                "CredentialRetrievalError",
                "SSOTokenLoadError",
                "UnauthorizedSSOTokenError",
                "TokenRetrievalError",
                "InvalidConfigError",
            )
        )
        if isinstance(cls, type)
    )
    if isinstance(exc, SyncError):
        return False, exc
    if isinstance(exc, bx.ClientError):
        code, message, status = _error_code(exc), _error_message(exc), _http_status(exc)
        if code == "ResourceNotFoundException":
            return False, SyncError(
                f"the DynamoDB table {table!r} does not exist at {endpoint}",
                code="SYNC_TABLE_MISSING",
                hint="Create it with `station table create` (or deploy cloud/template.yaml), "
                "or fix [cloud] table and region in station.ini.",
            )
        if code in ACCESS_DENIED_CODES:
            return False, SyncError(
                f"the AWS identity may not write to the table {table!r} ({code}: {message})",
                code="SYNC_ACCESS_DENIED",
                hint="Allow dynamodb:UpdateItem and dynamodb:GetItem on the table for the "
                "station's user or role, or set [cloud] profile to one that has them.",
            )
        if code in BAD_CREDENTIAL_CODES:
            return False, SyncError(
                f"{endpoint} rejected the station's AWS credentials ({code}: {message})",
                code="SYNC_BAD_CREDENTIALS",
                hint="Check the profile in [cloud] profile or the AWS_* environment variables; "
                "refresh expired credentials (e.g. aws sso login) and check the clock.",
            )
        if code in THROTTLING_CODES:
            return True, SyncError(
                f"DynamoDB is throttling the sync ({code})",
                code="SYNC_THROTTLED",
                hint="The rest goes out on the next run; raise the table's capacity if this "
                "keeps happening.",
                permanent=False,
            )
        if code in TRANSIENT_CODES or status >= 500:
            return False, SyncError(
                f"{endpoint} had a server error ({code or status}: {message})",
                code="SYNC_SERVER_ERROR",
                hint="Nothing to do: pending rows go out on the next run.",
                permanent=False,
            )
        return False, SyncError(
            f"DynamoDB rejected the update ({code or status}: {message})",
            code="SYNC_REQUEST_REJECTED",
            hint=f"Check that {table!r} is the allow-list table (partition key serial, a "
            "string); see docs/sync.md.",
        )
    if credential_errors and isinstance(exc, credential_errors):
        return False, SyncError(
            f"no usable AWS credentials for the sync ({type(exc).__name__}: {exc})",
            code="SYNC_NO_CREDENTIALS",
            hint="Name a profile in [cloud] profile (aws configure --profile NAME), set the "
            "AWS_* environment variables, or run where an instance role is available.",
        )
    if isinstance(exc, bx.ProfileNotFound):
        return False, SyncError(
            str(exc), code="SYNC_PROFILE_MISSING", hint="Fix [cloud] profile in station.ini."
        )
    if isinstance(exc, bx.NoRegionError):
        return False, SyncError(
            "no AWS region is configured for the sync",
            code="SYNC_NO_REGION",
            hint="Set [cloud] region in station.ini.",
        )
    if isinstance(exc, bx.ConnectionError | bx.HTTPClientError):
        return False, SyncError(
            f"cannot reach {endpoint} ({type(exc).__name__}: {exc})",
            code="SYNC_ENDPOINT_UNREACHABLE",
            hint="Check the network (or that the local endpoint is running); pending rows go "
            "out on the next run.",
            permanent=False,
        )
    if isinstance(exc, bx.ParamValidationError):
        return False, SyncError(
            f"the sync built an invalid request: {exc}",
            code="SYNC_REQUEST_REJECTED",
            hint="Report this to engineering with the station log.",
        )
    return False, SyncError(
        f"unexpected error while syncing ({type(exc).__name__}: {exc})",
        code="SYNC_INTERNAL_ERROR",
        hint="See the station log and report it to engineering.",
    )


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


Progress = Callable[[int, int], None]


class AllowlistSync:
    """Sync a station's allow-list (``records``) into the hook's DynamoDB table.

    ``table`` is one of: a boto3 DynamoDB **client** (``table_name`` required), a boto3
    ``Table`` **resource** (its client and name are used: clients are thread-safe, resources
    are not), or a zero-argument **callable** returning a client, called only when there is
    something to send (so a no-op run never builds one).

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
                self._send_page(pool, client, page, state, progress)

    def _next_page(self, state: _RunState) -> list[Unit]:
        """The next pending units not yet tried in this run at their current rev. Units that
        failed earlier in the run are still pending and come back first, so the limit grows
        by their number (records offers no keyset paging; see docs/sync.md)."""
        limit = self.page_size + len(state.failures)
        rows = self.records.pending_sync(limit=limit)
        return [u for u in rows if state.tried.get(u.serial) != u.rev]

    def _send_page(
        self,
        pool: ThreadPoolExecutor,
        client: Any,
        units: list[Unit],
        state: _RunState,
        progress: Progress | None,
    ) -> None:
        queue: deque[Unit] = deque(units)
        retry: list[Unit] = []
        in_flight: dict[Future[_Result], Unit] = {}
        confirmed: list[tuple[str, int]] = []
        conflicts: list[tuple[str, str]] = []

        def flush() -> None:
            if confirmed:
                self.records.mark_synced(confirmed)
                confirmed.clear()
            for serial, detail in conflicts:
                self.records.record_sync_conflict(serial, detail)
            conflicts.clear()

        try:
            self._pump(pool, client, queue, retry, in_flight, confirmed, conflicts, flush,
                       state, progress)
        finally:
            flush()  # whatever was confirmed is recorded, also when interrupted

    def _pump(
        self,
        pool: ThreadPoolExecutor,
        client: Any,
        queue: deque[Unit],
        retry: list[Unit],
        in_flight: dict[Future[_Result], Unit],
        confirmed: list[tuple[str, int]],
        conflicts: list[tuple[str, str]],
        flush: Callable[[], None],
        state: _RunState,
        progress: Progress | None,
    ) -> None:
        """Send the queue with at most ``state.window`` requests in flight; on a transient
        failure stop sending, let the wave finish, back off and retry the failed units."""
        paused = False
        permanent: SyncError | None = None
        backoff_step = 0
        progressed_since_sleep = False
        while True:
            while queue and not paused and len(in_flight) < state.window:
                unit = queue.popleft()
                state.tried[unit.serial] = unit.rev
                problem = unit_problem(unit)
                if problem is not None:
                    self._fail(state, unit, "SYNC_ITEM_INVALID", problem)
                    self._tick(state, progress)
                    continue
                in_flight[pool.submit(self._send_one, client, unit)] = unit
            if not in_flight:
                flush()
                if permanent is not None:
                    raise permanent
                if not retry:
                    if not queue:
                        return
                    continue
                # A wave ended with transient failures: back off, then try them again.
                if progressed_since_sleep:
                    backoff_step = 0
                progressed_since_sleep = False
                remaining = self.retry_for_seconds - (self._clock() - state.last_progress)
                if remaining <= 0:
                    assert state.last_transient is not None
                    for unit in retry:
                        self._fail(state, unit, state.last_transient.code,
                                   state.last_transient.message)
                    state.stopped = state.last_transient
                    return
                delay = self._rng.uniform(
                    0, min(self.backoff_cap, self.backoff_base * (2**backoff_step))
                )
                backoff_step += 1
                log.info("sync: %s; retrying %d unit(s) in %.2f s", state.last_transient,
                         len(retry), delay)
                self._sleep(min(delay, remaining))
                queue.extendleft(reversed(retry))
                retry.clear()
                paused = False
                continue
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                unit = in_flight.pop(future)
                result = future.result()
                kind = result.kind
                if kind in (_Kind.SENT, _Kind.UNCHANGED, _Kind.CONFLICT):
                    confirmed.append((unit.serial, unit.rev))
                    state.failures.pop(unit.serial, None)
                    state.last_progress = self._clock()
                    progressed_since_sleep = True
                    self._grow(state)
                    if kind is _Kind.SENT:
                        state.sent += 1
                    elif kind is _Kind.UNCHANGED:
                        state.unchanged += 1
                        if result.cloud_rev is not None and result.cloud_rev > unit.rev:
                            log.warning(
                                "sync: the table holds rev %d of %s, newer than this "
                                "station's rev %d (an older copy of the database?); left as is",
                                result.cloud_rev, unit.serial, unit.rev,
                            )
                    else:
                        state.conflict_serials.append(unit.serial)
                        conflicts.append((unit.serial, result.detail))
                        log.warning("sync conflict: %s", result.detail)
                    self._tick(state, progress)
                elif kind is _Kind.TRANSIENT:
                    assert result.error is not None
                    retry.append(unit)
                    paused = True
                    state.last_transient = result.error
                    if result.throttled:
                        state.window = max(1, state.window // 2)
                        state.grow_credit = 0
                else:
                    assert result.error is not None
                    paused = True
                    if permanent is None:
                        permanent = result.error
                    self._fail(state, unit, result.error.code, result.error.message)
            if len(confirmed) >= self.flush_every:
                flush()
            if permanent is not None:
                queue.clear()  # never tried: they stay pending
                for unit in retry:
                    self._fail(state, unit, permanent.code, permanent.message)
                retry.clear()

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

    def _send_one(self, client: Any, unit: Unit) -> _Result:
        values = item_values(unit)
        if self._native:
            values = {name: _native(value) for name, value in values.items()}
        try:
            client.update_item(
                TableName=self.table_name,
                Key=self._key(unit),
                UpdateExpression=UPDATE_EXPRESSION,
                ConditionExpression=CONDITION_EXPRESSION,
                ExpressionAttributeNames=EXPRESSION_ATTRIBUTE_NAMES,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return _Result(unit, _Kind.SENT)
        except Exception as exc:  # noqa: BLE001 - every failure is classified below
            if _error_code(exc) == "ConditionalCheckFailedException":
                old = (getattr(exc, "response", None) or {}).get("Item")
                if old is None:
                    return self._judge_by_reading(client, unit)
                return self._judge(unit, old)
            return self._failed(unit, exc)

    def _key(self, unit: Unit) -> dict[str, Any]:
        return {"serial": unit.serial} if self._native else {"serial": {"S": unit.serial}}

    def _failed(self, unit: Unit, exc: BaseException) -> _Result:
        throttled, error = classify_error(
            exc, table=self.table_name, endpoint=self._endpoint_text()
        )
        if error.code == "SYNC_INTERNAL_ERROR":
            log.error("sync of %s failed unexpectedly", unit.serial, exc_info=exc)
        kind = _Kind.PERMANENT if error.permanent else _Kind.TRANSIENT
        return _Result(unit, kind, error=error, throttled=throttled)

    def _judge_by_reading(self, client: Any, unit: Unit) -> _Result:
        """The endpoint did not return the item with the failed condition (older DynamoDB
        Local versions): read it, strongly consistent."""
        try:
            old = client.get_item(
                TableName=self.table_name,
                Key=self._key(unit),
                ConsistentRead=True,
                ProjectionExpression="#station_id, #rev",
                ExpressionAttributeNames={"#station_id": "station_id", "#rev": "rev"},
            ).get("Item")
        except Exception as exc:  # noqa: BLE001
            return self._failed(unit, exc)
        if old is None:  # deleted between the two calls: just try again
            return _Result(
                unit,
                _Kind.TRANSIENT,
                error=SyncError(
                    f"the item of {unit.serial} changed while it was being synced",
                    code="SYNC_ITEM_RACE",
                    permanent=False,
                ),
            )
        return self._judge(unit, old)

    def _judge(self, unit: Unit, old: dict[str, Any]) -> _Result:
        """Classify a failed condition from the item the table holds."""
        owner = _plain(old.get("station_id"))
        rev_value = _plain(old.get("rev"))
        try:
            cloud_rev = int(rev_value) if rev_value is not None else None
        except (TypeError, ValueError, ArithmeticError):
            cloud_rev = None
        if not isinstance(owner, str):
            owner = None
        if owner == unit.station_id and cloud_rev is not None:
            return _Result(unit, _Kind.UNCHANGED, cloud_rev=cloud_rev)
        if owner == unit.station_id:
            detail = (
                f"{unit.serial}: the table's item of this station has a rev that is not a "
                f"number ({old.get('rev')!r}); not overwritten"
            )
        elif owner is None:
            detail = (
                f"{unit.serial}: the table holds an item no station wrote (no station_id); "
                f"station {unit.station_id} has rev {unit.rev} (synced by {self.station_id}); "
                "not overwritten"
            )
        else:
            detail = (
                f"{unit.serial}: the table holds it from station {owner} (rev {cloud_rev}); "
                f"station {unit.station_id} has rev {unit.rev} (synced by {self.station_id}); "
                "not overwritten"
            )
        return _Result(unit, _Kind.CONFLICT, detail=detail, cloud_rev=cloud_rev)


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


def run_station_sync(
    records: Records,
    config: StationConfig,
    *,
    settings: ClientSettings | None = None,
    progress: Progress | None = None,
    lock: bool = True,
    **options: Any,
) -> SyncReport:
    """One sync run for a station, the way ``station sync`` does it: check the config, take
    the sync lock (:class:`station.locks.LockBusy` if another sync runs), run.

    The client is made only if something is pending. ``options`` go to :class:`AllowlistSync`.
    """
    from .dynamo import describe_endpoint

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


class StationSync:
    """A station's sync, ready to run: what the GUI's "Sync now" and scheduler call.
    Each :meth:`run` is one :func:`run_station_sync` (config checks, lock, run)."""

    def __init__(self, records: Records, config: StationConfig, **options: Any) -> None:
        self.records = records
        self.config = config
        self.options = options

    def run(self, progress: Progress | None = None) -> SyncReport:
        return run_station_sync(self.records, self.config, progress=progress, **self.options)


def sync_from_station(station: Any, **options: Any) -> StationSync:
    """The sync of an open :class:`station.context.Station`."""
    return StationSync(station.records, station.config, **options)
