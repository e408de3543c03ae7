"""Sign-in: scan a badge or type an ID, then Enter.

The rule (station.ini has no setting for it):

* anyone may sign in **as operator** with just an ID (the badge number); the ID is
  what the attempts and units record as the operator;
* an ID that belongs to a QA or supervisor user in the database gets those rights
  only with the right PIN; without it, that person may still continue as operator.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from records import Records, User

from . import icons, theme
from .worker import run_in_thread

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
ROLE_WORDS = {"operator": "Operator", "qa": "QA", "supervisor": "Supervisor"}


class SignInPage(QWidget):
    signed_in = Signal(str, str)  # name, role

    def __init__(self, records: Records, *, demo_note: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.records = records
        self._pending_user: User | None = None

        outer = QVBoxLayout(self)
        outer.addStretch(1)
        card = QFrame()
        card.setObjectName("signInCard")
        card.setStyleSheet("QFrame#signInCard { border: 3px solid #333; border-radius: 14px; background: #FAFAFA; }")
        card.setMaximumWidth(760)
        layout = QVBoxLayout(card)
        layout.setContentsMargins(40, 30, 40, 30)
        layout.setSpacing(14)

        title = QLabel("Sign in")
        title.setProperty("role", "title")
        title.setFont(theme.font(30, bold=True))
        layout.addWidget(title)
        prompt = QLabel("Scan your badge — or type your ID and press Enter")
        prompt.setFont(theme.font(17))
        prompt.setWordWrap(True)
        layout.addWidget(prompt)

        self.id_edit = QLineEdit()
        self.id_edit.setObjectName("signInId")
        self.id_edit.setFont(theme.font(26, bold=True, mono=True))
        self.id_edit.setPlaceholderText("ID")
        self.id_edit.setMinimumHeight(64)
        self.id_edit.returnPressed.connect(self.submit_id)
        layout.addWidget(self.id_edit)

        self.pin_row = QWidget()
        pin_layout = QHBoxLayout(self.pin_row)
        pin_layout.setContentsMargins(0, 0, 0, 0)
        lock = QLabel()
        lock.setPixmap(icons.pixmap("lock", 40, theme.RUNNING_ACCENT, self.devicePixelRatioF()))
        pin_layout.addWidget(lock)
        self.pin_label = QLabel("PIN")
        self.pin_label.setFont(theme.font(17, bold=True))
        pin_layout.addWidget(self.pin_label)
        self.pin_edit = QLineEdit()
        self.pin_edit.setObjectName("signInPin")
        self.pin_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin_edit.setFont(theme.font(22, bold=True))
        self.pin_edit.setMinimumHeight(56)
        self.pin_edit.returnPressed.connect(self.submit_pin)
        pin_layout.addWidget(self.pin_edit, 1)
        self.as_operator_button = QPushButton("Continue as operator")
        self.as_operator_button.setObjectName("signInAsOperator")
        self.as_operator_button.clicked.connect(self.continue_as_operator)
        pin_layout.addWidget(self.as_operator_button)
        layout.addWidget(self.pin_row)
        self.pin_row.setVisible(False)

        self.sign_in_button = QPushButton("Sign in  ➜")
        self.sign_in_button.setProperty("role", "primary")
        self.sign_in_button.setFont(theme.font(18, bold=True))
        self.sign_in_button.clicked.connect(self._button_clicked)
        layout.addWidget(self.sign_in_button)

        self.message = QLabel("")
        self.message.setObjectName("signInMessage")
        self.message.setProperty("role", "error")
        self.message.setFont(theme.font(15, bold=True))
        self.message.setWordWrap(True)
        layout.addWidget(self.message)

        self.waiting = QLabel("")
        self.waiting.setObjectName("signInWaiting")
        self.waiting.setFont(theme.font(16, bold=True))
        self.waiting.setWordWrap(True)
        self.waiting.setStyleSheet(f"background: {theme.WARN_BG}; border-radius: 6px; padding: 6px;")
        self.waiting.setVisible(False)
        layout.addWidget(self.waiting)

        if demo_note:
            note = QLabel(demo_note)
            note.setWordWrap(True)
            note.setProperty("role", "muted")
            note.setFont(theme.font(13))
            layout.addWidget(note)

        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(card, 3)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)

    def show_waiting(self, boards: int) -> None:
        """Boards plugged in while nobody is signed in: they start at sign-in."""
        if boards:
            word = "board is" if boards == 1 else "boards are"
            self.waiting.setText(f"{boards} {word} plugged in and waiting: sign in to start.")
        self.waiting.setVisible(bool(boards))

    # -- flow -------------------------------------------------------------------------

    def reset(self) -> None:
        self._pending_user = None
        self.id_edit.clear()
        self.id_edit.setEnabled(True)
        self.pin_edit.clear()
        self.pin_row.setVisible(False)
        self.message.setText("")
        self.focus_field()

    def focus_field(self) -> None:
        target = self.pin_edit if self.pin_row.isVisible() else self.id_edit
        target.setFocus(Qt.FocusReason.OtherFocusReason)
        QTimer.singleShot(0, lambda: target.setFocus(Qt.FocusReason.OtherFocusReason))

    def _button_clicked(self) -> None:
        if self.pin_row.isVisible():
            self.submit_pin()
        else:
            self.submit_id()

    def submit_id(self) -> None:
        name = self.id_edit.text().strip()
        if not ID_PATTERN.fullmatch(name):
            self.message.setText("That is not a valid ID. Scan your badge again.")
            self.id_edit.selectAll()
            self.focus_field()
            return
        self.message.setText("")
        self.id_edit.setEnabled(False)
        records = self.records
        run_in_thread(
            lambda: next((u for u in records.users() if u.name == name), None),
            lambda user: self._looked_up(name, user),
            self._failed,
            owner=self,
        )

    def _looked_up(self, name: str, user: User | None) -> None:
        if user is None or user.role == "operator":
            self.signed_in.emit(name, "operator")
            return
        self._pending_user = user
        self.pin_label.setText(f"{ROLE_WORDS[user.role]} PIN")
        self.pin_row.setVisible(True)
        self.message.setText("")
        self.focus_field()

    def submit_pin(self) -> None:
        user = self._pending_user
        if user is None:
            return
        pin = self.pin_edit.text()
        if not pin:
            self.focus_field()
            return
        self.pin_edit.setEnabled(False)
        records = self.records
        run_in_thread(lambda: records.check_pin(user.name, pin), self._pin_checked, self._failed, owner=self)

    def _pin_checked(self, user: User | None) -> None:
        self.pin_edit.setEnabled(True)
        self.pin_edit.clear()
        if user is None:
            self.message.setText("Wrong PIN. Try again, or continue as operator.")
            self.focus_field()
            return
        self.signed_in.emit(user.name, user.role)

    def continue_as_operator(self) -> None:
        if self._pending_user is not None:
            self.signed_in.emit(self._pending_user.name, "operator")

    def _failed(self, exc: BaseException) -> None:
        self.id_edit.setEnabled(True)
        self.pin_edit.setEnabled(True)
        self.message.setText(f"Could not sign in: {exc}")
        self.focus_field()
