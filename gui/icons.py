"""Icons drawn from inline SVG with QtSvg: no image files to ship or lose.

Each icon is a plain shape with thick strokes, legible at 3 m and without colour:
a check mark for PASS, a cross for FAIL, a plug for "waiting for a board", an
hourglass for running.
"""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

_SVG = {
    "pass": """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">
  <circle cx="50" cy="50" r="44" fill="none" stroke="{c}" stroke-width="9"/>
  <polyline points="27,52 43,68 74,34" fill="none" stroke="{c}" stroke-width="11"
            stroke-linecap="round" stroke-linejoin="round"/></svg>""",
    "fail": """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">
  <rect x="7" y="7" width="86" height="86" rx="10" fill="none" stroke="{c}" stroke-width="9"/>
  <path d="M31 31 L69 69 M69 31 L31 69" stroke="{c}" stroke-width="12" stroke-linecap="round"/></svg>""",
    "waiting": """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">
  <path d="M38 8 V26 M62 8 V26" stroke="{c}" stroke-width="8" stroke-linecap="round"/>
  <path d="M24 26 H76 V48 A26 26 0 0 1 24 48 Z" fill="none" stroke="{c}" stroke-width="8"
        stroke-linejoin="round"/>
  <path d="M50 74 V94" stroke="{c}" stroke-width="8" stroke-linecap="round"/></svg>""",
    "running": """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">
  <path d="M24 8 H76 M24 92 H76" stroke="{c}" stroke-width="8" stroke-linecap="round"/>
  <path d="M30 10 C30 38 50 42 50 50 C50 58 30 62 30 90 M70 10 C70 38 50 42 50 50 C50 58 70 62 70 90"
        fill="none" stroke="{c}" stroke-width="7"/>
  <path d="M36 84 Q50 66 64 84 Z" fill="{c}"/></svg>""",
    "warning": """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">
  <path d="M50 8 L94 88 H6 Z" fill="none" stroke="{c}" stroke-width="8" stroke-linejoin="round"/>
  <path d="M50 36 V62" stroke="{c}" stroke-width="9" stroke-linecap="round"/>
  <circle cx="50" cy="76" r="5.5" fill="{c}"/></svg>""",
    "sync": """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">
  <path d="M82 42 A33 33 0 0 0 22 30 M18 58 A33 33 0 0 0 78 70" fill="none" stroke="{c}"
        stroke-width="9" stroke-linecap="round"/>
  <path d="M84 18 V44 H58 M16 82 V56 H42" fill="none" stroke="{c}" stroke-width="9"
        stroke-linecap="round" stroke-linejoin="round"/></svg>""",
    "lock": """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">
  <rect x="18" y="44" width="64" height="48" rx="6" fill="{c}"/>
  <path d="M32 44 V30 A18 18 0 0 1 68 30 V44" fill="none" stroke="{c}" stroke-width="9"/></svg>""",
}

NAMES = tuple(_SVG)


def svg(name: str, color: str = "#FFFFFF") -> bytes:
    return _SVG[name].format(c=color).encode()


@lru_cache(maxsize=64)
def pixmap(name: str, size: int, color: str = "#FFFFFF", ratio: float = 1.0) -> QPixmap:
    """``name`` drawn ``size`` logical pixels square in ``color``."""
    renderer = QSvgRenderer(QByteArray(svg(name, color)))
    physical = max(1, round(size * ratio))
    result = QPixmap(physical, physical)
    result.fill(Qt.GlobalColor.transparent)
    painter = QPainter(result)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    result.setDevicePixelRatio(ratio)
    return result


def icon(name: str, color: str = "#111111") -> QIcon:
    result = QIcon()
    for size in (16, 24, 32, 48, 64):
        result.addPixmap(pixmap(name, size, color))
    return result
