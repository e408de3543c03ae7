"""The app's and the PDF's Pareto: a bar is as long as its code's share on the same 0-100 %
axis as the cumulative line (a 66.7 % code must not reach the 100 % tick)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter

from gui import charts
from station.reports.data import FailureCode


def red_width(failures, qapp) -> int:
    """The widest run of the bar colour in the image (the first bar's length in pixels)."""
    image = QImage(600, 240, QImage.Format.Format_ARGB32)
    image.fill(QColor("#ffffff"))
    painter = QPainter(image)
    charts.paint_pareto(painter, QRectF(0, 0, 600, 240), failures, font_pt=8.0)
    painter.end()
    bar = QColor(charts.FAIL_COLOR).rgb()
    widest = 0
    for y in range(image.height()):
        run = sum(1 for x in range(image.width()) if image.pixel(x, y) == bar)
        widest = max(widest, run)
    return widest


def test_a_bar_is_as_long_as_its_share_not_as_the_biggest_bar(qapp):
    alone = red_width([FailureCode("CODE_A", 3, 3, 1.0, 1.0, None)], qapp)
    two_thirds = red_width([FailureCode("CODE_A", 2, 2, 2 / 3, 2 / 3, None),
                            FailureCode("CODE_B", 1, 1, 1 / 3, 1.0, None)], qapp)
    assert alone > 100
    assert two_thirds == pytest.approx(alone * 2 / 3, abs=4)
