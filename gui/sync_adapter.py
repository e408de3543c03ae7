"""The one place where the app meets the DynamoDB sync of ``station/``.

The window only knows :class:`SyncService`: ``configured``, ``where``,
``run() -> SyncOutcome`` (blocking: the window calls it on a worker thread, never
on the UI thread) and ``status()`` for the status bar. ``run`` is one
``station.sync.engine.run_station_sync`` in a child process (:mod:`station.jobs`:
boto3 never runs in the app's process, where it would hold the interpreter lock for
tens of milliseconds while the tiles wait): config checks, the sync lock, a table that
forgot, the run, its bookkeeping in records. A permanent error (no table, credentials)
comes back as an outcome with ``error`` set, never as an exception.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from records import Records
from station.context import Station
from station.jobs import JobFailed, cloud_spec, run_job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncOutcome:
    sent: int = 0
    unchanged: int = 0
    conflicts: int = 0
    failed: int = 0
    pending_left: int = 0
    error: str | None = None
    hint: str | None = None
    """What to do about ``error`` (the sync's own hint for its code)."""

    @property
    def ok(self) -> bool:
        return self.error is None and self.failed == 0

    @classmethod
    def from_report(cls, report: dict[str, Any]) -> SyncOutcome:
        """From a sync report as JSON (``SyncReport.to_dict()``, what a sync job answers)."""
        error = report.get("error")
        return cls(
            sent=int(report.get("sent") or 0),
            unchanged=int(report.get("unchanged") or 0),
            conflicts=int(report.get("conflicts") or 0),
            failed=int(report.get("failed") or 0),
            pending_left=int(report.get("pending_left") or 0),
            error=None if error is None else str(error),
            hint=report.get("hint") or None,
        )


@dataclass(frozen=True)
class SyncStatus:
    configured: bool
    where: str
    pending: int
    last_run: dict | None
    last_success: dict | None


class SyncService:
    RETRY_FOR_SECONDS = 15.0
    """How long one run keeps retrying while the cloud is unreachable (then: next run)."""

    def __init__(self, station: Station, **options: Any) -> None:
        self.station = station
        self.options = {"retry_for_seconds": self.RETRY_FOR_SECONDS, **options}
        self._running = threading.Lock()

    @property
    def configured(self) -> bool:
        return self.station.config.cloud.configured

    @property
    def where(self) -> str:
        cloud = self.station.config.cloud
        if not cloud.configured:
            return "not configured"
        return f"{cloud.table} @ {cloud.endpoint_url or cloud.region or 'AWS'}"

    def run(self) -> SyncOutcome:
        """One sync run (blocking: call it on a worker thread)."""
        if not self.configured:
            return SyncOutcome(error="no [cloud] table in station.ini: the sync is not configured")
        if not self._running.acquire(blocking=False):
            return SyncOutcome(error="a sync is already running", pending_left=self.station.records.count_pending_sync())
        try:
            # The cloud settings go with the job: the demo points [cloud] at its local server in memory.
            report = run_job({"job": "sync", "config": str(self.station.config.path),
                              "cloud": cloud_spec(self.station.config.cloud),
                              "retry_for": self.options["retry_for_seconds"]})
            return SyncOutcome.from_report(report)
        except JobFailed as exc:
            return SyncOutcome(error=f"{exc.code}: {exc.message}", hint=exc.hint or None,
                               pending_left=_pending(self.station.records))
        except Exception as exc:
            log.exception("sync failed")
            return SyncOutcome(error=f"{type(exc).__name__}: {exc}", pending_left=_pending(self.station.records))
        finally:
            self._running.release()

    def status(self) -> SyncStatus:
        """The figures for the status bar (short indexed reads; worker thread)."""
        records = self.station.records
        return SyncStatus(
            configured=self.configured,
            where=self.where,
            pending=records.count_pending_sync(),
            last_run=records.last_sync(),
            last_success=records.last_successful_sync(),
        )


def _pending(records: Records) -> int:
    try:
        return records.count_pending_sync()
    except Exception:  # noqa: BLE001
        return 0
