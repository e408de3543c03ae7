"""The status bar's sync part: pending count, last success, last error, "Sync now",
and the scheduled sync every ``[sync] interval_seconds`` while the app is open.

Every sync and every status read runs on a worker thread (gui.worker); the UI
thread only starts them and shows what comes back.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from . import icons, theme
from .sync_adapter import SyncOutcome, SyncService, SyncStatus
from .worker import run_in_thread


def local_time(iso: str | None) -> str:
    if not iso:
        return "never"
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    local = moment.astimezone()
    today = datetime.now().astimezone().date()
    return local.strftime("%H:%M:%S") if local.date() == today else local.strftime("%Y-%m-%d %H:%M")


class SyncPanel(QWidget):
    sync_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        icon = QLabel()
        icon.setPixmap(icons.pixmap("sync", 22, "#333333"))
        layout.addWidget(icon)
        self.pending_label = QLabel("Cloud sync: …")
        self.pending_label.setObjectName("syncPending")
        self.pending_label.setFont(theme.font(12, bold=True))
        self.success_label = QLabel("")
        self.success_label.setObjectName("syncLastSuccess")
        self.error_label = QLabel("")
        self.error_label.setObjectName("syncLastError")
        self.error_label.setProperty("role", "error")
        self.error_label.setMaximumWidth(520)
        self.button = QPushButton("Sync now")
        self.button.setObjectName("syncNow")
        self.button.setIcon(icons.icon("sync"))
        self.button.clicked.connect(self.sync_requested)
        for widget in (self.pending_label, self.success_label, self.error_label):
            layout.addWidget(widget)
        layout.addWidget(self.button)

    def show_status(self, status: SyncStatus, running: bool) -> None:
        if not status.configured:
            self.pending_label.setText(f"Cloud sync not configured · {status.pending} unit(s) not in the cloud")
            self.success_label.setText("")
            self.error_label.setText("")
            self.button.setEnabled(False)
            self.button.setToolTip("Set [cloud] table (and region or endpoint_url) in station.ini.")
            return
        self.button.setEnabled(not running)
        self.button.setToolTip(f"Send the allow-list to {status.where} now")
        self.pending_label.setText(
            "Syncing…" if running else f"{status.pending} waiting for the cloud"
        )
        success = status.last_success
        self.success_label.setText(f"·  last sync OK: {local_time(success['finished_at'] if success else None)}")
        last = status.last_run
        if last and (last.get("error") or last.get("failed")):
            text = last.get("error") or f"{last.get('failed')} unit(s) failed"
            self.error_label.setText(f"·  last error ({local_time(last['finished_at'])}): {text}")
            self.error_label.setToolTip(text)
        else:
            self.error_label.setText("")
            self.error_label.setToolTip("")

    def show_running(self) -> None:
        self.button.setEnabled(False)
        self.pending_label.setText("Syncing…")


class SyncController(QObject):
    """Runs the sync on a worker thread: on demand and every ``interval_seconds``."""

    finished = Signal(object)  # SyncOutcome
    status_changed = Signal(object)  # SyncStatus

    def __init__(self, service: SyncService, panel: SyncPanel, *, interval_seconds: float, parent: QObject | None = None):
        super().__init__(parent)
        self.service = service
        self.panel = panel
        self.running = False
        self.status: SyncStatus | None = None
        self.last_outcome: SyncOutcome | None = None
        self.runs = 0
        panel.sync_requested.connect(self.sync_now)
        self.timer = QTimer(self)
        self.timer.setInterval(max(5_000, int(interval_seconds * 1000)))
        self.timer.timeout.connect(self.scheduled)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(1000)
        self._refresh_timer.timeout.connect(self.refresh)
        self._status_reading = False

    def start(self) -> None:
        self.timer.start()
        self.refresh()

    def stop(self) -> None:
        self.timer.stop()
        self._refresh_timer.stop()

    def scheduled(self) -> None:
        if self.service.configured and not self.running:
            self.sync_now()

    def sync_now(self) -> None:
        if self.running or not self.service.configured:
            return
        self.running = True
        self.panel.show_running()
        run_in_thread(self.service.run, self._done, self._failed, owner=self)

    def _done(self, outcome: SyncOutcome) -> None:
        self.running = False
        self.runs += 1
        self.last_outcome = outcome
        self.finished.emit(outcome)
        self.refresh()

    def _failed(self, exc: BaseException) -> None:
        self._done(SyncOutcome(error=str(exc)))

    def refresh_soon(self) -> None:
        """Coalesce many reasons to refresh (every board that finishes) into one read a second."""
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def refresh(self) -> None:
        if self._status_reading:
            self.refresh_soon()
            return
        self._status_reading = True
        run_in_thread(self.service.status, self._show, self._status_failed, owner=self)

    def _show(self, status: SyncStatus) -> None:
        self._status_reading = False
        self.status = status
        self.panel.show_status(status, self.running)
        self.status_changed.emit(status)

    def _status_failed(self, exc: BaseException) -> None:
        self._status_reading = False
        self.panel.error_label.setText(f"cannot read the sync state: {exc}")
