"""The operator window: sign-in, the batch in work, one tile per slot, recent units,
the QA tab and the sync status bar.

Thin by design: the runner (station.provisioning.runner) provisions, the bridge brings its
events here as queued signals, and everything that writes or waits (database
writes, PIN checks, the sync) runs through :func:`gui.worker.run_in_thread`.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from records import Batch
from station.context import Station
from station.errors import StationError
from station.jobs import stop_jobs
from station.provisioning.batches import open_batch
from station.provisioning.events import AttemptFinished, DeviceOutsideSlots
from station.provisioning.pipeline import ReprovisionOverride
from station.provisioning.runner import Slot, SlotState

from . import theme
from .batch_panel import BatchChoice, BatchPanel, OpenBatchDialog
from .bridge import EventBridge
from .errors import describe, message_box
from .label_preview import LabelPreview
from .line import LineSession
from .qa_tab import QaTab
from .report_export import install_export_buttons
from .sign_in import ROLE_WORDS, SignInPage
from .slot_tile import SlotTile
from .stats import BatchSummary, summarize
from .supervisor import SupervisorDialog
from .sync_adapter import SyncOutcome, SyncService
from .sync_panel import SyncController, SyncPanel
from .tile_grid import TileGrid
from .units_model import UnitsModel
from .worker import run_in_thread

if TYPE_CHECKING:  # the demo (and the cloud libraries it brings) loads only with --demo
    from .demo import DemoLine

log = logging.getLogger(__name__)

RENDER_MS = 60
"""Slot changes are drawn at most this often: a step shows within 60 ms, 16 tiles repaint once."""
RENDER_BUDGET_S = 0.004
"""Tiles drawn in one turn of the event loop stop after this long; the rest follow at once."""
PRINTER_STATUS_MS = 2000
SUMMARY_REFRESH_MS = 500
FIT_SCREEN = (1366, 768)
"""The smallest screen the whole window (status bar and Retry buttons included) fits on."""


def ports_problem(config) -> str:
    """What to say when station.ini names no port at all (``ports =`` empty, no ``[slots]``)."""
    if getattr(config, "slots", ()) or config.auto_ports or config.ports:
        return ""
    return (
        "No ports are configured: this station watches no USB port, so no board will start.\n"
        f"Set [ports] ports = auto (or name each slot under [slots], e.g. A1 = 1-1.2:1.0) in "
        f"{config.path}, then start the app again."
    )


class MainWindow(QMainWindow):
    def __init__(
        self,
        station: Station,
        line: LineSession,
        *,
        sync_service: SyncService | None = None,
        demo: DemoLine | None = None,
        fixed_ports: tuple[str, ...] = (),
        demo_note: str = "",
        ports_note: str = "",
    ) -> None:
        super().__init__()
        self.station = station
        self.records = station.records
        self.line = line
        self.demo = demo
        self.role: str | None = None
        self.summary: BatchSummary | None = None
        self.tiles: dict[str, SlotTile] = {}
        self.supervisor_dialog: SupervisorDialog | None = None
        self.batch_dialog: OpenBatchDialog | None = None
        self.error_box: QMessageBox | None = None
        self.sign_out_box: QMessageBox | None = None
        self.quit_box: QMessageBox | None = None
        self.strays: dict[str, str] = {}
        self._badges: set[str] = set()
        self._closing = False
        config = station.config
        self.setWindowTitle(f"Provisioning station {config.station_id}" + ("  —  DEMO" if demo else ""))
        self._fit_to_screen()

        self.bridge = EventBridge(line.bus, self)
        self.bridge.connect_queued("slots_changed", self._slots_changed)
        self.bridge.connect_queued("attempt_finished", self._attempt_finished)
        self.bridge.connect_queued("device_outside_slots", self._device_outside_slots)

        self.stack = QStackedWidget()
        self.sign_in = SignInPage(self.records, demo_note=demo_note)
        self.sign_in.signed_in.connect(self.signed_in)
        self.stack.addWidget(self.sign_in)
        self.work = self._build_work_area()
        self.stack.addWidget(self.work)
        self.setCentralWidget(self.stack)

        self.sync_panel = SyncPanel()
        self.statusBar().addPermanentWidget(self.sync_panel)
        self.line_status = QLabel("")
        self.line_status.setObjectName("lineStatus")
        self.statusBar().addWidget(self.line_status)
        self.printer_status = QLabel("")
        self.printer_status.setObjectName("printerStatus")
        if line.runner.labels is not None:
            self.statusBar().addPermanentWidget(self.printer_status)
            self._printer_timer = QTimer(self)
            self._printer_timer.setInterval(PRINTER_STATUS_MS)
            self._printer_timer.timeout.connect(self._show_printer_status)
            self._printer_timer.start()
            self._show_printer_status()
        self.sync = SyncController(
            sync_service or SyncService(station), self.sync_panel, interval_seconds=config.sync_interval_seconds, parent=self
        )
        self.sync.finished.connect(self._sync_finished)
        self.sync.status_changed.connect(self._sync_status)
        self._build_shortcuts()
        if demo is not None:
            self._build_demo_menu()
        if ports_note:
            self.grid.set_empty_text(ports_note, problem=True)

        self._pending_slots: dict[str, Slot] = {}
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(RENDER_MS)
        self._render_timer.timeout.connect(self._render_slots)

        self.clock = QTimer(self)
        self.clock.setInterval(500)  # the running tiles' elapsed time; each tick repaints 16 labels
        self.clock.timeout.connect(self._tick)
        self.clock.start()

        self._units_refresh = QTimer(self)
        self._units_refresh.setSingleShot(True)
        self._units_refresh.setInterval(1000)
        self._units_refresh.timeout.connect(self.units_model.refresh)
        self._qa_refresh = QTimer(self)
        self._qa_refresh.setSingleShot(True)
        self._qa_refresh.setInterval(1000)
        self._qa_refresh.timeout.connect(self.qa_tab.refresh)
        self._summary_refresh = QTimer(self)
        self._summary_refresh.setSingleShot(True)
        self._summary_refresh.setInterval(SUMMARY_REFRESH_MS)
        self._summary_refresh.timeout.connect(self.refresh_summary)
        self._summary_reading = False
        self.tabs.currentChanged.connect(self._tab_changed)

        for port in fixed_ports:
            self._tile(port)
        self.sync.start()
        self.show_sign_in()

    def _show_printer_status(self) -> None:
        """The label printer in the status bar: its state and the labels waiting for it."""
        labels = self.line.runner.labels
        if labels is None:
            return
        status = labels.status()
        text = f"label printer {status.printer_name}: {status.printer.state.replace('_', ' ')}"
        if status.pending:
            text += f", {status.pending} label(s) waiting"
        self.printer_status.setText(text)
        self.printer_status.setProperty("role", "" if status.printer.ready else "warn")
        self.printer_status.setToolTip(status.printer.detail or "")
        self.printer_status.style().polish(self.printer_status)

    # -- building ---------------------------------------------------------------------

    def _build_work_area(self) -> QWidget:
        work = QWidget()
        layout = QVBoxLayout(work)
        layout.setContentsMargins(12, 8, 12, 4)

        header = QHBoxLayout()
        station_label = QLabel(f"Station {self.station.config.station_id}")
        station_label.setFont(theme.font(15, bold=True))
        header.addWidget(station_label)
        if self.demo is not None:
            badge = QLabel("  DEMO — simulated boards  ")
            badge.setStyleSheet(f"background: {theme.WARN_BG}; border: 2px solid #8A6D00; font-weight: 800;")
            header.addWidget(badge)
        header.addStretch(1)
        self.scan_edit = QLineEdit()
        self.scan_edit.setObjectName("scan")
        self.scan_edit.setPlaceholderText("scanner")
        self.scan_edit.setToolTip("Barcode scans land here (labels, badges).")
        self.scan_edit.setMaximumWidth(220)
        self.scan_edit.returnPressed.connect(lambda: self.scanned(self.scan_edit))
        header.addWidget(self.scan_edit)
        self.scan_message = QLabel("")
        self.scan_message.setObjectName("scanMessage")
        self.scan_message.setProperty("role", "error")
        self.scan_message.setFont(theme.font(13, bold=True))
        header.addWidget(self.scan_message)
        self.user_label = QLabel("")
        self.user_label.setObjectName("signedInUser")
        self.user_label.setFont(theme.font(15, bold=True))
        header.addWidget(self.user_label)
        self.sign_out_button = QPushButton("Sign out")
        self.sign_out_button.setObjectName("signOut")
        self.sign_out_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # a scanner's Space must not sign out
        self.sign_out_button.clicked.connect(self.ask_sign_out)
        header.addWidget(self.sign_out_button)
        layout.addLayout(header)

        self.batch_panel = BatchPanel()
        self.batch_panel.open_requested.connect(self.ask_batch)
        self.batch_panel.close_requested.connect(self.ask_close_batch)
        layout.addWidget(self.batch_panel)

        self.label_bar = QFrame()
        self.label_bar.setObjectName("labelBar")
        self.label_bar.setStyleSheet(f"QFrame#labelBar {{ background: {theme.WARN_BG}; border-radius: 8px; }}")
        label_layout = QHBoxLayout(self.label_bar)
        caption = QLabel("Scan the board's label, then plug the board in:")
        caption.setFont(theme.font(15, bold=True))
        self.label_edit = QLineEdit()
        self.label_edit.setObjectName("labelScan")
        self.label_edit.setFont(theme.font(20, bold=True, mono=True))
        self.label_edit.setPlaceholderText("label")
        self.label_edit.returnPressed.connect(lambda: self.scanned(self.label_edit))
        self.labels_waiting = QLabel("")
        self.labels_waiting.setObjectName("labelsWaiting")
        self.labels_waiting.setFont(theme.font(14, bold=True))
        label_layout.addWidget(caption)
        label_layout.addWidget(self.label_edit, 1)
        label_layout.addWidget(self.labels_waiting)
        self.label_bar.setVisible(self.station.config.require_label)
        self.scan_edit.setVisible(not self.station.config.require_label)
        layout.addWidget(self.label_bar)

        self.stray_bar = QLabel("")
        self.stray_bar.setObjectName("strayBar")
        self.stray_bar.setWordWrap(True)
        self.stray_bar.setFont(theme.font(14, bold=True))
        self.stray_bar.setStyleSheet(f"background: {theme.WARN_BG}; border: 2px solid #8A6D00; padding: 6px;")
        self.stray_bar.setVisible(False)
        layout.addWidget(self.stray_bar)

        self.sync_error_bar = QLabel("")
        self.sync_error_bar.setObjectName("syncErrorBar")
        self.sync_error_bar.setWordWrap(True)
        self.sync_error_bar.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.sync_error_bar.setFont(theme.font(12, bold=True))
        self.sync_error_bar.setStyleSheet(f"background: #FBE3D6; border: 2px solid {theme.FAIL_BG}; padding: 6px;")
        self.sync_error_bar.setVisible(False)
        layout.addWidget(self.sync_error_bar)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("tabs")
        self.grid = TileGrid()
        self.tabs.addTab(self.grid, "Line")

        units_page = QWidget()
        units_layout = QVBoxLayout(units_page)
        search_row = QHBoxLayout()
        self.units_search = QLineEdit()
        self.units_search.setObjectName("unitsSearch")
        self.units_search.setPlaceholderText("Search a serial")
        self.units_search.setClearButtonEnabled(True)
        search_row.addWidget(QLabel("Recent units"))
        search_row.addWidget(self.units_search, 1)
        units_layout.addLayout(search_row)
        self.units_model = UnitsModel(self.records)
        self.units_view = QTableView()
        self.units_view.setObjectName("unitsView")
        self.units_view.setModel(self.units_model)
        self.units_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.units_view.verticalHeader().setVisible(False)
        self.units_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.units_view.horizontalHeader().setDefaultSectionSize(190)
        self.units_view.horizontalHeader().setStretchLastSection(True)
        units_layout.addWidget(self.units_view)
        self.label_preview: LabelPreview | None = None
        if self.line.runner.labels is not None:
            units_layout.addLayout(self._build_label_box())
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(250)
        self._search_timer.timeout.connect(lambda: self.units_model.set_filter(search=self.units_search.text()))
        self.units_search.textChanged.connect(lambda _text: self._search_timer.start())
        self.tabs.addTab(units_page, "Units")

        self.qa_tab = QaTab(self.records)
        self.qa_tab.revoke_requested.connect(self.ask_revoke)
        install_export_buttons(self.qa_tab, self.station)
        qa_scroll = QScrollArea()  # the QA page scrolls on a small screen; the line page never does
        qa_scroll.setWidgetResizable(True)
        qa_scroll.setFrameShape(QFrame.Shape.NoFrame)
        qa_scroll.setWidget(self.qa_tab)
        self.qa_page = qa_scroll
        self.qa_index = self.tabs.addTab(qa_scroll, "QA")
        self.tabs.setTabVisible(self.qa_index, False)
        layout.addWidget(self.tabs, 1)
        return work

    def _fit_to_screen(self) -> None:
        """The whole screen, as a line station is used (the app then shows it maximized; the
        size is for a desktop without a window manager); 1500 x 940 with no screen to ask."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        available = screen.availableGeometry() if screen is not None else None
        if available is None:
            self.resize(1500, 940)
            return
        self.resize(available.width(), available.height())

    def _build_shortcuts(self) -> None:
        """Keys for the line's actions (they work wherever the focus is in this window)."""
        for text, keys, handler in (
            ("Retry every failed board still plugged in", ("F5", "Ctrl+R"), self.retry_failed),
            ("Supervisor: provision a refused board again", ("F8",), self.supervisor_shortcut),
            ("Sign out", ("Ctrl+Shift+Q",), self.ask_sign_out),
        ):
            action = QAction(text, self)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(handler)
            self.addAction(action)

    def _build_demo_menu(self) -> None:
        menu = self.menuBar().addMenu("&Demo")
        for text, shortcut, handler in (
            ("Plug in a new board", "Ctrl+N", lambda: self.demo_plug()),
            ("Plug in a faulty board", "Ctrl+F", lambda: self.demo_plug(["wrong-cn"])),
            ("Plug in a board that already passed", "Ctrl+D", self.demo_plug_duplicate),
            ("Unplug every finished board", "Ctrl+U", self.demo_unplug_finished),
        ):
            action = QAction(text, self)
            action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(handler)
            menu.addAction(action)

    # -- sign-in ----------------------------------------------------------------------

    def show_sign_in(self) -> None:
        self.stack.setCurrentWidget(self.sign_in)
        self.sign_in.reset()

    def signed_in(self, name: str, role: str) -> None:
        log.info("%s signed in as %s", name, role)
        self.scan_message.setText("")
        self._badges = {name}
        records = self.records
        run_in_thread(lambda: {u.name for u in records.users()}, self._badges.update, owner=self)
        self.role = role
        self.line.set_operator(name)
        self.user_label.setText(f"{name}  ·  {ROLE_WORDS.get(role, role)}")
        self.tabs.setTabVisible(self.qa_index, role in ("qa", "supervisor"))
        self.stack.setCurrentWidget(self.work)
        self.tabs.setCurrentIndex(0)
        self._refresh_tiles()
        if not self.line.batch:
            self.choose_batch()
        elif role in ("qa", "supervisor"):
            self.qa_tab.reload_batches(select=self.line.batch)
        self.focus_next_scan()

    def ask_sign_out(self) -> None:
        """Sign-out asks first (No is the default): one stray key press must not sign out."""
        if self.stack.currentWidget() is not self.work or self.sign_out_box is not None:
            return
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Sign out")
        running = self.line.running()
        box.setText(f"Sign out {self.line.operator}?")
        box.setInformativeText(
            (f"{running} board(s) still running finish under your name. " if running else "")
            + "Boards plugged in after you sign out wait until someone signs in."
        )
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.button(QMessageBox.StandardButton.Yes).setText("Sign out")
        self.sign_out_box = box

        def done(_result: int) -> None:
            self.sign_out_box = None
            if box.clickedButton() is box.button(QMessageBox.StandardButton.Yes):
                self.sign_out()
            else:
                self.focus_next_scan()
            box.deleteLater()

        box.finished.connect(done)
        box.open()

    def sign_out(self) -> None:
        log.info("%s signed out", self.line.operator)
        self.line.set_operator(None)
        self.role = None
        self._refresh_tiles()
        self.show_sign_in()

    def focus_next_scan(self) -> None:
        """Put the keyboard focus where the next scan belongs (never on a button)."""
        if self.stack.currentWidget() is self.sign_in:
            self.sign_in.focus_field()
        elif self.tabs.currentIndex() == 0:
            target = self.label_edit if self.station.config.require_label else self.scan_edit
            target.setFocus(Qt.FocusReason.OtherFocusReason)

    def scanned(self, edit: QLineEdit) -> None:
        """A scan on the line page: a badge (sign out first), else a label when labels are on."""
        text = edit.text().strip()
        edit.clear()
        if not text:
            return
        if text in self._badges or text == self.line.operator:
            self.scan_message.setText(
                f"That is a badge: sign out first ({self.line.operator} is signed in) — Sign out, top right"
            )
            self.focus_next_scan()
            return
        self.scan_message.setText("")
        if self.station.config.require_label:
            self.line.queue_label(text)
            self._show_labels_waiting()
        else:
            self.scan_message.setText("Labels are not used on this station: just plug the board in")
        self.focus_next_scan()

    # -- the batch --------------------------------------------------------------------

    def choose_batch(self) -> None:
        """One open batch: take it. Several or none: ask."""
        records = self.records

        def chosen(batches: list[Batch]) -> None:
            open_batches = [b for b in batches if b.is_open]
            if len(open_batches) == 1 and not self.line.batch:
                self.use_batch(open_batches[0].id)
            elif not self.line.batch:
                self._open_batch_dialog(open_batches)

        run_in_thread(records.list_batches, chosen, self.report_error, owner=self)

    def ask_batch(self) -> None:
        run_in_thread(
            self.records.list_batches,
            lambda batches: self._open_batch_dialog([b for b in batches if b.is_open]),
            self.report_error,
            owner=self,
        )

    def _open_batch_dialog(self, open_batches: list[Batch]) -> None:
        if self.batch_dialog is not None:
            return
        product = self.summary.product if self.summary else ""
        dialog = OpenBatchDialog(open_batches, default_product=product, parent=self)
        self.batch_dialog = dialog

        def finished(_result: int) -> None:
            self.batch_dialog = None
            if dialog.choice is not None:
                self.start_batch(dialog.choice)
            dialog.deleteLater()
            self.focus_next_scan()

        dialog.finished.connect(finished)
        dialog.open()

    def start_batch(self, choice: BatchChoice) -> None:
        records = self.records
        actor = self.line.operator or "station-gui"
        if choice.existing:
            self.use_batch(choice.batch_id)
            return
        run_in_thread(
            lambda: open_batch(records, choice.batch_id, choice.product, choice.planned, actor),
            lambda batch: self.use_batch(batch.id),
            self.report_error,
            owner=self,
        )

    def use_batch(self, batch_id: str | None) -> None:
        self.line.set_batch(batch_id)
        self._refresh_tiles()
        if batch_id is None:
            self.summary = None
            self.batch_panel.set_summary(None)
            return
        records = self.records
        run_in_thread(lambda: summarize(records, batch_id), self._show_summary, self.report_error, owner=self)
        if self.role in ("qa", "supervisor"):
            self.qa_tab.reload_batches(select=batch_id)

    def _show_summary(self, summary: BatchSummary) -> None:
        if summary.batch != self.line.batch:
            return
        self.summary = summary
        self.batch_panel.set_summary(summary)

    def ask_close_batch(self) -> None:
        batch_id = self.line.batch
        if not batch_id:
            return
        self.ask_supervisor(
            title="Close the batch",
            action=f"Close batch {batch_id}. No more boards can be provisioned into it.",
            need_reason=False,
            then=lambda user, _reason: self._close_batch(batch_id, user.name),
        )

    def _close_batch(self, batch_id: str, supervisor: str) -> None:
        records = self.records

        def closed(_batch: object) -> None:
            if self.line.batch == batch_id:
                self.use_batch(None)
                self.choose_batch()

        run_in_thread(lambda: records.close_batch(batch_id, supervisor), closed, self.report_error, owner=self)

    # -- supervisor actions -------------------------------------------------------------

    def ask_supervisor(self, *, title: str, action: str, need_reason: bool, then, default_reason: str = "") -> None:
        if self.supervisor_dialog is not None:
            self.supervisor_dialog.raise_()
            return
        dialog = SupervisorDialog(
            self.records, title=title, action=action, need_reason=need_reason, default_reason=default_reason, parent=self
        )
        self.supervisor_dialog = dialog

        def finished(result: int) -> None:
            self.supervisor_dialog = None
            if result and dialog.approved_by is not None:
                then(dialog.approved_by, dialog.reason)
            dialog.deleteLater()
            self.focus_next_scan()

        dialog.finished.connect(finished)
        dialog.open()

    def ask_override(self, port: str) -> None:
        tile = self.tiles.get(port)
        serial = tile.slot.serial if tile else None
        if tile is None or serial is None:
            return
        self.ask_supervisor(
            title="Provision again",
            action=f"Board {serial} was already provisioned. Provision it again on {port}?",
            need_reason=True,
            default_reason="",
            then=lambda user, reason: self._override(port, user.name, reason),
        )

    def _override(self, port: str, supervisor: str, reason: str) -> None:
        log.info("supervisor %s allows re-provisioning on %s: %s", supervisor, port, reason)
        if not self.line.reprovision(port, ReprovisionOverride(by=supervisor, reason=reason)):
            self.show_problem("Cannot start the board", "The board is not on its port any more.", "Plug it in again.")

    def ask_revoke(self, serial: str) -> None:
        self.ask_supervisor(
            title="Revoke a unit",
            action=f"Revoke {serial}: the cloud will refuse this board once synced.",
            need_reason=True,
            then=lambda user, reason: self._revoke(serial, user.name, reason),
        )

    def _revoke(self, serial: str, supervisor: str, reason: str) -> None:
        records = self.records

        def revoked(_unit: object) -> None:
            self.units_model.refresh()
            self.qa_tab.model.refresh()
            self.sync.refresh()

        run_in_thread(lambda: records.revoke(serial, actor=supervisor, reason=reason), revoked, self.report_error, owner=self)

    # -- labels -------------------------------------------------------------------------

    def _build_label_box(self) -> QHBoxLayout:
        """The selected unit's label, drawn from the same template and data the printer gets,
        and a supervisor's reprint."""
        box = QHBoxLayout()
        self.label_preview = LabelPreview()
        self.label_preview.setMaximumHeight(200)
        box.addWidget(self.label_preview, 1)
        self.reprint_button = QPushButton("Reprint label…")
        self.reprint_button.setObjectName("reprintLabel")
        self.reprint_button.setEnabled(False)
        self.reprint_button.clicked.connect(self.ask_reprint)
        box.addWidget(self.reprint_button)
        self.units_view.selectionModel().currentRowChanged.connect(lambda current, _old: self._preview_unit(current.row()))
        return box

    def selected_unit(self) -> object:
        return self.units_model.unit_at(self.units_view.currentIndex().row())

    def _preview_unit(self, row: int) -> None:
        labels, unit = self.line.runner.labels, self.units_model.unit_at(row)
        if labels is None or self.label_preview is None:
            return
        if unit is None:
            self.label_preview.set_layout(None)
            self.reprint_button.setEnabled(False)
            return
        try:
            data = labels.data(serial=unit.serial, product=unit.product, batch=unit.batch,
                               device_key_sha256=unit.device_key_sha256)
            self.label_preview.set_layout(labels.preview(data))
        except StationError as exc:  # no template for this product, a code that cannot be drawn
            self.label_preview.set_layout(None)
            self.label_preview.setToolTip(f"{exc.code}: {exc.message}")
        self.reprint_button.setEnabled(unit.status == "allowed")

    def ask_reprint(self) -> None:
        unit = self.selected_unit()
        if unit is None:
            return
        self.ask_supervisor(
            title="Reprint a label",
            action=f"Print the label of {unit.serial} again.",
            need_reason=False,
            then=lambda user, _reason: self._reprint(unit, user.name),
        )

    def _reprint(self, unit: object, supervisor: str) -> None:
        labels = self.line.runner.labels
        if labels is None:
            return
        labels.reprint(serial=unit.serial, product=unit.product, batch=unit.batch,
                       device_key_sha256=unit.device_key_sha256, supervisor=supervisor)

    def label_scanned(self) -> None:
        self.scanned(self.label_edit)

    def _show_labels_waiting(self) -> None:
        waiting = self.line.queued_labels()
        self.labels_waiting.setText(f"{waiting} label(s) waiting for a board" if waiting else "")

    # -- runner events --------------------------------------------------------------------

    def _tile(self, port: str) -> SlotTile:
        tile = self.tiles.get(port)
        if tile is None:
            tile = SlotTile(port, demo=self.demo is not None)
            tile.set_armed(self.line.armed)
            tile.retry_requested.connect(self.retry)
            tile.override_requested.connect(self.ask_override)
            tile.demo_unplug_requested.connect(self.demo_unplug)
            tile.demo_plug_requested.connect(self.demo_plug_into)
            self.tiles[port] = tile
            self.grid.add(tile)
        return tile

    def _slots_changed(self) -> None:
        for slot in self.bridge.take_slots():
            self._slot_changed(slot)

    def _slot_changed(self, slot: Slot) -> None:
        """Keep the newest state per port; tiles are redrawn at most every RENDER_MS."""
        if self._closing:
            return
        self._pending_slots[slot.port] = slot
        if not self._render_timer.isActive():
            self._render_timer.start(RENDER_MS)

    def _render_slots(self) -> None:
        """Redraw the tiles whose slot changed, for at most RENDER_BUDGET_S at a time.

        A wave of 16 boards changes 16 tiles at once; drawing them all in one go held the
        event loop for 15-40 ms. The rest waits for the next turn of the loop (a 0 ms
        timer), so a click or a scan is served between two slices.
        """
        pending, self._pending_slots = self._pending_slots, {}
        if self._closing:
            return
        armed = self.line.armed
        started = time.perf_counter()
        ports = iter(pending)
        for port in ports:
            self._tile(port).set_slot(pending[port], armed)
            if time.perf_counter() - started >= RENDER_BUDGET_S:
                break
        left = {port: pending[port] for port in ports}
        if left:
            self._pending_slots = left
            self._render_timer.start(0)
        self._show_line_status()
        if self.label_bar.isVisible():
            self._show_labels_waiting()
        self.sign_in.show_waiting(sum(1 for t in self.tiles.values() if t.slot.present and t.slot.state == SlotState.WAITING))

    def _attempt_finished(self, event: AttemptFinished) -> None:
        if self._closing:
            return
        if self.line.batch and not self._summary_refresh.isActive():
            self._summary_refresh.start()
        if event.passed and not self._units_refresh.isActive():
            self._units_refresh.start()
        if self.tabs.currentWidget() is self.qa_page and not self._qa_refresh.isActive():
            self._qa_refresh.start()
        self.sync.refresh_soon()

    def refresh_summary(self) -> None:
        """Read the batch bar's counters again (one aggregate, on a worker thread)."""
        batch_id = self.line.batch
        if not batch_id or self._closing:
            return
        if self._summary_reading:
            self._summary_refresh.start()
            return
        self._summary_reading = True
        records = self.records

        def shown(summary: BatchSummary) -> None:
            self._summary_reading = False
            self._show_summary(summary)

        def failed(exc: BaseException) -> None:
            self._summary_reading = False
            log.warning("batch figures not read: %s", exc)

        run_in_thread(lambda: summarize(records, batch_id), shown, failed, owner=self)

    def _device_outside_slots(self, event: DeviceOutsideSlots) -> None:
        if event.present:
            self.strays[event.device] = event.location
        else:
            self.strays.pop(event.device, None)
        names = ", ".join(tile.port for tile in self.tiles.values()) or "none yet"
        lines = [
            f"A board on USB {location} ({device}) is in no named slot: it is NOT provisioned. "
            for device, location in sorted(self.strays.items())
        ]
        self.stray_bar.setText(
            "".join(lines) + f"Move it into a slot ({names}), or name its place under [slots] in station.ini."
        )
        self.stray_bar.setVisible(bool(self.strays))

    def _sync_finished(self, _outcome: SyncOutcome) -> None:
        """After a sync the tables show the new sync state (pending becomes synced)."""
        if self._closing:
            return
        self.units_model.refresh()
        if self.tabs.isTabVisible(self.qa_index):
            self.qa_tab.refresh()

    def _sync_status(self, status) -> None:
        """The last sync's error in full, with what to do (the status bar has no room)."""
        if self.sync.running:
            return  # the run records its outcome before the app hears it: wait for the whole of it
        last = status.last_run if status.configured else None
        error = (last or {}).get("error") or ((last or {}).get("failed") and f"{last['failed']} unit(s) were not accepted")
        if not error:
            self.sync_error_bar.setVisible(False)
            return
        outcome = self.sync.last_outcome
        hint = outcome.hint if outcome is not None and outcome.error == error and outcome.hint else (
            "Check [cloud] in station.ini and the network; `station sync` on this PC shows the details. "
            "Boards keep being provisioned meanwhile: they are sent at the next successful sync."
        )
        self.sync_error_bar.setText(f"Cloud sync failed: {error}\nWhat to do: {hint}")
        self.sync_error_bar.setVisible(True)

    def _tab_changed(self, _index: int) -> None:
        if self.tabs.currentWidget() is self.qa_page:
            self.qa_tab.refresh()
        self.focus_next_scan()

    def _refresh_tiles(self) -> None:
        armed = self.line.armed
        for tile in self.tiles.values():
            tile.set_armed(armed)

    def _tick(self) -> None:
        for tile in self.tiles.values():
            if tile.slot.state == SlotState.RUNNING:
                tile.tick()

    def _show_line_status(self) -> None:
        slots = [tile.slot for tile in self.tiles.values()]
        running = sum(s.state == SlotState.RUNNING for s in slots)
        passed = sum(s.state == SlotState.PASS for s in slots)
        failed = sum(s.state == SlotState.FAIL for s in slots)
        self.line_status.setText(f"On the line: {running} running · {passed} PASS · {failed} FAIL")

    def retry(self, port: str) -> None:
        if not self.line.retry(port):
            log.info("retry on %s refused (not armed, not present or running)", port)
        self.focus_next_scan()

    def retry_failed(self) -> None:
        """F5: Retry on every FAIL tile whose board is still plugged in."""
        if self.stack.currentWidget() is not self.work:
            return
        for tile in list(self.tiles.values()):
            if tile.slot.state == SlotState.FAIL and tile.slot.present:
                self.line.retry(tile.port)
        self.focus_next_scan()

    def supervisor_shortcut(self) -> None:
        """F8: the supervisor action of the first tile that offers one."""
        if self.stack.currentWidget() is not self.work:
            return
        tile = next((t for t in self.tiles.values() if t.override_button.isVisible()), None)
        if tile is not None:
            self.ask_override(tile.port)

    # -- demo controls ------------------------------------------------------------------

    def demo_plug(self, faults: list[str] | None = None, serial: str | None = None) -> str | None:
        if self.demo is None:
            return None
        return self.demo.plug_new(faults or [], serial=serial)

    def demo_plug_into(self, port: str) -> None:
        """A tile's "plug a new board": into that slot (named slots), or the empty tile makes
        room for the new board's port."""
        from .demo import DemoSlots

        if self.demo is not None and isinstance(self.demo.ports, DemoSlots):
            self.demo.plug_new([], slot=port)
            return
        tile = self.tiles.get(port)
        if tile is not None and not tile.slot.present:
            del self.tiles[port]
            self.grid.remove(tile)
        self.demo_plug()

    def demo_unplug(self, port: str) -> None:
        if self.demo is not None:
            self.demo.unplug(port)

    def demo_unplug_finished(self) -> None:
        for tile in list(self.tiles.values()):
            if tile.slot.present and tile.slot.state in (SlotState.PASS, SlotState.FAIL):
                self.demo_unplug(tile.port)

    def demo_plug_duplicate(self) -> None:
        """A new board with the serial of one that already passed: the supervisor override demo."""
        records = self.records

        def plug(units: list) -> None:
            if units:
                self.demo_plug(serial=units[0].serial)
            else:
                self.show_problem("No board has passed yet", "Nothing to duplicate.", "Let a board PASS first.")

        run_in_thread(lambda: records.units(limit=1), plug, self.report_error, owner=self)

    # -- errors -----------------------------------------------------------------------

    def report_error(self, exc: BaseException) -> None:
        log.warning("action failed: %s", exc)
        problem = describe(exc)
        self._open_box(message_box(self, problem))

    def show_problem(self, title: str, text: str, hint: str) -> None:
        from .errors import Problem

        self._open_box(message_box(self, Problem(title, text, hint, "")))

    def _open_box(self, box: QMessageBox) -> None:
        if self.error_box is not None:
            self.error_box.close()
        self.error_box = box
        box.finished.connect(lambda _r: self.focus_next_scan())
        box.open()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self.focus_next_scan)

    # -- closing ------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closing and self.line.running():
            box = QMessageBox(
                QMessageBox.Icon.Warning,
                "Boards are still running",
                "Boards are still being provisioned. Quit anyway? Running boards get up to 10 s to "
                "finish; the others are recorded as aborted and can be plugged in again.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                self,
            )
            box.setDefaultButton(QMessageBox.StandardButton.No)  # Enter or Space keeps the line running
            self.quit_box = box
            answer = box.exec()
            self.quit_box = None
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.shutdown()
        event.accept()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the line, the sync timer and the demo boards (idempotent)."""
        if self._closing:
            return
        self._closing = True
        for timer in (self.clock, self._render_timer, self._units_refresh, self._qa_refresh, self._summary_refresh, self._search_timer, self.qa_tab._search_timer):
            timer.stop()
        scene = getattr(self, "_scene", None)
        if scene is not None:
            scene.timer.stop()
        self.units_model.close()
        self.qa_tab.model.close()
        self.sync.stop()
        stop_jobs()  # a sync or export still running in its child process: nothing confirmed is lost
        self.line.stop(timeout=timeout)
        self.bridge.detach()
        if self.demo is not None:
            self.demo.stop()
