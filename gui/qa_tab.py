"""The QA area: pick a batch, see its summary (counts, first-pass yield, failures by
code) and its units, revoke a unit (supervisor PIN), and export reports.

Report export buttons are added by the reports feature through
:meth:`QaTab.add_report_button` into the group named ``reportExports``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from records import Batch, Records

from . import icons, theme
from .stats import BatchSummary, percent, summarize
from .units_model import UnitsModel
from .worker import run_in_thread


class QaTab(QWidget):
    revoke_requested = Signal(str)  # serial

    def __init__(self, records: Records, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.records = records
        self.summary: BatchSummary | None = None
        self._batches: list[Batch] = []
        layout = QVBoxLayout(self)

        top = QHBoxLayout()
        label = QLabel("Batch")
        label.setFont(theme.font(15, bold=True))
        self.batch_combo = QComboBox()
        self.batch_combo.setObjectName("qaBatch")
        self.batch_combo.setMinimumWidth(360)
        self.batch_combo.currentIndexChanged.connect(self._batch_picked)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.reload_batches)
        top.addWidget(label)
        top.addWidget(self.batch_combo)
        top.addWidget(self.refresh_button)
        top.addStretch(1)
        layout.addLayout(top)

        middle = QHBoxLayout()
        summary_box = QGroupBox("Summary")
        form = QFormLayout(summary_box)
        self.fields: dict[str, QLabel] = {}
        for key, caption in (
            ("product", "Product"),
            ("state", "State"),
            ("done", "Done / planned"),
            ("passes", "PASS attempts"),
            ("fails", "FAIL attempts"),
            ("aborted", "Aborted attempts"),
            ("tried", "Boards tried"),
            ("fpy", "First-pass yield"),
        ):
            value = QLabel("–")
            value.setObjectName(f"qa_{key}")
            value.setFont(theme.font(14, bold=True))
            form.addRow(caption, value)
            self.fields[key] = value
        middle.addWidget(summary_box, 1)

        failures_box = QGroupBox("Failures by code")
        failures_layout = QVBoxLayout(failures_box)
        self.failures_table = QTableWidget(0, 2)
        self.failures_table.setObjectName("qaFailures")
        self.failures_table.setHorizontalHeaderLabels(["Code", "Count"])
        self.failures_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.failures_table.verticalHeader().setVisible(False)
        self.failures_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        failures_layout.addWidget(self.failures_table)
        middle.addWidget(failures_box, 1)

        side = QVBoxLayout()
        self.reports_box = QGroupBox("Reports")
        self.reports_box.setObjectName("reportExports")
        self.report_buttons = QVBoxLayout(self.reports_box)
        self.reports_placeholder = QLabel("Report exports will appear here.")
        self.reports_placeholder.setProperty("role", "muted")
        self.reports_placeholder.setWordWrap(True)
        self.report_buttons.addWidget(self.reports_placeholder)
        self.report_status = QLabel("")
        self.report_status.setObjectName("reportStatus")
        self.report_status.setWordWrap(True)
        self.report_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.report_status.setVisible(False)
        self.report_buttons.addWidget(self.report_status)
        self.last_report: Path | None = None
        side.addWidget(self.reports_box)
        actions = QGroupBox("Supervisor actions")
        actions_layout = QVBoxLayout(actions)
        self.revoke_button = QPushButton("Revoke selected unit…")
        self.revoke_button.setObjectName("qaRevoke")
        self.revoke_button.setIcon(icons.icon("lock"))
        self.revoke_button.clicked.connect(self._revoke_clicked)
        actions_layout.addWidget(self.revoke_button)
        side.addWidget(actions)
        side.addStretch(1)
        middle.addLayout(side, 1)
        layout.addLayout(middle)

        search_row = QHBoxLayout()
        self.search_edit = QLineEdit()
        self.search_edit.setObjectName("qaSearch")
        self.search_edit.setPlaceholderText("Search a serial in this batch")
        self.search_edit.setClearButtonEnabled(True)
        search_row.addWidget(QLabel("Units"))
        search_row.addWidget(self.search_edit, 1)
        layout.addLayout(search_row)

        self.model = UnitsModel(records, batch="\0none")
        self.view = QTableView()
        self.view.setObjectName("qaUnits")
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.verticalHeader().setVisible(False)
        layout.addWidget(self.view, 2)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(250)
        self._search_timer.timeout.connect(lambda: self.model.set_filter(search=self.search_edit.text()))
        self.search_edit.textChanged.connect(lambda _text: self._search_timer.start())

    # -- reports slot -----------------------------------------------------------------

    def add_report_button(self, text: str, callback: Callable[[str], None]) -> QPushButton:
        """Add an export button; ``callback(batch_id)`` runs when it is clicked."""
        self.reports_placeholder.setVisible(False)
        button = QPushButton(text)
        button.clicked.connect(lambda: self.current_batch and callback(self.current_batch))
        self.report_buttons.addWidget(button)
        return button

    def show_report_status(self, text: str, *, path: Path | None = None, problem: bool = False) -> None:
        """Where the last export went (the full path), or why it did not."""
        self.last_report = path
        self.report_status.setText(text)
        self.report_status.setProperty("role", "error" if problem else "")
        self.report_status.setStyleSheet("")
        self.report_status.setToolTip(str(path) if path else "")
        self.report_status.setVisible(True)

    # -- batches ----------------------------------------------------------------------

    @property
    def current_batch(self) -> str | None:
        data = self.batch_combo.currentData()
        return data if isinstance(data, str) else None

    def reload_batches(self, select: str | None = None) -> None:
        wanted = select or self.current_batch
        records = self.records
        run_in_thread(records.list_batches, lambda batches: self._fill(batches, wanted), owner=self)

    def _fill(self, batches: list[Batch], wanted: str | None) -> None:
        self._batches = batches
        self.batch_combo.blockSignals(True)
        self.batch_combo.clear()
        for batch in batches:
            state = "open" if batch.is_open else "closed"
            self.batch_combo.addItem(f"{batch.id}  ({batch.product}, {state})", batch.id)
        index = self.batch_combo.findData(wanted) if wanted else 0
        self.batch_combo.setCurrentIndex(max(0, index))
        self.batch_combo.blockSignals(False)
        self._batch_picked()

    def refresh(self) -> None:
        """Read the picked batch again (its summary and its first page of units)."""
        self._batch_picked()

    def _batch_picked(self, _index: int = 0) -> None:
        batch_id = self.current_batch
        self.model.set_filter(batch=batch_id or "\0none", search=self.search_edit.text())
        if batch_id is None:
            self._show(None)
            return
        records = self.records
        run_in_thread(lambda: summarize(records, batch_id), self._show, owner=self)

    def _show(self, summary: BatchSummary | None) -> None:
        if summary is not None and summary.batch != self.current_batch:
            return  # an older answer for a batch no longer picked
        self.summary = summary
        if summary is None:
            for field in self.fields.values():
                field.setText("–")
            self.failures_table.setRowCount(0)
            return
        self.fields["product"].setText(summary.product)
        self.fields["state"].setText("open" if summary.is_open else "closed")
        self.fields["done"].setText(f"{summary.done} / {summary.planned}")
        self.fields["passes"].setText(str(summary.passes))
        self.fields["fails"].setText(str(summary.fails))
        self.fields["aborted"].setText(str(summary.aborted))
        self.fields["tried"].setText(str(summary.boards_tried))
        self.fields["fpy"].setText(percent(summary.first_pass_yield))
        rows = summary.failures_by_code.most_common()
        self.failures_table.setRowCount(len(rows))
        for row, (code, count) in enumerate(rows):
            self.failures_table.setItem(row, 0, QTableWidgetItem(code))
            count_item = QTableWidgetItem(str(count))
            count_item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.failures_table.setItem(row, 1, count_item)

    def _revoke_clicked(self) -> None:
        rows = self.view.selectionModel().selectedRows()
        unit = self.model.unit(rows[0].row()) if rows else None
        if unit is not None:
            self.revoke_requested.emit(unit.serial)
