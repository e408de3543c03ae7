"""The print queue: labels leave the line at once and reach the printer when it can take them.

:meth:`PrintQueue.submit` only records the job (in memory and in the durable store) and
wakes a worker thread; it never talks to the printer, so a printer that is off, out of
labels or slow cannot slow the line. The worker sends jobs in order; a job the printer
did not take stays first in line and is retried with a growing pause (``backoff_first``
doubling up to ``backoff_max``). Each job has an id: a job is removed from the queue as
soon as the printer took it and a second submit of the same id is ignored, so a label
prints once. Two windows remain where a label can come out twice, never none: a station
killed between the printer taking a job and the store being rewritten (it is sent again at
the next start), and a printer that loses power or network after taking a job but before
answering the ``~HS`` that confirms it (the job is retried).

The listener hears every outcome (``printed``, or ``queued`` with the printer's error
code and hint) from the worker thread; the runner turns a tile amber on ``queued``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from station.labels.errors import LabelError, PrinterError
from station.labels.printers import PrinterStatus, PrinterTransport
from station.labels.template import LabelData, LabelTemplate, layout_label
from station.labels.zpl import render_reject_zpl, render_zpl

log = logging.getLogger(__name__)

JOB_KINDS = ("label", "reprint", "reject")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def new_job_id(serial: str, kind: str = "label") -> str:
    """Unique, and readable in a printer log: ``label-SERIAL-1a2b3c4d5e6f``."""
    return f"{kind}-{_UNSAFE.sub('_', serial)[:40]}-{uuid.uuid4().hex[:12]}"


@dataclass
class LabelJob:
    job_id: str
    serial: str
    kind: str
    data: bytes
    created_at: float = field(default_factory=time.time)
    attempts: int = 0
    last_code: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "job_id": self.job_id, "serial": self.serial, "kind": self.kind,
            "data": base64.b64encode(self.data).decode("ascii"),
            "created_at": self.created_at, "attempts": self.attempts, "last_code": self.last_code,
        }

    @classmethod
    def from_json(cls, item: dict[str, object]) -> LabelJob:
        return cls(
            job_id=str(item["job_id"]), serial=str(item["serial"]), kind=str(item["kind"]),
            data=base64.b64decode(str(item["data"])), created_at=float(item["created_at"]),  # type: ignore[arg-type]
            attempts=int(item.get("attempts", 0)),  # type: ignore[arg-type]
            last_code=item.get("last_code"),  # type: ignore[arg-type]
        )


def label_job(template: LabelTemplate, data: LabelData, kind: str = "label") -> LabelJob:
    """The ZPL job for one unit's label (``kind`` label or reprint)."""
    job_id = new_job_id(data.serial, kind)
    return LabelJob(job_id, data.serial, kind, render_zpl(layout_label(template, data), job_id))


def reject_job(template: LabelTemplate, serial: str, reason: str) -> LabelJob:
    """A reject tag for a FAILed board, the size of the product's label."""
    job_id = new_job_id(serial, "reject")
    return LabelJob(job_id, serial, "reject", render_reject_zpl(template.width, template.height, serial, reason, job_id))


@dataclass(frozen=True)
class JobOutcome:
    job_id: str
    serial: str
    kind: str
    state: str  # printed or queued
    attempts: int
    pending: int
    code: str | None = None
    message: str = ""
    hint: str = ""
    latency_seconds: float | None = None  # submit to printer-took-it, for printed


@dataclass(frozen=True)
class QueueStatus:
    printer: PrinterStatus
    pending: int
    printer_name: str


class QueueStore(Protocol):
    """Where pending jobs survive a restart."""

    def load(self) -> list[LabelJob]: ...

    def save(self, jobs: list[LabelJob]) -> None: ...


class MemoryStore:
    def __init__(self) -> None:
        self.jobs: list[LabelJob] = []

    def load(self) -> list[LabelJob]:
        return list(self.jobs)

    def save(self, jobs: list[LabelJob]) -> None:
        self.jobs = list(jobs)


class JsonFileStore:
    """Pending jobs in a small JSON file (e.g. ``label-queue.json`` next to the database).

    Rewritten whole and atomically (temporary file, then rename) on every change; it holds
    only the jobs not yet printed, so it stays a few kilobytes.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def load(self) -> list[LabelJob]:
        try:
            items = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise LabelError(
                f"the label queue {self.path} cannot be read: {exc}",
                code="LABEL_QUEUE_UNREADABLE",
                hint="Move the file aside (its labels can be reprinted with `station label print SERIAL`) and start again.",
            ) from None
        return [LabelJob.from_json(item) for item in items.get("jobs", [])]

    def save(self, jobs: list[LabelJob]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"version": 1, "jobs": [job.to_json() for job in jobs]})
        fd, tmp = tempfile.mkstemp(prefix=self.path.name, suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


Listener = Callable[[JobOutcome], None]


class PrintQueue:
    """One worker thread per printer; start it once, stop it at shutdown."""

    def __init__(self, printer: PrinterTransport, *, store: QueueStore | None = None,
                 listener: Listener | None = None, backoff_first: float = 0.5, backoff_max: float = 30.0,
                 probe_seconds: float = 5.0, remember_printed: int = 10_000):
        self.printer = printer
        self.store = store if store is not None else MemoryStore()
        self.listeners: list[Listener] = [listener] if listener is not None else []
        self.backoff_first, self.backoff_max = backoff_first, backoff_max
        self.probe_seconds = probe_seconds
        """How often an idle queue asks the printer its state (the status bar is at most this late)."""
        self._lock = threading.Condition()
        self._pending: list[LabelJob] = []
        self._submitted_at: dict[str, float] = {}
        self._printed: deque[str] = deque(maxlen=remember_printed)
        self._reported_queued: set[str] = set()
        self._failures = 0
        self._retry_at = 0.0
        self._last_error: PrinterError | None = None
        self._status = PrinterStatus("unknown", "not tried yet")
        self._sending: str | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None

    # -- the line's side -------------------------------------------------------------

    def start(self) -> PrintQueue:
        """Load the jobs a previous run left and start sending (again after :meth:`stop`)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return self
            self._stopping = False
            known = {job.job_id for job in self._pending}
            now = time.monotonic()
            for job in self.store.load():
                if job.job_id not in known:
                    self._pending.append(job)
                    self._submitted_at[job.job_id] = now
        self._thread = threading.Thread(target=self._work, name="label-printer", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the job being sent (if any); pending jobs stay in the store."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def submit(self, job: LabelJob) -> bool:
        """Queue ``job`` and return at once; False if that job id is already queued or printed."""
        with self._lock:
            if job.job_id in self._printed or any(p.job_id == job.job_id for p in self._pending):
                return False
            self._pending.append(job)
            self._submitted_at[job.job_id] = time.monotonic()
            self.store.save(self._pending)
            self._lock.notify_all()
        return True

    def retry_now(self) -> None:
        """Try the printer again without waiting for the backoff (the operator fixed it)."""
        with self._lock:
            self._retry_at = 0.0
            self._lock.notify_all()

    def pending(self) -> list[LabelJob]:
        with self._lock:
            return list(self._pending)

    def status(self) -> QueueStatus:
        with self._lock:
            return QueueStatus(self._status, len(self._pending), self.printer.name)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once every submitted job printed (tests, the demo, a clean shutdown)."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._pending and self._sending is None, timeout)

    # -- the worker ------------------------------------------------------------------

    def _emit(self, outcome: JobOutcome) -> None:
        for listener in list(self.listeners):
            try:
                listener(outcome)
            except Exception:  # a listener's bug must not stop the printing
                log.exception("label listener failed on %s", outcome.job_id)

    def _queued(self, job: LabelJob, error: PrinterError, pending: int) -> JobOutcome:
        return JobOutcome(job.job_id, job.serial, job.kind, "queued", job.attempts, pending,
                          error.code, error.message, error.hint)

    def _work(self) -> None:
        if not self.pending():
            self._probe()
        while True:
            with self._lock:
                while not self._stopping:
                    now = time.monotonic()
                    if self._pending and now >= self._retry_at:
                        break
                    if self._pending:
                        self._report_waiting()
                        self._lock.wait(self._retry_at - now)
                    elif not self._lock.wait(self.probe_seconds) and not self._pending:
                        break
                if self._stopping:
                    return
                job = self._pending[0] if self._pending else None
                self._sending = job.job_id if job else None
            if job is None:
                self._probe()
                continue
            self._attempt(job)

    def _report_waiting(self) -> None:
        """Jobs that arrived while the printer is known to be down hear so at once."""
        if self._last_error is None:
            return
        fresh = [job for job in self._pending if job.job_id not in self._reported_queued]
        for job in fresh:
            self._reported_queued.add(job.job_id)
        outcomes = [self._queued(job, self._last_error, len(self._pending)) for job in fresh]
        if outcomes:
            self._lock.release()
            try:
                for outcome in outcomes:
                    self._emit(outcome)
            finally:
                self._lock.acquire()

    def _probe(self) -> None:
        status = self.printer.status()
        with self._lock:
            self._status = status
            self._sending = None
            self._lock.notify_all()

    def _attempt(self, job: LabelJob) -> None:
        try:
            self.printer.send(job.data)
        except PrinterError as exc:
            error: PrinterError = exc
        except Exception as exc:  # a transport bug: keep the job, keep the line going
            log.exception("label printer transport failed")
            error = PrinterError(f"{self.printer.name}: {exc.__class__.__name__}")
        else:
            with self._lock:
                self._pending.remove(job)
                self._printed.append(job.job_id)
                self._reported_queued.discard(job.job_id)
                latency = time.monotonic() - self._submitted_at.pop(job.job_id, time.monotonic())
                self._failures, self._retry_at, self._last_error = 0, 0.0, None
                self._status = PrinterStatus("ready", "took the last job")
                self.store.save(self._pending)
                self._sending = None
                pending = len(self._pending)
                self._lock.notify_all()
            self._emit(JobOutcome(job.job_id, job.serial, job.kind, "printed", job.attempts + 1, pending,
                                  latency_seconds=latency))
            return
        with self._lock:
            job.attempts += 1
            job.last_code = error.code
            self._failures += 1
            delay = min(self.backoff_max, self.backoff_first * 2 ** (self._failures - 1))
            self._retry_at = time.monotonic() + delay
            self._last_error = error
            self._status = PrinterStatus.from_error(error)
            self.store.save(self._pending)
            self._sending = None
            self._reported_queued.add(job.job_id)
            outcome = self._queued(job, error, len(self._pending))
            self._lock.notify_all()
        log.warning("label %s for %s not printed (%s); retry in %.1f s", job.job_id, job.serial, error, delay)
        self._emit(outcome)
