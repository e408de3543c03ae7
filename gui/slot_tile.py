"""One tile per slot: waiting, running step k of n, PASS or FAIL.

PASS and FAIL are told apart three ways, so they read from 3 m and without colour
vision: the whole tile's colour, a large word and an icon (check mark / cross).

A tile is headed by its slot's name in large letters (``A1`` with ``[slots]``, else the
short device name). When many slots share the screen the tiles get **compact**: smaller
icon and text, the same words; the tile chooses by its own size, so every slot is on
screen at once. The look of a state is one :data:`LOOKS` entry and one branch of
:meth:`SlotTile._render`, so a new state (an amber "PASS — label not printed") is one
more of each.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from station.provisioning.ports import is_device_path
from station.provisioning.runner import Slot, SlotState

from . import icons, theme

STEP_WORDS = {
    "identify": "Connecting to the board",
    "read_serial": "Reading the serial",
    "check_history": "Checking the history",
    "install_claim": "Writing the claim certificate",
    "verify": "Checking what was written",
    "generate_csr": "Board makes its key",
    "check_csr": "Checking the key request",
    "commit": "Saving on the board",
    "record": "Recording",
}

OVERRIDABLE_CODES = frozenset({"SERIAL_ALREADY_PROVISIONED"})



LABEL_BG = "#E69F00"  # Okabe-Ito orange, with dark text: a PASS whose label is not printed yet


@dataclass(frozen=True)
class Look:
    background: str
    border: str
    text: str
    dashed: bool = False
    border_width: int = 5


# Painted, not style-sheeted: changing a tile's look must cost nothing (8 tiles change at once).
LOOKS = {
    "pass": Look(theme.PASS_BG, "#003D2B", "#FFFFFF"),
    "fail": Look(theme.FAIL_BG, "#5C1F00", "#FFFFFF"),
    "running": Look(theme.RUNNING_BG, theme.RUNNING_ACCENT, theme.INK, border_width=4),
    "waiting": Look(theme.WAITING_BG, "#8A8A8A", theme.WAITING_FG, dashed=True, border_width=4),
    # PASS, but its label is not printed yet: amber, the check mark stays (the unit is recorded).
    "label": Look(LABEL_BG, "#6B4A00", theme.INK),
}

ICON_COLOR = {"pass": "#FFFFFF", "fail": "#FFFFFF", "running": theme.RUNNING_ACCENT, "waiting": "#6A6A6A",
              "label": theme.INK}
ICON_NAME = {"pass": "pass", "fail": "fail", "running": "running", "waiting": "waiting", "label": "pass"}

LABEL_WORDS = {
    "PRINTER_OFFLINE": "printer offline",
    "PRINTER_PAPER_OUT": "printer out of labels",
    "PRINTER_PAUSED": "printer paused",
    "PRINTER_TIMEOUT": "printer not answering",
}
"""Why a PASS's label is not printed, in the tile's words ("PASS — label not printed: printer offline")."""


@lru_cache(maxsize=16)
def _word_font(size: int):
    return theme.font(size, bold=True)


@lru_cache(maxsize=256)
def _word_width(text: str, size: int) -> int:
    return QFontMetrics(_word_font(size)).horizontalAdvance(text)


@lru_cache(maxsize=64)
def _background(look_name: str, width: int, height: int, ratio: float) -> QPixmap:
    """A tile's rounded, bordered background, drawn once per look and size: a label that
    changes repaints its bit of the tile by copying, not by drawing a rounded rectangle."""
    look = LOOKS[look_name]
    pixmap = QPixmap(max(1, round(width * ratio)), max(1, round(height * ratio)))
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(QColor(look.border), look.border_width)
    if look.dashed:
        pen.setStyle(Qt.PenStyle.DashLine)
    painter.setPen(pen)
    painter.setBrush(QColor(look.background))
    inset = look.border_width / 2
    painter.drawRoundedRect(QRectF(0, 0, width, height).adjusted(inset, inset, -inset, -inset), 12, 12)
    painter.end()
    return pixmap


def format_elapsed(seconds: float) -> str:
    """``0.04 s`` for a fast FAIL (not ``0.0 s``), ``12.3 s``, ``2:05`` past a minute."""
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def short_port(port: str) -> str:
    """``/dev/ttyACM0`` → ``ttyACM0``; ``socket://127.0.0.1:7001`` → ``127.0.0.1:7001``."""
    if "://" in port:
        return port.split("://", 1)[1]
    return port.rsplit("/", 1)[-1] if port.startswith("/dev/") and port.count("/") == 2 else port


class StepBar(QWidget):
    """Steps done of all, as a bar with "6 / 9" on it.

    Painted by hand rather than a QProgressBar: ``QProgressBar.setValue`` repaints at once,
    on the spot (about 2 ms with the tile behind it), and 16 tiles stepping together then
    stall the event loop; this bar only asks for a repaint (``update``).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._value = 0
        self._maximum = 1
        self._text_visible = True
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(24)

    def value(self) -> int:
        return self._value

    def maximum(self) -> int:
        return self._maximum

    def text(self) -> str:
        return f"{self._value} / {self._maximum}"

    def setValue(self, value: int) -> None:
        value = max(0, min(value, self._maximum))
        if value != self._value:
            self._value = value
            self.update()

    def setMaximum(self, maximum: int) -> None:
        maximum = max(1, maximum)
        if maximum != self._maximum:
            self._maximum = maximum
            self._value = min(self._value, maximum)
            self.update()

    def setTextVisible(self, visible: bool) -> None:
        self._text_visible = visible
        self.setFixedHeight(24 if visible else 8)
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        frame = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        painter.setPen(QPen(QColor("#444444"), 2 if self._text_visible else 1))
        painter.setBrush(QColor("#FFFFFF"))
        painter.drawRoundedRect(frame, 5, 5)
        done = frame.adjusted(2, 2, -2, -2)
        done.setWidth(done.width() * self._value / self._maximum)
        if done.width() > 0:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor("#7FB2E5"))
            painter.drawRoundedRect(done, 3, 3)
        if self._text_visible:
            painter.setPen(QColor(theme.INK))
            painter.setFont(_word_font(10))
            painter.drawText(frame, Qt.AlignmentFlag.AlignCenter, self.text())
        painter.end()


class SlotTile(QFrame):
    retry_requested = Signal(str)
    override_requested = Signal(str)
    demo_unplug_requested = Signal(str)
    demo_plug_requested = Signal(str)

    ICON_SIZE = 84
    COMPACT_ICON_SIZE = 36
    COMPACT_WORD_MAX = 32
    MINIMUM_SIZE = (150, 150)
    COMPACT_BELOW = (320, 290)
    """Width, height under which the tile is compact."""

    def __init__(self, port: str, *, demo: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.port = port
        self.slot = Slot(port)
        self.armed = False
        self.compact: bool | None = None
        self._look: str | None = None
        self._fitted: tuple[str, int] | None = None
        self.setObjectName("tile")
        self.setMinimumSize(*self.MINIMUM_SIZE)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName(f"slot {port}")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.setSpacing(6)

        top = QHBoxLayout()
        self.port_label = QLabel(port if not is_device_path(port) else short_port(port))
        self.port_label.setObjectName("slotName")
        self.port_label.setToolTip(port)
        self.device_label = QLabel("")
        self.device_label.setObjectName("slotDevice")
        self.elapsed_label = QLabel("")
        self.elapsed_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        top.addWidget(self.port_label)
        top.addWidget(self.device_label, 1)
        top.addWidget(self.elapsed_label)
        layout.addLayout(top)

        middle = QHBoxLayout()
        middle.setSpacing(14)
        self.icon_label = QLabel()
        self.icon_label.setFixedSize(self.ICON_SIZE, self.ICON_SIZE)
        self.word_label = QLabel()
        self.word_label.setObjectName("word")
        middle.addWidget(self.icon_label)
        middle.addWidget(self.word_label, 1)
        layout.addLayout(middle)

        self.serial_label = QLabel("")
        self.serial_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.serial_label)

        self.step_label = QLabel("")
        self.step_label.setObjectName("step")
        self.step_label.setWordWrap(True)
        layout.addWidget(self.step_label)

        self.progress = StepBar()
        self.progress.setMaximum(self.slot.total_steps)
        layout.addWidget(self.progress)

        self.hint_label = QLabel("")
        self.hint_label.setWordWrap(True)
        self.hint_label.setObjectName("hint")
        # A hint longer than its room loses its last lines, never its first (centred text is
        # cut at both ends and looks like it runs under the step above); the tooltip has it all.
        self.hint_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.hint_label, 1)

        self.code_label = QLabel("")
        self.code_label.setWordWrap(True)
        layout.addWidget(self.code_label)

        buttons = QHBoxLayout()
        self.retry_button = QPushButton("↻  Retry")
        self.retry_button.setObjectName("retry")
        self.retry_button.setToolTip("Run this board again (F5 retries every failed board still plugged in)")
        self.retry_button.clicked.connect(lambda: self.retry_requested.emit(self.port))
        self.override_button = QPushButton("Supervisor…")
        self.override_button.setIcon(icons.icon("lock"))
        self.override_button.setToolTip("A supervisor may provision this serial again (name and PIN). Key: F8")
        self.override_button.clicked.connect(lambda: self.override_requested.emit(self.port))
        buttons.addWidget(self.retry_button)
        buttons.addWidget(self.override_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.buttons_row = buttons
        self.unplug_button: QPushButton | None = None
        self.plug_button: QPushButton | None = None
        if demo:
            demo_row = buttons  # one row with Retry: a compact tile has no height to spare
            self.unplug_button = QPushButton("Demo: unplug")
            self.unplug_button.clicked.connect(lambda: self.demo_unplug_requested.emit(self.port))
            self.plug_button = QPushButton("Demo: plug a new board")
            self.plug_button.clicked.connect(lambda: self.demo_plug_requested.emit(self.port))
            for button in (self.unplug_button, self.plug_button):
                button.setFont(theme.font(10))
                button.setStyleSheet("QPushButton { padding: 3px 10px; min-height: 18px; }")
                demo_row.addWidget(button)
        self._labels = self.findChildren(QLabel)
        self._apply_size_class()
        self._render()

    # -- state ------------------------------------------------------------------------

    @property
    def look(self) -> str:
        return self._look or "waiting"

    @property
    def word(self) -> str:
        return self.word_label.text()

    def set_slot(self, slot: Slot, armed: bool | None = None) -> None:
        self.slot = slot
        if armed is not None:
            self.armed = armed
        self._render()

    def set_armed(self, armed: bool) -> None:
        if armed != self.armed:
            self.armed = armed
            self._render()

    WORD_SIZES = (40, 36, 32, 28, 24, 20, 18, 16)

    def _apply_size_class(self) -> None:
        """Fonts and spacing for a full tile or a compact one (set only when the class changes)."""
        compact = self.width() < self.COMPACT_BELOW[0] or self.height() < self.COMPACT_BELOW[1]
        if compact == self.compact:
            return
        self.compact = compact
        self._fitted = None
        icon = self.COMPACT_ICON_SIZE if compact else self.ICON_SIZE
        self.icon_label.setFixedSize(icon, icon)
        self._look = None  # the icon is drawn again at its new size
        margins = (8, 6, 8, 6) if compact else (16, 12, 16, 12)
        self.layout().setContentsMargins(*margins)
        self.layout().setSpacing(2 if compact else 6)
        self.port_label.setFont(theme.font(17 if compact else 22, bold=True))
        self.device_label.setFont(theme.font(9 if compact else 11, mono=True))
        self.elapsed_label.setFont(theme.font(11 if compact else 14, bold=True, mono=True))
        self.serial_label.setFont(theme.font(11 if compact else 20, bold=True, mono=True))
        self.step_label.setFont(theme.font(10 if compact else 14, bold=True))
        self.hint_label.setFont(theme.font(11 if compact else 15, bold=True))
        self.code_label.setFont(theme.font(8 if compact else 11, mono=True))
        self.progress.setTextVisible(not compact)
        ignored, preferred = QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred
        self.hint_label.setSizePolicy(preferred, ignored if compact else preferred)  # clipped, not squeezing the rest
        small = "QPushButton { padding: 2px 8px; min-height: 16px; }" if compact else ""
        self.retry_button.setStyleSheet(small)
        self.override_button.setStyleSheet(small)
        self.retry_button.setFont(theme.font(11 if compact else 16, bold=True))
        self.override_button.setText("Supervisor" if compact else "Supervisor…")
        if self.unplug_button is not None and self.plug_button is not None:
            self.unplug_button.setText("Unplug" if compact else "Demo: unplug")
            self.plug_button.setText("Plug in" if compact else "Demo: plug a new board")

    def _fit_word(self) -> None:
        """The largest word size that fits the tile (RUNNING is long; PASS/FAIL stay huge).
        A compact tile drops the icon of a long word (RUNNING) rather than cut the word."""
        margins = self.layout().contentsMargins()
        icon = self.COMPACT_ICON_SIZE if self.compact else self.ICON_SIZE
        room = self.width() - margins.left() - margins.right()
        word = self.word_label.text()
        key = (word, room)
        if key == self._fitted:
            return
        self._fitted = key
        available = room - icon - 24
        show_icon = not (self.compact and self.look in ("running", "waiting") and _word_width(word, 22) > available)
        self.icon_label.setVisible(show_icon)
        if not show_icon:
            available = room - 8
        sizes = [s for s in self.WORD_SIZES if not self.compact or s <= self.COMPACT_WORD_MAX]
        size = next((s for s in sizes if _word_width(word, s) <= available), sizes[-1])
        if self.word_label.font().pointSize() != size:
            self.word_label.setFont(_word_font(size))

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.drawPixmap(0, 0, _background(self.look, self.width(), self.height(), self.devicePixelRatioF()))
        painter.end()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        was = self.compact
        self._apply_size_class()
        if was != self.compact:
            self._render()
        self._fit_word()

    def tick(self) -> None:
        """Refresh the elapsed time (called by the window's clock while running)."""
        if self.slot.state != SlotState.WAITING:
            self.elapsed_label.setText(format_elapsed(self.slot.elapsed))

    def _render(self) -> None:
        slot = self.slot
        label_waiting = slot.state == SlotState.PASS and slot.label == "queued"
        look = "label" if label_waiting else slot.state.value
        if look != self._look:
            self._look = look
            palette = self.palette()
            palette.setColor(QPalette.ColorRole.WindowText, QColor(LOOKS[look].text))
            for label in self._labels:  # set on each label: the app style sheet stops inheritance
                label.setPalette(palette)
            self.update()
            self.icon_label.setPixmap(
                icons.pixmap(ICON_NAME[look], self.icon_label.width(), ICON_COLOR[look], self.devicePixelRatioF())
            )
            self.setProperty("look", look)
        self.progress.setMaximum(max(1, slot.total_steps))
        device = slot.device if slot.device and slot.device != slot.port else ""
        self.device_label.setText(short_port(device) if device and not self.compact else "")
        self.port_label.setToolTip(f"{slot.port} — {device}" if device else slot.port)
        self.serial_label.setText(slot.serial or "")
        self.code_label.setText("")
        self.hint_label.setText("")
        self.retry_button.setVisible(False)
        self.override_button.setVisible(False)
        if slot.state == SlotState.WAITING:
            if slot.present and not self.armed:
                self.word_label.setText("BOARD IN")
                self.step_label.setText("Sign in and open a batch: it will start by itself.")
            else:
                self.word_label.setText("READY")
                self.step_label.setText("Plug in a board")
            self.progress.setVisible(False)
            self.elapsed_label.setText("")
            self.serial_label.setText("")
        elif slot.state == SlotState.RUNNING:
            self.word_label.setText("RUNNING")
            words = STEP_WORDS.get(slot.step or "", "Starting")
            self.step_label.setText(f"Step {slot.step_number} of {slot.total_steps}: {words}")
            self.progress.setVisible(True)
            self.progress.setValue(slot.step_number)
            self.hint_label.setText("Do not unplug")
            self.tick()
        elif slot.state == SlotState.PASS:
            self.word_label.setText("PASS")
            self.step_label.setText("Take the board away")
            if label_waiting:
                why = LABEL_WORDS.get(slot.label_code or "", "see the printer")
                self.step_label.setText(f"PASS — label not printed: {why}")
                self.hint_label.setText(slot.label_hint or "")
                self.code_label.setText(slot.label_code or "")
            self.progress.setVisible(True)
            self.progress.setValue(self.progress.maximum())
            self.tick()
        else:
            self.word_label.setText("FAIL")
            self.progress.setVisible(True)
            self.progress.setValue(slot.unplugged_at or slot.step_number)
            if slot.unplugged_at is not None:
                self.step_label.setText(f"NOT PROVISIONED — unplugged at step {slot.unplugged_at} of {slot.total_steps}")
                again = "" if self.compact else "Plug the board in again: it starts from the beginning."
                self.hint_label.setText(again if not slot.present else slot.hint or "Set the board aside and call a supervisor.")
            else:
                self.step_label.setText(f"Stopped at step {slot.step_number} of {slot.total_steps}")
                self.hint_label.setText(slot.hint or "Set the board aside and call a supervisor.")
            self.code_label.setText(slot.code or "")
            self.code_label.setToolTip(slot.detail or "")
            self.retry_button.setVisible(slot.present)
            self.retry_button.setEnabled(self.armed)
            self.override_button.setVisible(slot.present and slot.code in OVERRIDABLE_CODES)
            self.tick()
        self.code_label.setVisible(not self.compact or slot.state == SlotState.FAIL)
        if self.compact and slot.state == SlotState.FAIL:
            self.progress.setVisible(False)  # the step is in words; a compact tile needs the room
        self.hint_label.setToolTip(self.hint_label.text())
        self._fit_word()
        if self.unplug_button is not None and self.plug_button is not None:
            crowded = self.compact and (self.retry_button.isVisibleTo(self) or self.override_button.isVisibleTo(self))
            self.unplug_button.setVisible(slot.present and not crowded)  # the Demo menu still unplugs
            self.plug_button.setVisible(not slot.present)
