"""The supervisor's name + PIN dialog, used before every supervisor action.

The PIN is checked with :meth:`records.Records.check_pin` (a deliberately slow
scrypt hash) on a worker thread, so the window stays responsive. A wrong name or
PIN is refused with one message that does not say which of the two was wrong;
after several wrong tries the dialog waits before it accepts another.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from records import Records, User

from . import icons, theme
from .worker import run_in_thread

MAX_TRIES_BEFORE_PAUSE = 3
PAUSE_SECONDS = 10.0


class SupervisorDialog(QDialog):
    """Ask a supervisor for name, PIN (and a reason); ``approved_by`` is set on success."""

    def __init__(
        self,
        records: Records,
        *,
        title: str,
        action: str,
        need_reason: bool = True,
        default_reason: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.records = records
        self.approved_by: User | None = None
        self.wrong_tries = 0
        self._paused_until = 0.0
        self.setWindowTitle(title)
        self.setModal(True)
        self.setMinimumWidth(560)

        layout = QVBoxLayout(self)
        head = QHBoxLayout()
        lock = QLabel()
        lock.setPixmap(icons.pixmap("lock", 56, theme.RUNNING_ACCENT, self.devicePixelRatioF()))
        head.addWidget(lock)
        heading = QLabel(f"<b>Supervisor needed</b><br>{action}")
        heading.setFont(theme.font(15))
        heading.setWordWrap(True)
        head.addWidget(heading, 1)
        layout.addLayout(head)

        form = QFormLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("supervisorName")
        self.name_edit.setPlaceholderText("Scan badge or type name")
        self.pin_edit = QLineEdit()
        self.pin_edit.setObjectName("supervisorPin")
        self.pin_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin_edit.setPlaceholderText("PIN")
        form.addRow("Supervisor", self.name_edit)
        form.addRow("PIN", self.pin_edit)
        self.reason_edit: QLineEdit | None = None
        if need_reason:
            self.reason_edit = QLineEdit(default_reason)
            self.reason_edit.setObjectName("supervisorReason")
            form.addRow("Reason", self.reason_edit)
        layout.addLayout(form)

        self.message = QLabel("")
        self.message.setProperty("role", "error")
        self.message.setWordWrap(True)
        self.message.setObjectName("supervisorMessage")
        layout.addWidget(self.message)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Approve")
        for button in self.buttons.buttons():
            button.setIcon(QIcon())
        self.ok_button.setProperty("role", "primary")
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        self.name_edit.returnPressed.connect(self.pin_edit.setFocus)
        self.pin_edit.returnPressed.connect(self._pin_entered)
        if self.reason_edit is not None:
            self.reason_edit.returnPressed.connect(self.submit)
        self.name_edit.setFocus(Qt.FocusReason.OtherFocusReason)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, lambda: self.name_edit.setFocus(Qt.FocusReason.OtherFocusReason))

    @property
    def reason(self) -> str:
        return self.reason_edit.text().strip() if self.reason_edit is not None else ""

    @property
    def checking(self) -> bool:
        return not self.ok_button.isEnabled()

    def _pin_entered(self) -> None:
        if self.reason_edit is not None and not self.reason:
            self.reason_edit.setFocus()
        else:
            self.submit()

    def submit(self) -> None:
        if self.checking:
            return
        name = self.name_edit.text().strip()
        pin = self.pin_edit.text()
        if not name or not pin:
            self._refuse("Enter the supervisor's name and PIN.", self.name_edit if not name else self.pin_edit)
            return
        if self.reason_edit is not None and not self.reason:
            self._refuse("Say why (reason).", self.reason_edit)
            return
        wait = self._paused_until - time.monotonic()
        if wait > 0:
            self._refuse(f"Too many wrong tries. Wait {wait:.0f} s.", self.pin_edit)
            return
        self.message.setText("Checking…")
        self.ok_button.setEnabled(False)
        records = self.records
        run_in_thread(lambda: records.check_pin(name, pin), self._checked, self._check_failed, owner=self)

    def _checked(self, user: User | None) -> None:
        self.ok_button.setEnabled(True)
        if user is None or user.role != "supervisor":
            self.wrong_tries += 1
            if self.wrong_tries % MAX_TRIES_BEFORE_PAUSE == 0:
                self._paused_until = time.monotonic() + PAUSE_SECONDS
            self.pin_edit.clear()
            self._refuse("Wrong name or PIN, or not a supervisor. Nothing was changed.", self.pin_edit)
            return
        self.approved_by = user
        self.message.setText("")
        self.accept()

    def _check_failed(self, exc: BaseException) -> None:
        self.ok_button.setEnabled(True)
        self._refuse(f"Could not check the PIN: {exc}", self.pin_edit)

    def _refuse(self, text: str, focus: QWidget) -> None:
        self.message.setText(text)
        focus.setFocus()
        QTimer.singleShot(0, focus.setFocus)
