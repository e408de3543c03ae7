"""The batch in work, always visible: done/planned, PASS and FAIL counts, first-pass yield."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from records import Batch

from . import icons, theme
from .stats import BatchSummary, percent

ZERO_PILL = "#8C8C8C"


def _pill_style(color: str) -> str:
    return f"QFrame {{ background: {color}; border-radius: 8px; }} QLabel {{ color: white; }}"


def _pill(icon_name: str, color: str, word: str) -> tuple[QFrame, QLabel]:
    frame = QFrame()
    frame.setStyleSheet(_pill_style(color))
    layout = QHBoxLayout(frame)
    layout.setContentsMargins(12, 4, 14, 4)
    icon = QLabel()
    icon.setPixmap(icons.pixmap(icon_name, 30, "#FFFFFF"))
    value = QLabel("0")
    value.setFont(theme.font(22, bold=True))
    caption = QLabel(word)
    caption.setFont(theme.font(12, bold=True))
    layout.addWidget(icon)
    layout.addWidget(caption)
    layout.addWidget(value)
    return frame, value


class BatchPanel(QFrame):
    open_requested = Signal()
    close_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary: BatchSummary | None = None
        self.setObjectName("batchPanel")
        self.setStyleSheet("QFrame#batchPanel { border: 2px solid #BBB; border-radius: 8px; background: #FAFAFA; }")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(14, 8, 14, 8)
        layout.setSpacing(18)

        names = QVBoxLayout()
        self.batch_label = QLabel("No batch open")
        self.batch_label.setObjectName("batchId")
        self.batch_label.setFont(theme.font(20, bold=True))
        self.product_label = QLabel("Open a batch to start")
        self.product_label.setProperty("role", "muted")
        self.product_label.setFont(theme.font(13))
        names.addWidget(self.batch_label)
        names.addWidget(self.product_label)
        layout.addLayout(names, 2)

        done_box = QVBoxLayout()
        self.done_label = QLabel("– / –")
        self.done_label.setObjectName("batchDone")
        self.done_label.setFont(theme.font(24, bold=True, mono=True))
        self.done_label.setToolTip("Boards done (passed) / planned")
        self.done_bar = QProgressBar()
        self.done_bar.setTextVisible(False)
        self.done_bar.setMaximumHeight(14)
        done_caption = QLabel("done / planned")
        done_caption.setProperty("role", "muted")
        done_box.addWidget(self.done_label)
        done_box.addWidget(self.done_bar)
        done_box.addWidget(done_caption)
        layout.addLayout(done_box, 2)

        pass_pill, self.pass_label = _pill("pass", theme.PASS_BG, "PASS")
        self.pass_label.setObjectName("batchPass")
        pass_pill.setToolTip("PASS: finished attempts that passed")
        fail_pill, self.fail_label = _pill("fail", theme.FAIL_BG, "FAIL")
        self.fail_pill = fail_pill
        self.fail_label.setObjectName("batchFail")
        fail_pill.setToolTip("FAIL: finished attempts that failed")
        layout.addWidget(pass_pill)
        layout.addWidget(fail_pill)

        fpy_box = QVBoxLayout()
        self.fpy_label = QLabel("–")
        self.fpy_label.setObjectName("batchYield")
        self.fpy_label.setFont(theme.font(22, bold=True, mono=True))
        fpy_caption = QLabel("first-pass yield")
        fpy_caption.setProperty("role", "muted")
        fpy_box.addWidget(self.fpy_label)
        fpy_box.addWidget(fpy_caption)
        layout.addLayout(fpy_box, 1)

        buttons = QVBoxLayout()
        self.open_button = QPushButton("Open batch…")
        self.open_button.setObjectName("openBatch")
        self.open_button.clicked.connect(self.open_requested)
        self.close_button = QPushButton("Close batch…")
        self.close_button.setIcon(icons.icon("lock"))
        self.close_button.setObjectName("closeBatch")
        self.close_button.clicked.connect(self.close_requested)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.close_button)
        layout.addLayout(buttons)
        self.set_summary(None)

    def set_summary(self, summary: BatchSummary | None) -> None:
        self.summary = summary
        self.close_button.setEnabled(summary is not None)
        if summary is None:
            self.batch_label.setText("No batch open")
            self.product_label.setText("Open a batch to start")
            self.done_label.setText("– / –")
            self.done_bar.setRange(0, 1)
            self.done_bar.setValue(0)
            self.pass_label.setText("0")
            self.fail_label.setText("0")
            self.fail_pill.setStyleSheet(_pill_style(ZERO_PILL))
            self.fpy_label.setText("–")
            return
        self.batch_label.setText(f"Batch {summary.batch}")
        self.product_label.setText(summary.product or "")
        self.done_label.setText(f"{summary.done} / {summary.planned}")
        self.done_bar.setRange(0, max(1, summary.planned))
        self.done_bar.setValue(min(summary.done, max(1, summary.planned)))
        self.pass_label.setText(str(summary.passes))
        self.fail_label.setText(str(summary.fails))
        self.fail_pill.setStyleSheet(_pill_style(theme.FAIL_BG if summary.fails else ZERO_PILL))
        self.fpy_label.setText(percent(summary.first_pass_yield))


@dataclass(frozen=True)
class BatchChoice:
    batch_id: str
    product: str
    planned: int
    existing: bool


class OpenBatchDialog(QDialog):
    """Continue an open batch, or open a new one (batch number, product, planned quantity)."""

    def __init__(self, open_batches: list[Batch], *, default_product: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open a batch")
        self.setMinimumWidth(560)
        self.choice: BatchChoice | None = None
        self._open = open_batches
        layout = QVBoxLayout(self)
        self.group = QButtonGroup(self)
        self.existing_buttons: list[tuple[QRadioButton, Batch]] = []
        if open_batches:
            caption = QLabel("Continue a batch that is open:")
            caption.setFont(theme.font(14, bold=True))
            layout.addWidget(caption)
            for batch in open_batches:
                button = QRadioButton(f"{batch.id} — {batch.product}, {batch.planned_quantity} planned")
                button.setFont(theme.font(14))
                self.group.addButton(button)
                self.existing_buttons.append((button, batch))
                layout.addWidget(button)
        self.new_button = QRadioButton("Open a new batch:")
        self.new_button.setFont(theme.font(14, bold=True))
        self.group.addButton(self.new_button)
        layout.addWidget(self.new_button)

        form = QFormLayout()
        self.batch_edit = QLineEdit()
        self.batch_edit.setObjectName("batchNumber")
        self.batch_edit.setPlaceholderText("e.g. B2026-0042")
        self.product_edit = QLineEdit(default_product)
        self.product_edit.setObjectName("batchProduct")
        self.quantity_spin = QSpinBox()
        self.quantity_spin.setObjectName("batchQuantity")
        self.quantity_spin.setRange(1, 10_000_000)
        self.quantity_spin.setValue(100)
        form.addRow("Batch number", self.batch_edit)
        form.addRow("Product", self.product_edit)
        form.addRow("Planned quantity", self.quantity_spin)
        layout.addLayout(form)
        for edit in (self.batch_edit, self.product_edit):
            edit.textEdited.connect(lambda _text: self.new_button.setChecked(True))
        self.quantity_spin.valueChanged.connect(lambda _value: self.new_button.setChecked(True))

        self.message = QLabel("")
        self.message.setProperty("role", "error")
        layout.addWidget(self.message)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start this batch")
        buttons.accepted.connect(self.submit)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.batch_edit.returnPressed.connect(self.product_edit.setFocus)
        self.product_edit.returnPressed.connect(self.quantity_spin.setFocus)

        if self.existing_buttons:
            self.existing_buttons[0][0].setChecked(True)
        else:
            self.new_button.setChecked(True)
            self.batch_edit.setFocus(Qt.FocusReason.OtherFocusReason)

    def fill_new(self, batch_id: str, product: str, planned: int) -> None:
        self.new_button.setChecked(True)
        self.batch_edit.setText(batch_id)
        self.product_edit.setText(product)
        self.quantity_spin.setValue(planned)

    def submit(self) -> None:
        for button, batch in self.existing_buttons:
            if button.isChecked():
                self.choice = BatchChoice(batch.id, batch.product, batch.planned_quantity, True)
                self.accept()
                return
        batch_id = self.batch_edit.text().strip()
        product = self.product_edit.text().strip()
        if not batch_id or not product:
            self.message.setText("Enter the batch number and the product.")
            (self.batch_edit if not batch_id else self.product_edit).setFocus()
            return
        self.choice = BatchChoice(batch_id, product, self.quantity_spin.value(), False)
        self.accept()
