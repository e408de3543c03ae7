"""Colours, fonts and the style sheet: large, high contrast, readable from 3 m.

PASS and FAIL use the Okabe-Ito colour-blind safe hues (bluish green and
vermillion), darkened so white text on them has a contrast ratio above 4.5:1.
Colour is never the only signal: every state also has a large word and an icon.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

PASS_BG = "#00704F"  # Okabe-Ito bluish green, darkened
FAIL_BG = "#B23C00"  # Okabe-Ito vermillion, darkened
RUNNING_BG = "#E4EEFA"
RUNNING_ACCENT = "#0B4F9C"
WAITING_BG = "#F1F1F1"
WAITING_FG = "#3A3A3A"
INK = "#111111"
MUTED = "#555555"
WARN_BG = "#FFF1C2"

BASE_POINT_SIZE = 13

STYLE_SHEET = f"""
QMainWindow, QDialog {{ background: #FFFFFF; }}
QPushButton {{
    padding: 8px 18px; border: 2px solid #333; border-radius: 6px; background: #F7F7F7;
    font-weight: 600; min-height: 28px;
}}
QPushButton:focus {{ border: 3px solid {RUNNING_ACCENT}; }}
QPushButton:hover {{ background: #E8E8E8; }}
QPushButton:disabled {{ color: #888; border-color: #AAA; }}
QPushButton[role="primary"] {{ background: {RUNNING_ACCENT}; color: white; border-color: {RUNNING_ACCENT}; }}
QPushButton[role="danger"] {{ background: {FAIL_BG}; color: white; border-color: {FAIL_BG}; }}
QLineEdit, QSpinBox, QComboBox, QPlainTextEdit {{
    padding: 6px; border: 2px solid #555; border-radius: 4px; background: white; min-height: 28px;
}}
QLineEdit:focus, QSpinBox:focus, QComboBox:focus {{ border: 3px solid {RUNNING_ACCENT}; }}
QTabBar::tab {{ padding: 10px 26px; font-weight: 600; }}
QTabBar::tab:selected {{ background: {RUNNING_BG}; border-bottom: 3px solid {RUNNING_ACCENT}; }}
QHeaderView::section {{ background: #E6E6E6; padding: 6px; font-weight: 600; border: 0; }}
QTableView {{ gridline-color: #DDD; selection-background-color: {RUNNING_ACCENT}; }}
QStatusBar {{ background: #EDEDED; border-top: 1px solid #BBB; }}
QProgressBar {{ border: 2px solid #444; border-radius: 5px; background: white; text-align: center;
    font-weight: 700; min-height: 22px; }}
QProgressBar::chunk {{ background: #7FB2E5; }}
QGroupBox {{ font-weight: 700; border: 2px solid #BBB; border-radius: 6px; margin-top: 14px; padding: 10px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; }}
QLabel[role="error"] {{ color: {FAIL_BG}; font-weight: 700; }}
QLabel[role="muted"] {{ color: {MUTED}; }}
QLabel[role="title"] {{ font-size: 22pt; font-weight: 800; }}
"""


def apply_theme(app: QApplication) -> None:
    font = QFont(app.font())
    font.setPointSize(BASE_POINT_SIZE)
    app.setFont(font)
    palette = app.palette()
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(role, QColor(INK))  # a palette, not a style-sheet colour: tiles recolour their text
    app.setPalette(palette)
    app.setStyleSheet(STYLE_SHEET)


def font(point_size: int, *, bold: bool = False, mono: bool = False) -> QFont:
    result = QFont("DejaVu Sans Mono" if mono else QApplication.font().family())
    if mono:
        result.setStyleHint(QFont.StyleHint.Monospace)
    result.setPointSize(point_size)
    result.setBold(bold)
    return result
