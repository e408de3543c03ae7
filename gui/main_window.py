"""The operator window: sign-in, the batch in work, one tile per slot, recent units,
the QA tab and the sync status bar.

Thin by design: the runner (station.provisioning.runner) provisions, the bridge brings its
events here as queued signals, and everything that writes or waits (database
writes, PIN checks, the sync) runs through :func:`gui.worker.run_in_thread`.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
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
from station.provisioning.batches import open_batch
from station.provisioning.events import AttemptFinished
from station.provisioning.pipeline import ReprovisionOverride
from station.provisioning.runner import Slot, SlotState

from . import theme
from .batch_panel import BatchChoice, BatchPanel, OpenBatchDialog
from .bridge import EventBridge
from .demo import DemoLine
from .errors import describe, message_box
from .line import LineSession
from .qa_tab import QaTab
from .report_pdf import install_report_buttons
from .sign_in import ROLE_WORDS, SignInPage
from .slot_tile import SlotTile
from .stats import BatchSummary, summarize
from .supervisor import SupervisorDialog
from .sync_adapter import SyncService
from .sync_panel import SyncController, SyncPanel
from .units_model import UnitsModel
from .worker import run_in_thread

log = logging.getLogger(__name__)

TILE_WIDTH = 360
RENDER_MS = 25


class TileGrid(QWidget):
    """Tiles in a fixed order (the order ports first appeared), reflowed to the width."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid = QGridLayout(self)
        self.grid.setSpacing(14)
        self.grid.setContentsMargins(4, 4, 4, 4)
        self.tiles: list[SlotTile] = []
        self.empty_label = QLabel("Plug in a board: it starts by itself.")
        self.empty_label.setFont(theme.font(22, bold=True))
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setProperty("role", "muted")
        self.grid.addWidget(self.empty_label, 0, 0)
        self._columns = 0

    def add(self, tile: SlotTile) -> None:
        self.tiles.append(tile)
        self.reflow(force=True)

    def remove(self, tile: SlotTile) -> None:
        if tile in self.tiles:
            self.tiles.remove(tile)
            self.grid.removeWidget(tile)
            tile.deleteLater()
            self.reflow(force=True)

    def columns_for(self, width: int) -> int:
        return max(1, min(4, width // TILE_WIDTH))

    def reflow(self, force: bool = False) -> None:
        columns = self.columns_for(self.width())
        if columns == self._columns and not force:
            return
        self._columns = columns
        for tile in self.tiles:
            self.grid.removeWidget(tile)
        self.empty_label.setVisible(not self.tiles)
        for number, tile in enumerate(self.tiles):
            self.grid.addWidget(tile, number // columns, number % columns)
            if self.isVisible():
                tile.show()  # a layout shows a new child only later (queued); tests and scans need it now
        for column in range(4):
            self.grid.setColumnStretch(column, 1 if column < columns else 0)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.reflow()


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
        self._closing = False
        config = station.config
        self.setWindowTitle(f"Provisioning station {config.station_id}" + ("  —  DEMO" if demo else ""))
        self.resize(1500, 940)

        self.bridge = EventBridge(line.bus, self)
        self.bridge.connect_queued("slot_changed", self._slot_changed)
        self.bridge.connect_queued("attempt_finished", self._attempt_finished)

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
        self.sync = SyncController(
            sync_service or SyncService(station), self.sync_panel, interval_seconds=config.sync_interval_seconds, parent=self
        )
        if demo is not None:
            self._build_demo_menu()

        self._pending_slots: dict[str, Slot] = {}
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(RENDER_MS)
        self._render_timer.timeout.connect(self._render_slots)

        self.clock = QTimer(self)
        self.clock.setInterval(200)
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
        self.tabs.currentChanged.connect(self._tab_changed)

        for port in fixed_ports:
            self._tile(port)
        self.sync.start()
        self.show_sign_in()

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
        self.user_label = QLabel("")
        self.user_label.setObjectName("signedInUser")
        self.user_label.setFont(theme.font(15, bold=True))
        header.addWidget(self.user_label)
        self.sign_out_button = QPushButton("Sign out")
        self.sign_out_button.setObjectName("signOut")
        self.sign_out_button.clicked.connect(self.sign_out)
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
        self.label_edit.returnPressed.connect(self.label_scanned)
        self.labels_waiting = QLabel("")
        self.labels_waiting.setObjectName("labelsWaiting")
        self.labels_waiting.setFont(theme.font(14, bold=True))
        label_layout.addWidget(caption)
        label_layout.addWidget(self.label_edit, 1)
        label_layout.addWidget(self.labels_waiting)
        self.label_bar.setVisible(self.station.config.require_label)
        layout.addWidget(self.label_bar)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("tabs")
        self.grid = TileGrid()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.grid)
        self.tabs.addTab(scroll, "Line")

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
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(250)
        self._search_timer.timeout.connect(lambda: self.units_model.set_filter(search=self.units_search.text()))
        self.units_search.textChanged.connect(lambda _text: self._search_timer.start())
        self.tabs.addTab(units_page, "Units")

        self.qa_tab = QaTab(self.records)
        self.qa_tab.revoke_requested.connect(self.ask_revoke)
        install_report_buttons(self.qa_tab)
        self.qa_index = self.tabs.addTab(self.qa_tab, "QA")
        self.tabs.setTabVisible(self.qa_index, False)
        layout.addWidget(self.tabs, 1)
        return work

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

    def sign_out(self) -> None:
        log.info("%s signed out", self.line.operator)
        self.line.set_operator(None)
        self.role = None
        self._refresh_tiles()
        self.show_sign_in()

    def focus_next_scan(self) -> None:
        """Put the keyboard focus where the next scan belongs."""
        if self.stack.currentWidget() is self.sign_in:
            self.sign_in.focus_field()
        elif self.label_bar.isVisible() and self.tabs.currentIndex() == 0:
            self.label_edit.setFocus(Qt.FocusReason.OtherFocusReason)

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

    def label_scanned(self) -> None:
        label = self.label_edit.text().strip()
        self.label_edit.clear()
        if not label:
            return
        self.line.queue_label(label)
        self._show_labels_waiting()
        self.focus_next_scan()

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

    def _slot_changed(self, slot: Slot) -> None:
        """Keep the newest state per port; tiles are redrawn at most every RENDER_MS."""
        if self._closing:
            return
        self._pending_slots[slot.port] = slot
        if not self._render_timer.isActive():
            self._render_timer.start()

    def _render_slots(self) -> None:
        pending, self._pending_slots = self._pending_slots, {}
        if self._closing:
            return
        armed = self.line.armed
        for port, slot in pending.items():
            self._tile(port).set_slot(slot, armed)
        self._show_line_status()
        if self.label_bar.isVisible():
            self._show_labels_waiting()

    def _attempt_finished(self, event: AttemptFinished) -> None:
        if self._closing:
            return
        if self.summary is not None and self.summary.batch == self.line.batch:
            self.summary.add(event.serial, event.passed, event.code)
            self.batch_panel.set_summary(self.summary)
        if event.passed and not self._units_refresh.isActive():
            self._units_refresh.start()
        if self.tabs.currentWidget() is self.qa_tab and not self._qa_refresh.isActive():
            self._qa_refresh.start()
        self.sync.refresh_soon()

    def _tab_changed(self, _index: int) -> None:
        if self.tabs.currentWidget() is self.qa_tab:
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

    # -- demo controls ------------------------------------------------------------------

    def demo_plug(self, faults: list[str] | None = None, serial: str | None = None) -> str | None:
        if self.demo is None:
            return None
        return self.demo.plug_new(faults or [], serial=serial)

    def demo_plug_into(self, port: str) -> None:
        """A tile's "plug a new board": the empty tile makes room for the new board's port."""
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
            answer = QMessageBox.question(
                self,
                "Boards are still running",
                "Boards are still being provisioned. Quit anyway? Running boards get up to 10 s to "
                "finish; the others are recorded as aborted and can be plugged in again.",
            )
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
        for timer in (self.clock, self._render_timer, self._units_refresh, self._qa_refresh, self._search_timer, self.qa_tab._search_timer):
            timer.stop()
        scene = getattr(self, "_scene", None)
        if scene is not None:
            scene.timer.stop()
        self.units_model.close()
        self.qa_tab.model.close()
        self.sync.stop()
        self.line.stop(timeout=timeout)
        self.bridge.detach()
        if self.demo is not None:
            self.demo.stop()
