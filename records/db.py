"""The station's database: :class:`Records`.

Everything the station remembers goes through this class: batches, the allow-list
(``units``), every provisioning attempt, the hash-chained audit log, sync bookkeeping and
users. SQL lives here; the schema is in :mod:`records.schema`, the audit chain rule in
:mod:`records.audit`, PIN hashing in :mod:`records.users`.

Rules every method follows:

* values always go in as SQL parameters; the only SQL assembled at run time joins
  constant fragments (see :func:`_filtered`);
* every write runs in one explicit ``BEGIN IMMEDIATE ... COMMIT`` (:meth:`Records._write`),
  so a multi-statement write (a PASS: unit + attempt + audit entry) happens entirely or not
  at all, and the write lock is taken up front instead of half-way through;
* writes are short: nothing slow (PIN hashing) happens while the lock is held.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import re
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from sqlite_utils import Database

from . import schema
from .audit import GENESIS, HEAD_HASH_KEY, HEAD_ID_KEY, chain_hash, details_json, verify_chain
from .clock import iso_utc, system_clock
from .errors import (
    AttemptNotFound,
    AttemptNotOpen,
    BatchClosed,
    BatchExists,
    BatchNotFound,
    DatabaseCorrupt,
    DatabaseFull,
    DatabaseIOError,
    DatabaseLocked,
    DatabaseReadOnly,
    DuplicateDeviceKey,
    RecordsError,
    UnitNotFound,
    UserExists,
    UserNotFound,
)
from .models import (
    ROLES,
    UNIT_STATUSES,
    Attempt,
    AuditEntry,
    AuditVerification,
    Batch,
    LabelRecord,
    StepTiming,
    Unit,
    User,
)
from .users import burn_time, hash_pin, verify_pin

DEFAULT_BUSY_TIMEOUT_S = 10.0
SYNC_TARGET_KEY = "sync_target"

ABORTED_CODE = "ATTEMPT_ABORTED"
ABORTED_HINT = "The board was not finished. Plug it in again to provision it from the start."

PENDING_SYNC_SQL = "SELECT * FROM units INDEXED BY units_pending_sync WHERE synced_rev < rev ORDER BY serial LIMIT ?"
"""The sync backlog query. Its WHERE clause is exactly the partial index's, so SQLite walks
``units_pending_sync`` (already in serial order) and never touches settled rows. The index is
named: without statistics the planner would rather scan a covering index of every unit
(``units_by_batch_claim`` holds both revisions), which costs a million rows on a big station."""

COUNT_PENDING_SYNC_SQL = "SELECT count(*) FROM units INDEXED BY units_pending_sync WHERE synced_rev < rev"

_UPSERT_UNIT_ON_PASS = """
INSERT INTO units (
    serial, batch, product, status, device_key_sha256, claim_cert_sha256, station_id,
    operator, first_pass_at, last_pass_at, rev, synced_rev, revoked_reason, updated_at
) VALUES (
    :serial, :batch, :product, 'allowed', :device_key_sha256, :claim_cert_sha256, :station_id,
    :operator, :at, :at, 1, 0, NULL, :at
)
ON CONFLICT (serial) DO UPDATE SET
    batch = excluded.batch,
    product = excluded.product,
    device_key_sha256 = excluded.device_key_sha256,
    claim_cert_sha256 = excluded.claim_cert_sha256,
    station_id = excluded.station_id,
    operator = excluded.operator,
    last_pass_at = excluded.last_pass_at,
    rev = units.rev + 1,
    updated_at = excluded.updated_at
"""
# status, revoked_reason, first_pass_at and synced_rev are deliberately not in the SET list:
# a revoked board that passes again stays revoked until someone calls unrevoke().

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
LABEL_KINDS = ("label", "reprint", "reject")


class Records:
    """The station's SQLite database (one file), safe to share between threads.

    **Threading.** One connection (``check_same_thread=False``) guarded by one
    ``threading.RLock``: every method holds the lock while it uses the connection, so the
    runner's slot threads and the GUI thread never interleave statements and never see
    each other's half-done transactions. A connection per thread was the alternative; it
    was not chosen because SQLite lets only one writer in at a time anyway, so it would
    only trade our lock for ``SQLITE_BUSY`` waits between our own threads, plus
    connections that outlive their threads. The station writes a few rows per board, so
    serialising costs nothing measurable. The one potentially long read,
    :meth:`verify_audit`, uses its own short-lived connection and a read snapshot and
    does not hold the lock.

    **Other processes** (e.g. ``station report`` while the line runs) are handled by SQLite:
    WAL mode lets them read while we write, and the busy timeout makes a writer wait for
    the lock instead of failing at once (after the timeout: :class:`DatabaseLocked`).

    **Durability.** ``synchronous=FULL``: a PASS that was reported to the operator (and
    maybe synced to the cloud) survives a power cut.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        now: Callable[[], datetime] | None = None,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        read_only: bool = False,
        on_schema_update: Callable[[int, int], None] | None = None,
    ) -> None:
        """Open (or create) the database at ``path``, migrating it to the current schema.

        ``now`` replaces the system clock for every timestamp (tests inject one).
        ``read_only`` opens an existing file for reading only: nothing is created or
        migrated, and it works on a read-only file system too. ``on_schema_update(before,
        after)`` is called before an existing file is migrated (a million attempts take
        seconds, once: a command can say so first).
        Raises :class:`SchemaTooNew`, :class:`DatabaseLocked` or :class:`DatabaseCorrupt`.
        """
        self.path = Path(path)
        self._now = now or system_clock
        self._busy_timeout_s = busy_timeout_s
        self._lock = threading.RLock()
        self._closed = False
        if read_only:
            self._db = _open_read_only(self.path, busy_timeout_s)
        else:
            self._db = _open_database(self.path, busy_timeout_s, on_schema_update)

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> Records:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Records({str(self.path)!r})"

    # -- batches -------------------------------------------------------------------------

    def open_batch(self, batch_id: str, product: str, planned_quantity: int, actor: str) -> Batch:
        """Open a batch (audit ``batch.open``).

        Opening a batch that is already open for the same product returns it unchanged
        (its stored planned quantity wins); a different product raises :class:`BatchExists`
        and a closed batch raises :class:`BatchClosed` (batches are not re-opened).
        """
        _require_text(batch_id=batch_id, product=product, actor=actor)
        if isinstance(planned_quantity, bool) or not isinstance(planned_quantity, int):
            raise TypeError("planned_quantity must be an int")
        if planned_quantity < 0:
            raise ValueError("planned_quantity must not be negative")
        with self._write() as db:
            existing = self._batch(batch_id)
            if existing is not None:
                if existing.product != product:
                    raise BatchExists(
                        f"batch {batch_id} already exists for product {existing.product}, "
                        f"not {product}"
                    )
                if not existing.is_open:
                    raise BatchClosed(_closed_message(existing))
                return existing
            at = self._stamp()
            db.execute(
                "INSERT INTO batches (id, product, planned_quantity, opened_at, opened_by) "
                "VALUES (?, ?, ?, ?, ?)",
                [batch_id, product, planned_quantity, at, actor],
            )
            self._append_audit(
                at=at,
                actor=actor,
                action="batch.open",
                subject=batch_id,
                details={"product": product, "planned_quantity": planned_quantity},
            )
            return self._existing_batch(batch_id)

    def close_batch(self, batch_id: str, actor: str) -> Batch:
        """Close an open batch (audit ``batch.close``); no new attempts may start in it."""
        _require_text(batch_id=batch_id, actor=actor)
        with self._write() as db:
            batch = self._existing_batch(batch_id)
            if not batch.is_open:
                raise BatchClosed(_closed_message(batch))
            at = self._stamp()
            db.execute(
                "UPDATE batches SET closed_at = ?, closed_by = ? WHERE id = ?",
                [at, actor, batch_id],
            )
            passed = self._scalar("SELECT count(*) FROM units WHERE batch = ?", [batch_id])
            self._append_audit(
                at=at,
                actor=actor,
                action="batch.close",
                subject=batch_id,
                details={"planned_quantity": batch.planned_quantity, "units": passed},
            )
            return self._existing_batch(batch_id)

    def get_batch(self, batch_id: str) -> Batch | None:
        return self._batch(batch_id)

    def list_batches(self) -> list[Batch]:
        """All batches, most recently opened first."""
        rows = self._rows("SELECT * FROM batches ORDER BY opened_at DESC, id")
        return [_batch_from_row(row) for row in rows]

    # -- attempts ------------------------------------------------------------------------

    def start_attempt(
        self,
        *,
        port: str,
        station_id: str,
        operator: str,
        driver: str,
        batch: str | None,
        label: str | None = None,
    ) -> int:
        """Record that a board is being provisioned; returns the attempt id.

        ``batch``, when given, must exist and be open.
        """
        _require_text(port=port, station_id=station_id, operator=operator, driver=driver)
        with self._write() as db:
            if batch is not None:
                found = self._existing_batch(batch)
                if not found.is_open:
                    raise BatchClosed(_closed_message(found))
            cursor = db.execute(
                "INSERT INTO attempts (batch, port, station_id, operator, driver, label, "
                "result, started_at) VALUES (?, ?, ?, ?, ?, ?, 'running', ?)",
                [batch, port, station_id, operator, driver, label, self._stamp()],
            )
            attempt_id = cursor.lastrowid
        assert attempt_id is not None
        return attempt_id

    def set_attempt_serial(self, attempt_id: int, serial: str) -> None:
        """Note the serial read from the board on a running attempt."""
        _require_text(serial=serial)
        with self._write() as db:
            cursor = db.execute(
                "UPDATE attempts SET serial = ? WHERE id = ? AND result = 'running'",
                [serial, attempt_id],
            )
            if cursor.rowcount != 1:
                raise AttemptNotOpen(self._not_open_message(attempt_id))

    def set_attempt_reprovision(self, attempt_id: int, by: str, reason: str) -> None:
        """Record who allowed re-provisioning an already provisioned board, and why
        (audit ``unit.reprovision_override``, subject: the serial, or ``attempt:<id>`` if
        no serial was set yet)."""
        _require_text(by=by, reason=reason)
        with self._write() as db:
            cursor = db.execute(
                "UPDATE attempts SET reprovision_by = ?, reprovision_reason = ? "
                "WHERE id = ? AND result = 'running'",
                [by, reason, attempt_id],
            )
            if cursor.rowcount != 1:
                raise AttemptNotOpen(self._not_open_message(attempt_id))
            attempt = self._attempt(attempt_id)
            self._append_audit(
                at=self._stamp(),
                actor=by,
                action="unit.reprovision_override",
                subject=attempt.serial or f"attempt:{attempt_id}",
                details={
                    "attempt_id": attempt_id,
                    "reason": reason,
                    "port": attempt.port,
                    "station_id": attempt.station_id,
                },
            )

    def finish_attempt_fail(
        self,
        attempt_id: int,
        *,
        error_code: str,
        error_detail: str,
        hint: str,
        steps: Sequence[StepTiming],
        device_key_sha256: str | None = None,
    ) -> Attempt:
        """Finish a running attempt as ``fail``. Never touches the allow-list."""
        _require_text(error_code=error_code)
        if device_key_sha256 is not None:
            _require_fingerprint(device_key_sha256=device_key_sha256)
        steps_json = _steps_json(steps)
        with self._write() as db:
            cursor = db.execute(
                "UPDATE attempts SET result = 'fail', error_code = ?, error_detail = ?, "
                "hint = ?, steps = ?, device_key_sha256 = coalesce(?, device_key_sha256), "
                "finished_at = ? WHERE id = ? AND result = 'running'",
                [
                    error_code,
                    error_detail,
                    hint,
                    steps_json,
                    device_key_sha256,
                    self._stamp(),
                    attempt_id,
                ],
            )
            if cursor.rowcount != 1:
                raise AttemptNotOpen(self._not_open_message(attempt_id))
            return self._attempt(attempt_id)

    def finish_attempt_pass(
        self,
        attempt_id: int,
        *,
        serial: str,
        batch: str,
        product: str,
        device_key_sha256: str,
        claim_cert_sha256: str,
        station_id: str,
        operator: str,
        steps: Sequence[StepTiming],
    ) -> Unit:
        """Record a PASS: the unit, the attempt and the audit entry ``unit.pass``, in one
        transaction.

        The unit is inserted (rev 1) or updated (rev + 1, ``first_pass_at`` kept,
        ``last_pass_at`` now, fingerprints, batch, product, station and operator replaced).
        A revoked unit that passes again **stays revoked**: only :meth:`unrevoke` lifts a
        revocation, so re-flashing a board cannot undo a decision made by QA.

        Raises, writing nothing and leaving the attempt running so the caller can fail it:
        :class:`DuplicateDeviceKey` if the key fingerprint is recorded for another serial
        (in ``units`` or any attempt); :class:`BatchNotFound`; :class:`AttemptNotOpen`;
        ``ValueError`` if the attempt was started for another serial or batch. A batch
        closed while the board was on the line is accepted: the board was provisioned.
        """
        _require_text(
            serial=serial, batch=batch, product=product, station_id=station_id, operator=operator
        )
        _require_fingerprint(
            device_key_sha256=device_key_sha256, claim_cert_sha256=claim_cert_sha256
        )
        steps_json = _steps_json(steps)
        with self._write() as db:
            attempt = self._open_attempt(attempt_id)
            if attempt.serial is not None and attempt.serial != serial:
                raise ValueError(f"attempt {attempt_id} is for {attempt.serial}, not {serial}")
            if attempt.batch is not None and attempt.batch != batch:
                raise ValueError(f"attempt {attempt_id} is in batch {attempt.batch}, not {batch}")
            self._existing_batch(batch)
            other = self._serial_for_device_key(device_key_sha256, other_than=serial)
            if other is not None:
                raise DuplicateDeviceKey(device_key_sha256, serial, other)

            at = self._stamp()
            db.execute(
                _UPSERT_UNIT_ON_PASS,
                {
                    "serial": serial,
                    "batch": batch,
                    "product": product,
                    "device_key_sha256": device_key_sha256,
                    "claim_cert_sha256": claim_cert_sha256,
                    "station_id": station_id,
                    "operator": operator,
                    "at": at,
                },
            )
            db.execute(
                "UPDATE attempts SET result = 'pass', serial = ?, batch = ?, "
                "device_key_sha256 = ?, steps = ?, error_code = NULL, error_detail = NULL, "
                "hint = NULL, finished_at = ? WHERE id = ? AND result = 'running'",
                [serial, batch, device_key_sha256, steps_json, at, attempt_id],
            )
            unit = self._existing_unit(serial)
            self._append_audit(
                at=at,
                actor=operator,
                action="unit.pass",
                subject=serial,
                details={
                    "attempt_id": attempt_id,
                    "batch": batch,
                    "product": product,
                    "station_id": station_id,
                    "device_key_sha256": device_key_sha256,
                    "claim_cert_sha256": claim_cert_sha256,
                    "rev": unit.rev,
                    "status": unit.status,
                    "reprovision_by": attempt.reprovision_by,
                },
            )
            return unit

    def abort_open_attempts(
        self, reason: str = "station restarted while this attempt was running"
    ) -> int:
        """Mark every ``running`` attempt ``aborted`` (error code ``ATTEMPT_ABORTED``).

        The station calls this once at startup, before any slot runs: an attempt still
        running then was cut short by a crash or power cut. Returns how many were marked.
        """
        with self._write() as db:
            cursor = db.execute(
                "UPDATE attempts SET result = 'aborted', error_code = ?, error_detail = ?, "
                "hint = ?, finished_at = ? WHERE result = 'running'",
                [ABORTED_CODE, reason, ABORTED_HINT, self._stamp()],
            )
            return cursor.rowcount

    def get_attempt(self, attempt_id: int) -> Attempt:
        """Raises :class:`AttemptNotFound` for an unknown id."""
        return self._attempt(attempt_id)

    def attempts(
        self, *, serial: str | None = None, batch: str | None = None, limit: int | None = None
    ) -> list[Attempt]:
        """Attempts, newest first, optionally only one serial's or one batch's."""
        sql, params = _filtered(
            "SELECT * FROM attempts",
            ("serial = ?", serial),
            ("batch = ?", batch),
            tail=" ORDER BY id DESC LIMIT ?",
        )
        rows = self._rows(sql, [*params, _sql_limit(limit)])
        return [_attempt_from_row(row) for row in rows]

    # -- units ---------------------------------------------------------------------------

    def get_unit(self, serial: str) -> Unit | None:
        return self._unit(serial)

    def units(
        self,
        *,
        batch: str | None = None,
        status: str | None = None,
        search: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Unit]:
        """Units, most recently passed first (ties: higher serial first). ``search`` matches
        a substring of the serial (case-insensitive for ASCII)."""
        _require_status(status)
        pattern = None if not search else "%" + _escape_like(search) + "%"
        sql, params = _filtered(
            "SELECT * FROM units",
            ("batch = ?", batch),
            ("status = ?", status),
            ("serial LIKE ? ESCAPE '\\'", pattern),
            tail=" ORDER BY last_pass_at DESC, serial DESC LIMIT ? OFFSET ?",
        )
        rows = self._rows(sql, [*params, _sql_limit(limit), offset])
        return [_unit_from_row(row) for row in rows]

    def iter_units(
        self,
        *,
        batch: str | None = None,
        status: str | None = None,
        search: str | None = None,
        limit: int | None = None,
        page: int = 2000,
    ) -> Iterator[Unit]:
        """The rows of :meth:`units`, in the same order, read ``page`` at a time: memory
        stays flat however many units there are, and the lock is held for one page only
        (keyset paging on the ordering index, so each page costs the same)."""
        for values in self.iter_unit_values(_field_names(Unit), batch=batch, status=status, search=search,
                                            limit=limit, page=page):
            yield Unit(*values)

    def iter_unit_dicts(
        self,
        *,
        batch: str | None = None,
        status: str | None = None,
        search: str | None = None,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The units of :meth:`iter_units` as plain dicts of their fields (what JSON output
        takes), with no model object made and taken apart again for each row."""
        names = _field_names(Unit)
        for values in self.iter_unit_values(names, batch=batch, status=status, search=search, limit=limit):
            yield dict(zip(names, values, strict=True))

    def iter_unit_values(
        self,
        columns: Sequence[str],
        *,
        batch: str | None = None,
        status: str | None = None,
        search: str | None = None,
        limit: int | None = None,
        page: int = 2000,
    ) -> Iterator[tuple[Any, ...]]:
        """Like :meth:`iter_units`, but only ``columns`` (names of :class:`Unit` fields) of
        each unit, as tuples: what a table of a million units needs, at a third of the cost."""
        _require_status(status)
        wanted = [name for name in columns if name in _field_names(Unit)]
        if len(wanted) != len(columns):
            raise ValueError(f"not unit columns: {sorted(set(columns) - set(wanted))}")
        select = ", ".join([*wanted, "last_pass_at", "serial"])  # names checked above: no injection
        pattern = None if not search else "%" + _escape_like(search) + "%"
        left = _sql_limit(limit)
        after: tuple[str, str] | None = None
        width = len(wanted)
        while left != 0:
            size = page if left < 0 else min(page, left)
            sql, params = _filtered(
                f"SELECT {select} FROM units",  # noqa: S608 - only Unit field names, checked above
                ("batch = ?", batch),
                ("status = ?", status),
                ("serial LIKE ? ESCAPE '\\'", pattern),
                ("(last_pass_at, serial) < (?, ?)", None if after is None else after[0]),
                tail=" ORDER BY last_pass_at DESC, serial DESC LIMIT ?",
            )
            if after is not None:
                params = [*params, after[1]]
            with self._lock:
                self._ensure_open()
                rows = self._db.conn.execute(sql, [*params, size]).fetchall()
            for row in rows:
                yield row[:width]
            if len(rows) < size:
                return
            after = (rows[-1][-2], rows[-1][-1])
            left = left - len(rows) if left > 0 else left

    def unit_widths(
        self, *, batch: str | None = None, status: str | None = None, search: str | None = None
    ) -> dict[str, int]:
        """The longest value of each text column of the units :meth:`iter_units` would give
        (``count``: how many), so a table can be printed while it streams."""
        _require_status(status)
        pattern = None if not search else "%" + _escape_like(search) + "%"
        sql, params = _filtered(
            "SELECT COUNT(*) AS count, MAX(LENGTH(serial)) AS serial, MAX(LENGTH(batch)) AS batch, "
            "MAX(LENGTH(status)) AS status, MAX(LENGTH(last_pass_at)) AS last_pass_at, "
            "MAX(LENGTH(operator)) AS operator, MAX(synced_rev < rev) AS pending FROM units",
            ("batch = ?", batch),
            ("status = ?", status),
            ("serial LIKE ? ESCAPE '\\'", pattern),
        )
        row = self._rows(sql, params)[0]
        return {key: int(value or 0) for key, value in row.items()}

    def count_units(self, *, batch: str | None = None, status: str | None = None) -> int:
        _require_status(status)
        sql, params = _filtered(
            "SELECT count(*) FROM units", ("batch = ?", batch), ("status = ?", status)
        )
        return self._scalar(sql, params)

    def serial_for_device_key(
        self, device_key_sha256: str, *, other_than: str | None = None
    ) -> str | None:
        """The serial (other than ``other_than``) whose board had this public key, looking
        at the allow-list first and then at every attempt, failed ones included."""
        return self._serial_for_device_key(device_key_sha256, other_than=other_than)

    def revoke(self, serial: str, *, actor: str, reason: str) -> Unit:
        """Revoke a unit (audit ``unit.revoke``); the cloud will refuse it once synced."""
        return self._set_status(serial, "revoked", actor=actor, reason=reason)

    def unrevoke(self, serial: str, *, actor: str, reason: str) -> Unit:
        """Lift a revocation (audit ``unit.unrevoke``)."""
        return self._set_status(serial, "allowed", actor=actor, reason=reason)

    # -- labels --------------------------------------------------------------------------

    def record_label(self, job_id: str, *, serial: str, kind: str, requested_by: str) -> LabelRecord:
        """A label job was asked for; a supervisor's reprint is also audited (``label.reprint``)."""
        _require_text(job_id=job_id, serial=serial, requested_by=requested_by)
        if kind not in LABEL_KINDS:
            raise ValueError(f"kind must be one of {', '.join(LABEL_KINDS)}, not {kind!r}")
        at = self._stamp()
        with self._write() as db:
            db.execute(
                "INSERT INTO labels (job_id, serial, kind, requested_by, requested_at, state) "
                "VALUES (?, ?, ?, ?, ?, 'requested')",
                [job_id, serial, kind, requested_by, at],
            )
            if kind == "reprint":
                self._append_audit(at=at, actor=requested_by, action="label.reprint", subject=serial,
                                   details={"job_id": job_id})
        return self._label(job_id)

    def record_label_outcome(self, job_id: str, *, state: str, attempts: int, code: str | None) -> None:
        """What the printer did with a job: ``printed``, or ``queued`` with its error code.
        An unknown job id (asked for before the history existed) is ignored."""
        if state not in ("queued", "printed"):
            raise ValueError(f"state must be queued or printed, not {state!r}")
        with self._write() as db:
            db.execute(
                "UPDATE labels SET state = ?, attempts = ?, last_code = coalesce(?, last_code), "
                "printed_at = CASE WHEN ? = 'printed' THEN ? ELSE printed_at END WHERE job_id = ?",
                [state, attempts, code, state, self._stamp(), job_id],
            )

    def labels(self, serial: str) -> list[LabelRecord]:
        """One serial's label jobs, oldest first (none in a file opened read-only before its migration)."""
        if not self._scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'labels'"):
            return []
        rows = self._rows("SELECT * FROM labels WHERE serial = ? ORDER BY requested_at, rowid", [serial])
        return [_from_row(LabelRecord, row) for row in rows]

    def _label(self, job_id: str) -> LabelRecord:
        return _from_row(LabelRecord, self._rows("SELECT * FROM labels WHERE job_id = ?", [job_id])[0])

    # -- audit ---------------------------------------------------------------------------

    def audit(
        self,
        *,
        actor: str,
        action: str,
        subject: str,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Append an entry to the audit log. ``details`` must be JSON-representable."""
        with self._write():
            return self._append_audit(
                at=self._stamp(), actor=actor, action=action, subject=subject, details=details
            )

    def audit_entries(self, *, subject: str | None = None) -> list[AuditEntry]:
        """Entries in the order they were written, optionally only one subject's."""
        sql, params = _filtered(
            "SELECT * FROM audit", ("subject = ?", subject), tail=" ORDER BY id"
        )
        rows = self._rows(sql, params)
        return [_audit_from_row(row) for row in rows]

    def verify_audit(self) -> AuditVerification:
        """Recompute the whole hash chain and compare its end with the recorded head.

        Detects edited, deleted and cut-off entries even if the append-only triggers were
        dropped; see :mod:`records.audit` for what it cannot detect. Reads one consistent
        snapshot through its own connection, so the line keeps running meanwhile.
        """
        if str(self.path) == ":memory:":  # nothing else can see it: read it through our own connection
            with self._lock:
                conn = self._db.conn
                factory = conn.row_factory
                try:
                    return self._verify_on(conn)
                finally:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    conn.row_factory = factory
        try:
            conn = sqlite3.connect(
                str(self.path), timeout=self._busy_timeout_s, isolation_level=None
            )
            conn.execute("SELECT 1 FROM meta LIMIT 1")
        except sqlite3.Error as exc:
            if _damaged(exc):
                return AuditVerification(False, 0, None, f"the database cannot be opened: {exc}", damaged=True)
            with contextlib.suppress(UnboundLocalError, sqlite3.Error):
                conn.close()
            # e.g. a read-only mount, where SQLite cannot make the WAL's shared memory:
            # read the file as an immutable snapshot instead
            conn = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro&immutable=1", uri=True,
                timeout=self._busy_timeout_s, isolation_level=None,
            )
        try:
            return self._verify_on(conn)
        finally:
            conn.close()

    def _verify_on(self, conn: sqlite3.Connection) -> AuditVerification:
        try:
            conn.row_factory = _dict_row
            conn.execute("BEGIN")
            head = {
                row["key"]: row["value"]
                for row in conn.execute(
                    "SELECT key, value FROM meta WHERE key IN (?, ?)", [HEAD_ID_KEY, HEAD_HASH_KEY]
                )
            }
            try:
                head_id = None if head.get(HEAD_ID_KEY) is None else int(head[HEAD_ID_KEY])
            except ValueError:
                return AuditVerification(
                    False, 0, None, f"the recorded head id {head[HEAD_ID_KEY]!r} is not a number"
                )
            rows = conn.execute(
                "SELECT id, at, actor, action, subject, details, prev_hash, hash "
                "FROM audit ORDER BY id"
            )
            return verify_chain(rows, head_id, head.get(HEAD_HASH_KEY))
        except sqlite3.Error as exc:
            translated = _translate(exc, self.path)
            if isinstance(translated, RecordsError) and not _damaged(exc):
                raise translated from exc  # locked, read-only, ...: not a finding about the log
            # a damaged file says nothing about tampering; a dropped table does
            return AuditVerification(False, 0, None, f"the audit log cannot be read: {exc}", damaged=_damaged(exc))

    # -- sync bookkeeping ----------------------------------------------------------------

    def pending_sync(self, *, limit: int = 1000) -> list[Unit]:
        """Units the cloud has not confirmed at their current rev, in serial order."""
        return [_unit_from_row(row) for row in self._rows(PENDING_SYNC_SQL, [limit])]

    def count_pending_sync(self) -> int:
        return self._scalar(COUNT_PENDING_SYNC_SQL)

    def mark_synced(self, confirmed: Sequence[tuple[str, int]]) -> None:
        """Record that the cloud holds each ``(serial, rev)``.

        ``synced_rev`` only moves forward and never past the unit's current rev, so a late
        confirmation of an old rev leaves a newer change pending, and a confirmation from
        the future cannot hide the next change. Unknown serials are ignored.
        """
        pairs = [(int(rev), serial) for serial, rev in confirmed]
        if not pairs:
            return
        with self._write() as db:
            db.conn.executemany(
                "UPDATE units SET synced_rev = max(synced_rev, min(?, rev)) WHERE serial = ?",
                pairs,
            )

    def sync_target(self) -> str | None:
        """The identity of the table the units marked synced were confirmed by (e.g. its ARN
        and creation time), as :meth:`set_sync_target` stored it; None before the first sync."""
        rows = self._rows("SELECT value FROM meta WHERE key = ?", [SYNC_TARGET_KEY])
        return rows[0]["value"] if rows else None

    def set_sync_target(self, identity: str) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [SYNC_TARGET_KEY, identity],
            )

    def resend_all(self, identity: str, *, actor: str, reason: str) -> int:
        """The table is not the one that confirmed the units (it was re-created, or it is a
        server that forgot): mark every unit pending again, so the next sync sends them all,
        and remember ``identity`` as the new target. Returns how many units were synced."""
        with self._write() as db:
            cursor = db.execute("UPDATE units SET synced_rev = 0 WHERE synced_rev > 0")
            count = cursor.rowcount
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [SYNC_TARGET_KEY, identity],
            )
            self._append_audit(at=self._stamp(), actor=actor, action="sync_resend_all", subject="*",
                               details={"reason": reason, "units": count, "target": identity})
        return count

    def rebase_rev(self, serial: str, above: int, *, actor: str, reason: str) -> Unit:
        """Move a unit's ``rev`` past ``above`` (audit ``unit.rebase``), so its current
        state is sent again and wins over a newer revision the cloud holds (a revoke after
        the database was restored from an older copy). Never lowers ``rev``."""
        _require_text(actor=actor, reason=reason)
        with self._write() as db:
            before = self._existing_unit(serial)
            if before.rev > above:
                return before
            at = self._stamp()
            db.execute(
                "UPDATE units SET rev = ?, updated_at = ? WHERE serial = ?",
                [int(above) + 1, at, serial],
            )
            unit = self._existing_unit(serial)
            self._append_audit(
                at=at, actor=actor, action="unit.rebase", subject=serial,
                details={"reason": reason, "previous_rev": before.rev, "rev": unit.rev},
            )
            return unit

    def record_sync_run(
        self,
        *,
        started_at: str,
        finished_at: str,
        sent: int,
        unchanged: int,
        conflicts: int,
        failed: int,
        error: str | None,
    ) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO sync_runs (started_at, finished_at, sent, unchanged, conflicts, "
                "failed, error) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [started_at, finished_at, sent, unchanged, conflicts, failed, error],
            )

    def last_sync(self) -> dict | None:
        """The newest sync run as a dict (keys as in :meth:`record_sync_run`, plus ``id``)."""
        rows = self._rows("SELECT * FROM sync_runs ORDER BY id DESC LIMIT 1")
        return rows[0] if rows else None

    def last_successful_sync(self) -> dict | None:
        """The newest sync run with no error and no failed item (conflicts are not failures:
        they are recorded for a human to look at)."""
        rows = self._rows(
            "SELECT * FROM sync_runs WHERE error IS NULL AND failed = 0 ORDER BY id DESC LIMIT 1"
        )
        return rows[0] if rows else None

    def record_sync_conflict(self, serial: str, detail: str) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO sync_conflicts (serial, detail, at) VALUES (?, ?, ?)",
                [serial, detail, self._stamp()],
            )

    def sync_conflicts(self) -> list[dict]:
        """Recorded conflicts (keys ``id``, ``serial``, ``detail``, ``at``), newest first."""
        return self._rows("SELECT * FROM sync_conflicts ORDER BY id DESC")

    # -- users ---------------------------------------------------------------------------

    def add_user(self, name: str, role: str, pin: str, *, actor: str) -> User:
        """Add a user (audit ``user.add``; the PIN is stored only as a salted scrypt hash
        and never appears in the audit log)."""
        _require_text(name=name, actor=actor)
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        pin_hash = hash_pin(pin)  # slow on purpose: done before taking the lock
        with self._write() as db:
            if self._user(name) is not None:
                raise UserExists(f"user {name} already exists")
            at = self._stamp()
            db.execute(
                "INSERT INTO users (name, role, pin_hash, created_at) VALUES (?, ?, ?, ?)",
                [name, role, pin_hash, at],
            )
            self._append_audit(
                at=at, actor=actor, action="user.add", subject=name, details={"role": role}
            )
            return User(name=name, role=role, created_at=at)

    def remove_user(self, name: str, *, actor: str) -> None:
        """Remove a user (audit ``user.remove``); :class:`UserNotFound` if unknown."""
        _require_text(actor=actor)
        with self._write() as db:
            user = self._user(name)
            if user is None:
                raise UserNotFound(f"there is no user {name}")
            db.execute("DELETE FROM users WHERE name = ?", [name])
            self._append_audit(
                at=self._stamp(),
                actor=actor,
                action="user.remove",
                subject=name,
                details={"role": user.role},
            )

    def users(self) -> list[User]:
        rows = self._rows("SELECT name, role, created_at FROM users ORDER BY name")
        return [User(**row) for row in rows]

    def check_pin(self, name: str, pin: str) -> User | None:
        """The user if ``pin`` is theirs, else ``None`` (also for an unknown name, after
        the same amount of work, so names cannot be probed by timing)."""
        rows = self._rows(
            "SELECT name, role, created_at, pin_hash FROM users WHERE name = ?", [name]
        )
        if not rows:
            burn_time(pin if isinstance(pin, str) else "")
            return None
        row = rows[0]
        if not isinstance(pin, str) or not verify_pin(pin, row["pin_hash"]):
            return None
        return User(name=row["name"], role=row["role"], created_at=row["created_at"])

    # -- internals: connection and transactions ------------------------------------------

    def _stamp(self) -> str:
        return iso_utc(self._now())

    @contextmanager
    def _write(self) -> Iterator[Database]:
        """One explicit write transaction: ``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back
        if the block raises. Holds the lock throughout; keep the block short."""
        with self._lock:
            self._ensure_open()
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise _translate(exc, self.path) from exc
            try:
                yield db
            except sqlite3.Error as exc:
                self._roll_back(db)
                translated = _translate(exc, self.path)
                if translated is exc:
                    raise
                raise translated from exc
            except BaseException:
                self._roll_back(db)
                raise
            try:
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._roll_back(db)
                raise _translate(exc, self.path) from exc

    @staticmethod
    def _roll_back(db: Database) -> None:
        """Roll back what the failed transaction wrote; a rollback that fails too (the disk
        went away) leaves SQLite to roll back on the next open."""
        try:
            if db.conn.in_transaction:
                db.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _rows(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[dict]:
        with self._lock:
            self._ensure_open()
            return list(self._db.query(sql, params))

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._lock:
            self._ensure_open()
            return self._db.execute(sql, params).fetchone()[0]

    def _ensure_open(self) -> None:
        if self._closed:
            raise RecordsError(f"{self.path} was closed")

    # -- internals: reads used inside and outside transactions ---------------------------

    def _batch(self, batch_id: str) -> Batch | None:
        rows = self._rows("SELECT * FROM batches WHERE id = ?", [batch_id])
        return _batch_from_row(rows[0]) if rows else None

    def _existing_batch(self, batch_id: str) -> Batch:
        batch = self._batch(batch_id)
        if batch is None:
            raise BatchNotFound(f"there is no batch {batch_id}")
        return batch

    def _unit(self, serial: str) -> Unit | None:
        rows = self._rows("SELECT * FROM units WHERE serial = ?", [serial])
        return _unit_from_row(rows[0]) if rows else None

    def _existing_unit(self, serial: str) -> Unit:
        unit = self._unit(serial)
        if unit is None:
            raise UnitNotFound(f"there is no unit {serial}")
        return unit

    def _attempt(self, attempt_id: int) -> Attempt:
        rows = self._rows("SELECT * FROM attempts WHERE id = ?", [attempt_id])
        if not rows:
            raise AttemptNotFound(f"there is no attempt {attempt_id}")
        return _attempt_from_row(rows[0])

    def _open_attempt(self, attempt_id: int) -> Attempt:
        rows = self._rows("SELECT * FROM attempts WHERE id = ?", [attempt_id])
        if not rows or rows[0]["result"] != "running":
            raise AttemptNotOpen(self._not_open_message(attempt_id))
        return _attempt_from_row(rows[0])

    def _not_open_message(self, attempt_id: int) -> str:
        rows = self._rows("SELECT result FROM attempts WHERE id = ?", [attempt_id])
        if not rows:
            return f"there is no attempt {attempt_id}"
        return f"attempt {attempt_id} is already finished ({rows[0]['result']})"

    def _user(self, name: str) -> User | None:
        rows = self._rows("SELECT name, role, created_at FROM users WHERE name = ?", [name])
        return User(**rows[0]) if rows else None

    def _serial_for_device_key(
        self, device_key_sha256: str, *, other_than: str | None
    ) -> str | None:
        # "serial IS NOT ?" is SQLite's NULL-safe inequality: with other_than=None it
        # matches every row with a serial.
        for sql in (
            "SELECT serial FROM units WHERE device_key_sha256 = ? AND serial IS NOT ? LIMIT 1",
            "SELECT serial FROM attempts WHERE device_key_sha256 = ? AND serial IS NOT NULL "
            "AND serial IS NOT ? ORDER BY id LIMIT 1",
        ):
            rows = self._rows(sql, [device_key_sha256, other_than])
            if rows:
                return rows[0]["serial"]
        return None

    # -- internals: writes that run inside a caller's transaction ------------------------

    def _set_status(self, serial: str, status: str, *, actor: str, reason: str) -> Unit:
        _require_text(actor=actor, reason=reason)
        with self._write() as db:
            before = self._existing_unit(serial)
            at = self._stamp()
            db.execute(
                "UPDATE units SET status = ?, revoked_reason = ?, rev = rev + 1, updated_at = ? "
                "WHERE serial = ?",
                [status, reason if status == "revoked" else None, at, serial],
            )
            unit = self._existing_unit(serial)
            self._append_audit(
                at=at,
                actor=actor,
                action="unit.revoke" if status == "revoked" else "unit.unrevoke",
                subject=serial,
                details={"reason": reason, "previous_status": before.status, "rev": unit.rev},
            )
            return unit

    def _append_audit(
        self,
        *,
        at: str,
        actor: str,
        action: str,
        subject: str,
        details: Mapping[str, Any] | None,
    ) -> AuditEntry:
        """Append one chained entry and move the head; must run inside :meth:`_write`.

        The previous hash comes from the recorded head, not from the last row, so entries
        cut off the end stay detectable after later appends: the next entry will not
        follow the row that is now last. Likewise a missing head restarts from GENESIS,
        which verification then reports at this entry.
        """
        _require_text(actor=actor, action=action, subject=subject)
        stored_details = details_json(details)
        parsed_details = json.loads(stored_details)
        head = {
            row["key"]: row["value"]
            for row in self._rows(
                "SELECT key, value FROM meta WHERE key IN (?, ?)", [HEAD_ID_KEY, HEAD_HASH_KEY]
            )
        }
        try:
            head_id = int(head.get(HEAD_ID_KEY, 0))
        except ValueError:
            head_id = 0
        prev_hash = head.get(HEAD_HASH_KEY) or GENESIS
        last_row_id = self._scalar("SELECT coalesce(max(id), 0) FROM audit")
        entry_id = max(head_id, last_row_id) + 1
        entry_hash = chain_hash(
            prev_hash,
            id=entry_id,
            at=at,
            actor=actor,
            action=action,
            subject=subject,
            details=parsed_details,
        )
        db = self._db
        db.execute(
            "INSERT INTO audit (id, at, actor, action, subject, details, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [entry_id, at, actor, action, subject, stored_details, prev_hash, entry_hash],
        )
        db.conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [(HEAD_ID_KEY, str(entry_id)), (HEAD_HASH_KEY, entry_hash)],
        )
        return AuditEntry(
            id=entry_id,
            at=at,
            actor=actor,
            action=action,
            subject=subject,
            details=parsed_details,
            prev_hash=prev_hash,
            hash=entry_hash,
        )


# -- opening -------------------------------------------------------------------------------


def _open_database(
    path: Path, busy_timeout_s: float, on_schema_update: Callable[[int, int], None] | None = None,
) -> Database:
    """Connect, refuse a newer schema, switch on WAL and foreign keys, migrate."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # isolation_level=None: the driver never opens a transaction behind our back;
        # every transaction in this package is an explicit BEGIN.
        conn = sqlite3.connect(
            str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise _translate(exc, path) from exc
    try:
        db = _sqlite_utils_database()(conn, execute_plugins=False)
        version = schema.refuse_if_too_new(db, str(path))  # before changing anything in the file
        if on_schema_update is not None and 0 < version < schema.latest_version():
            on_schema_update(version, schema.latest_version())
        db.enable_wal()
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA synchronous = FULL")
        schema.migrate(db, str(path))
    except sqlite3.Error as exc:
        conn.close()
        raise _translate(exc, path) from exc
    except BaseException:
        conn.close()
        raise
    return db


def _sqlite_utils_database() -> type[Database]:
    """sqlite-utils, imported on the first writable open (without numpy, see ``_lean.py``)."""
    from ._lean import import_sqlite_utils

    import_sqlite_utils()
    from sqlite_utils import Database

    return Database


class ReadOnlyConnection:
    """The part of sqlite-utils' ``Database`` the records use (``execute``, ``query``,
    ``conn``, ``close``), for a file opened read-only: a command that only looks
    (``station units``, ``sync status``) then never imports sqlite-utils (~45 ms)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] | None = None) -> sqlite3.Cursor:
        return self.conn.execute(sql) if parameters is None else self.conn.execute(sql, parameters)

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        cursor = self.execute(sql, params)
        keys = [column[0] for column in cursor.description or ()]
        for row in cursor:
            yield dict(zip(keys, row, strict=True))

    def close(self) -> None:
        self.conn.close()


def _open_read_only(path: Path, busy_timeout_s: float) -> ReadOnlyConnection:
    """Connect for reading only. A WAL database in a folder this process cannot write
    (a read-only mount) cannot be opened plainly read-only, because SQLite wants its
    shared-memory file; then it is opened as immutable, which is right for such a mount."""
    if not path.is_file():
        raise RecordsError(f"cannot open {path}: there is no such database file")
    last: sqlite3.Error | None = None
    for flags in ("mode=ro", "mode=ro&immutable=1"):
        try:
            conn = sqlite3.connect(
                f"{path.resolve().as_uri()}?{flags}", uri=True, timeout=busy_timeout_s,
                isolation_level=None, check_same_thread=False,
            )
            db = ReadOnlyConnection(conn)
            schema.refuse_if_too_new(db, str(path))  # type: ignore[arg-type]
            return db
        except sqlite3.Error as exc:
            last = exc
            continue
    assert last is not None
    raise _translate(last, path) from last


def _translate(exc: sqlite3.Error, path: Path) -> Exception:
    """Turn SQLite's lock and corruption errors into typed ones with a message an operator
    can act on; anything else is returned unchanged."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return DatabaseLocked(
            f"{path} is locked by another program (is a second station or a database tool "
            f"holding it open?): {exc}"
        )
    if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return DatabaseCorrupt(
            f"{path} is not a usable station database ({exc}); restore it from a backup "
            "or move it aside"
        )
    if primary == sqlite3.SQLITE_FULL:
        return DatabaseFull(f"{path}: the disk is full, nothing more can be recorded ({exc})")
    if primary == sqlite3.SQLITE_READONLY:
        return DatabaseReadOnly(f"{path} is read-only for this station ({exc})")
    if primary == sqlite3.SQLITE_IOERR and _disk_nearly_full(path):
        return DatabaseFull(f"{path}: the disk is full, nothing more can be recorded ({exc})")
    if primary == sqlite3.SQLITE_IOERR:
        return DatabaseIOError(f"{path}: the disk reported an I/O error ({exc})")
    if primary == sqlite3.SQLITE_CANTOPEN:
        if _read_only_place(path):
            return DatabaseReadOnly(f"{path} is on a read-only file system or folder ({exc})")
        return RecordsError(f"cannot open {path}: {exc}")
    return exc


FULL_BELOW_BYTES = 1_000_000


def _disk_nearly_full(path: Path) -> bool:
    """SQLite reports a write that found no space while creating its WAL or shared-memory
    file as an I/O error; a disk with (almost) nothing free makes it a full disk."""
    try:
        return shutil.disk_usage(path.parent).free < FULL_BELOW_BYTES
    except OSError:
        return False


def _damaged(exc: sqlite3.Error) -> bool:
    """SQLite says the file's content is damaged (not that it is locked or unwritable)."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    return primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_IOERR)


def _read_only_place(path: Path) -> bool:
    folder = path.parent
    try:
        if hasattr(os, "statvfs") and os.statvfs(folder).f_flag & os.ST_RDONLY:
            return True
    except OSError:
        return False
    return not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK))


# -- rows to values ------------------------------------------------------------------------


def _dict_row(cursor: sqlite3.Cursor, row: tuple) -> dict:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


_T = TypeVar("_T")


def _from_row(cls: type[_T], row: Mapping[str, Any], **decoded: Any) -> _T:
    """A model dataclass from a row whose columns carry its field names; ``decoded`` gives
    the fields stored in another form (JSON text)."""
    names = _field_names(cls)
    if not decoded:
        return cls(*[row[name] for name in names])
    return cls(**{name: decoded[name] if name in decoded else row[name] for name in names})


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    """The model's field names in order (asked once per class: a million rows are read)."""
    return tuple(f.name for f in dataclasses.fields(cls))


def _batch_from_row(row: Mapping[str, Any]) -> Batch:
    return _from_row(Batch, row)


def _unit_from_row(row: Mapping[str, Any]) -> Unit:
    return _from_row(Unit, row)


def _attempt_from_row(row: Mapping[str, Any]) -> Attempt:
    steps = tuple(StepTiming.from_json(step) for step in json.loads(row["steps"]))
    return _from_row(Attempt, row, steps=steps)


def _audit_from_row(row: Mapping[str, Any]) -> AuditEntry:
    return _from_row(AuditEntry, row, details=json.loads(row["details"]))


# -- small helpers -------------------------------------------------------------------------


def _filtered(head: str, *conditions: tuple[str, Any], tail: str = "") -> tuple[str, list[Any]]:
    """``head WHERE a = ? AND b = ? tail`` with only the conditions whose value is not
    None, and the parameters for them.

    This is the only SQL assembled at run time, and it only joins constant fragments
    written in this module; values only ever become parameters. (One query per filter
    combination lets SQLite use the matching index; ``(? IS NULL OR batch = ?)`` would
    force a full scan.)
    """
    used = [(fragment, value) for fragment, value in conditions if value is not None]
    where = " WHERE " + " AND ".join(fragment for fragment, _ in used) if used else ""
    return head + where + tail, [value for _, value in used]


def _sql_limit(limit: int | None) -> int:
    return -1 if limit is None else int(limit)  # SQLite: a negative LIMIT means no limit


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _steps_json(steps: Sequence[StepTiming]) -> str:
    items = []
    for step in steps:
        if isinstance(step, Mapping):
            step = StepTiming.from_json(dict(step))
        if not isinstance(step, StepTiming):
            raise TypeError(f"steps must be StepTiming values, not {type(step).__name__}")
        items.append(step.to_json())
    return json.dumps(items, ensure_ascii=False, allow_nan=False)


def _closed_message(batch: Batch) -> str:
    return f"batch {batch.id} was closed at {batch.closed_at} by {batch.closed_by}"


def _require_text(**values: Any) -> None:
    for name, value in values.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string, not {value!r}")


def _require_fingerprint(**values: Any) -> None:
    """Fingerprints are 64 lowercase hex digits. Checking the shape also keeps anything
    else (a PEM key pasted into the wrong argument) out of the database."""
    for name, value in values.items():
        if not isinstance(value, str) or not _SHA256_HEX.fullmatch(value):
            raise ValueError(f"{name} must be a lowercase hex SHA-256 (64 characters)")


def _require_status(status: str | None) -> None:
    if status is not None and status not in UNIT_STATUSES:
        raise ValueError(f"status must be one of {', '.join(UNIT_STATUSES)}, not {status!r}")
