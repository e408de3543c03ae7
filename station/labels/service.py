"""What the rest of the station calls: one :class:`LabelService` per open station.

It ties the settings (templates per product, the printer), the print queue and two hooks
the station provides: a :class:`LabelHistory` (the records side: which labels were asked
for, printed or queued, and by whom) and listeners (the runner and the app, to turn a
tile amber). The line calls :meth:`LabelService.print_pass` after the unit is recorded;
it returns at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from station.labels.errors import LabelError, PrinterError
from station.labels.printers import PrinterTransport
from station.labels.queue import (
    JobOutcome,
    JsonFileStore,
    LabelJob,
    Listener,
    PrintQueue,
    QueueStatus,
    QueueStore,
    label_job,
    reject_job,
)
from station.labels.settings import LabelSettings, load_labels_file
from station.labels.template import LabelData, LabelLayout, layout_label

FINGERPRINT_CHARS = 12


def short_fingerprint(device_key_sha256: str, length: int = FINGERPRINT_CHARS) -> str:
    """The first characters of the device key's SHA-256 (as the units table holds it), for the label."""
    return device_key_sha256.replace(":", "").strip()[:length].upper()


class LabelHistory(Protocol):
    """The records side of labels (a table and the audit log); every call is quick and local."""

    def label_requested(self, job: LabelJob, requested_by: str) -> None:
        """A label was put in the queue (kind label, reprint or reject)."""

    def label_outcome(self, outcome: JobOutcome) -> None:
        """The printer took it (printed) or not yet (queued, with the error code)."""


class LabelRecords(Protocol):
    """What :class:`RecordsHistory` needs of the station's records (``records.Records``)."""

    def record_label(self, job_id: str, *, serial: str, kind: str, requested_by: str) -> object: ...

    def record_label_outcome(self, job_id: str, *, state: str, attempts: int, code: str | None) -> object: ...


class RecordsHistory:
    """The label history kept in the station's database (a reprint is also audited there)."""

    def __init__(self, records: LabelRecords):
        self.records = records

    def label_requested(self, job: LabelJob, requested_by: str) -> None:
        self.records.record_label(job.job_id, serial=job.serial, kind=job.kind, requested_by=requested_by)

    def label_outcome(self, outcome: JobOutcome) -> None:
        self.records.record_label_outcome(outcome.job_id, state=outcome.state, attempts=outcome.attempts,
                                          code=outcome.code)


class LabelService:
    def __init__(self, settings: LabelSettings, station_id: str, *, history: LabelHistory | None = None,
                 printer: PrinterTransport | None = None, store: QueueStore | None = None):
        self.settings = settings
        self.station_id = station_id
        self.history = history
        self._listeners: list[Listener] = []
        self.queue = PrintQueue(
            printer if printer is not None else settings.make_printer(),
            store=store if store is not None else JsonFileStore(settings.queue_file),
            listener=self._outcome,
        )

    @classmethod
    def for_station(cls, folder: Path, station_id: str, records: LabelRecords | None = None) -> LabelService | None:
        """The service of the station whose station.ini is in ``folder``: None without a
        ``labels.ini`` there; raises a LabelError for a bad one (at start, not at the first PASS)."""
        settings = load_labels_file(folder)
        if settings is None:
            return None
        return cls(settings, station_id, history=RecordsHistory(records) if records is not None else None)

    def start(self) -> LabelService:
        self.queue.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.queue.stop(timeout)

    def add_listener(self, listener: Callable[[JobOutcome], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[JobOutcome], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _outcome(self, outcome: JobOutcome) -> None:
        if self.history is not None:
            self.history.label_outcome(outcome)
        for listener in list(self._listeners):
            listener(outcome)

    def data(self, *, serial: str, product: str, batch: str, device_key_sha256: str = "",
             when: datetime | None = None) -> LabelData:
        return LabelData(serial=serial, product=product, batch=batch, station=self.station_id,
                         fingerprint=short_fingerprint(device_key_sha256), date=when or datetime.now())

    def preview(self, data: LabelData) -> LabelLayout:
        """The layout the printer would get for this unit (for the app's preview)."""
        return layout_label(self.settings.templates.for_product(data.product), data)

    def _submit(self, job: LabelJob, requested_by: str) -> LabelJob:
        if self.history is not None:
            self.history.label_requested(job, requested_by)
        self.queue.submit(job)
        return job

    def print_pass(self, *, serial: str, product: str, batch: str, device_key_sha256: str,
                   operator: str, when: datetime | None = None) -> LabelJob:
        """Queue the label of a unit that PASSed and was recorded; returns at once."""
        data = self.data(serial=serial, product=product, batch=batch, device_key_sha256=device_key_sha256, when=when)
        return self._submit(label_job(self.settings.templates.for_product(product), data), operator)

    def print_reject(self, *, serial: str, product: str, reason: str, operator: str) -> LabelJob | None:
        """A reject tag for a FAIL, only when ``reject_tag = yes``."""
        if not self.settings.reject_tag:
            return None
        return self._submit(reject_job(self.settings.templates.for_product(product), serial, reason), operator)

    def reprint(self, *, serial: str, product: str, batch: str, device_key_sha256: str,
                supervisor: str, when: datetime | None = None) -> LabelJob:
        """A new label for a recorded unit, asked for by a supervisor (the caller checks the PIN and audits)."""
        if not serial:
            raise LabelError("a reprint needs the unit's serial", code="LABEL_REPRINT_INVALID",
                             hint="Give the serial of a unit that PASSed: station label print SERIAL.")
        data = self.data(serial=serial, product=product, batch=batch, device_key_sha256=device_key_sha256, when=when)
        return self._submit(label_job(self.settings.templates.for_product(product), data, kind="reprint"), supervisor)

    def reprint_now(self, *, serial: str, product: str, batch: str, device_key_sha256: str,
                    supervisor: str, when: datetime | None = None) -> LabelJob:
        """A reprint sent from this thread, for a one-shot command (``station label print``).

        It does not touch the queue file, which belongs to the process running the line;
        a printer that cannot take it raises :class:`PrinterError` (recorded as queued in the
        history) and the supervisor tries again.
        """
        data = self.data(serial=serial, product=product, batch=batch, device_key_sha256=device_key_sha256, when=when)
        job = label_job(self.settings.templates.for_product(product), data, kind="reprint")
        if self.history is not None:
            self.history.label_requested(job, supervisor)
        started = time.monotonic()
        try:
            self.queue.printer.send(job.data)
        except PrinterError as exc:
            job.attempts, job.last_code = 1, exc.code
            self._outcome(JobOutcome(job.job_id, serial, job.kind, "queued", 1, 0, exc.code, exc.message, exc.hint))
            raise
        self._outcome(JobOutcome(job.job_id, serial, job.kind, "printed", 1, 0,
                                 latency_seconds=time.monotonic() - started))
        return job

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for every queued label to print (a one-shot command that
        exits); True if none is left. Labels still queued stay in the queue file."""
        return self.queue.wait_idle(timeout)

    def status(self) -> QueueStatus:
        return self.queue.status()
