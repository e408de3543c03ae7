"""Report charts drawn with QPainter: the failure Pareto and the throughput per hour.

The same painting code draws into the PDF report (``gui.report_pdf``), onto the screen
(:class:`ReportChart`, a widget the QA tab can show) and into PNG or SVG files
(:func:`chart_png`, :func:`chart_svg`). The HTML report does not use Qt: its charts are
inline SVG made in pure Python by ``station.reports.formats``, with the same colours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from station.reports.data import BatchReport, FailureCode, HourBucket
from station.reports.formats import (
    ACCENT_COLOR,
    FAIL_COLOR,
    GRID,
    INK,
    LIGHT_COLOR,
    MAX_PARETO_BARS,
    MUTED,
    PASS_COLOR,
    axis_top,
)

CHARTS = ("pareto", "throughput")
CHART_SIZE = (760, 300)


def _font(painter: QPainter, size: float, bold: bool = False) -> QFont:
    font = QFont(painter.font())
    font.setFamilies(["DejaVu Sans", "Segoe UI", "Arial"])
    font.setPointSizeF(size)
    font.setBold(bold)
    return font


def paint_pareto(
    painter: QPainter, rect: QRectF, failures: Sequence[FailureCode], *, font_pt: float = 8.0
) -> None:
    """Horizontal bars per error code (most frequent on top), each as long as its share of the
    failed attempts, and the cumulative share as a line, both against one 0-100 % axis on
    top, with a legend below. Fills ``rect``; draws "No failed attempts" when there is
    nothing to show."""
    painter.save()
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.fillRect(rect, QColor("#ffffff"))
        painter.setFont(_font(painter, font_pt))
        metrics = painter.fontMetrics()
        line = metrics.height()
        if not failures:
            painter.setPen(QColor(MUTED))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "No failed attempts")
            return
        rows = list(failures[:MAX_PARETO_BARS])
        rest = failures[MAX_PARETO_BARS:]
        if rest:
            rows.append(
                FailureCode(f"{len(rest)} other codes", sum(f.attempts for f in rest),
                            sum(f.units for f in rest), sum(f.share for f in rest), 1.0, None)
            )
        top = rect.top() + line * 1.6
        label_w = min(rect.width() * 0.36, max(metrics.horizontalAdvance(f.code) for f in rows)
                      + line)
        right_pad = metrics.horizontalAdvance("000000") + line * 0.5
        plot_left = rect.left() + label_w
        plot_w = max(10.0, rect.right() - right_pad - plot_left)
        bottom = rect.bottom() - line * 1.4  # the legend's line
        slot = (bottom - top) / len(rows)
        bar_h = max(2.0, min(slot * 0.75, line * 1.5))
        painter.setPen(QPen(QColor(GRID), 0))
        for pct in (0, 25, 50, 75, 100):
            x = plot_left + plot_w * pct / 100
            painter.setPen(QPen(QColor(GRID), 0))
            painter.drawLine(QPointF(x, top - line * 0.3), QPointF(x, bottom))
            painter.setPen(QColor(MUTED))
            painter.drawText(QRectF(x - line * 2, rect.top(), line * 4, line * 1.2),
                             Qt.AlignmentFlag.AlignCenter, f"{pct}%")
        points = []
        for index, f in enumerate(rows):
            y = top + index * slot + (slot - bar_h) / 2
            width = max(1.0, plot_w * f.share)
            painter.setPen(QColor(INK))
            label = metrics.elidedText(f.code, Qt.TextElideMode.ElideRight, int(label_w - line * 0.5))
            painter.drawText(QRectF(rect.left(), y, label_w - line * 0.5, bar_h),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, label)
            painter.fillRect(QRectF(plot_left, y, width, bar_h), QColor(FAIL_COLOR))
            painter.drawText(QRectF(plot_left + width + line * 0.3, y, right_pad + plot_w, bar_h),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             str(f.attempts))
            points.append(QPointF(plot_left + plot_w * f.cumulative_share, y + bar_h / 2))
        accent = QColor(ACCENT_COLOR)
        painter.setPen(QPen(accent, max(1.0, line / 8)))
        painter.drawPolyline(QPolygonF(points))
        painter.setBrush(accent)
        radius = max(1.5, line / 5)
        for point in points:
            painter.drawEllipse(point, radius, radius)
        _pareto_legend(painter, QRectF(plot_left, bottom + line * 0.3, plot_w + right_pad, line), accent)
    finally:
        painter.restore()


def _pareto_legend(painter: QPainter, area: QRectF, accent: QColor) -> None:
    """What the bars and the line mean (the same words as the HTML report's chart)."""
    height = area.height()
    painter.setPen(Qt.PenStyle.NoPen)
    painter.fillRect(QRectF(area.left(), area.top() + height * 0.25, height, height * 0.5), QColor(FAIL_COLOR))
    painter.setPen(QColor(INK))
    first = "share of failed attempts (count at the bar's end)"
    painter.drawText(QRectF(area.left() + height * 1.3, area.top(), area.width(), height),
                     Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, first)
    x = area.left() + height * 2.3 + painter.fontMetrics().horizontalAdvance(first)
    painter.setPen(QPen(accent, max(1.0, height / 8)))
    painter.drawLine(QPointF(x, area.center().y()), QPointF(x + height, area.center().y()))
    painter.setPen(QColor(INK))
    painter.drawText(QRectF(x + height * 1.3, area.top(), area.width(), height),
                     Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, "cumulative share")


def paint_throughput(
    painter: QPainter, rect: QRectF, buckets: Sequence[HourBucket], *, font_pt: float = 8.0
) -> None:
    """Bars per hour: finished attempts (light) behind PASS (green); several hours per bar
    when there are more hours than fit."""
    painter.save()
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.fillRect(rect, QColor("#ffffff"))
        painter.setFont(_font(painter, font_pt))
        metrics = painter.fontMetrics()
        line = metrics.height()
        if not buckets:
            painter.setPen(QColor(MUTED))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "No finished attempts")
            return
        left = rect.left() + metrics.horizontalAdvance("00000") + line * 0.4
        top = rect.top() + line * 1.5
        bottom = rect.bottom() - line * 2.4
        plot_w = max(10.0, rect.right() - left)
        plot_h = max(10.0, bottom - top)
        per_bar = max(1, math.ceil(len(buckets) * 2 / plot_w))
        bars = []
        for start in range(0, len(buckets), per_bar):
            chunk = buckets[start : start + per_bar]
            attempts = (
                None if any(b.attempts is None for b in chunk)
                else sum(b.attempts or 0 for b in chunk)
            )
            bars.append((chunk[0].hour, attempts, sum(b.passed for b in chunk)))
        scale = axis_top(max(max(a or 0, p) for _, a, p in bars))
        for i in range(5):
            y = bottom - plot_h * i / 4
            painter.setPen(QPen(QColor(GRID), 0))
            painter.drawLine(QPointF(left, y), QPointF(rect.right(), y))
            painter.setPen(QColor(MUTED))
            painter.drawText(QRectF(rect.left(), y - line / 2, left - rect.left() - line * 0.3, line),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             f"{scale * i / 4:g}")
        slot = plot_w / len(bars)
        bar_w = max(1.0, slot * 0.8)
        for index, (_hour, attempts, passed) in enumerate(bars):
            x = left + index * slot + (slot - bar_w) / 2
            if attempts:
                h = plot_h * attempts / scale
                painter.fillRect(QRectF(x, bottom - h, bar_w, h), QColor(LIGHT_COLOR))
            if passed:
                h = plot_h * passed / scale
                painter.fillRect(QRectF(x, bottom - h, bar_w, h), QColor(PASS_COLOR))
        painter.setPen(QColor(MUTED))
        every = max(1, math.ceil(len(bars) / 8))
        for index in range(0, len(bars), every):
            x = left + index * slot + slot / 2
            hour = bars[index][0]
            painter.drawText(QRectF(x - line * 3, bottom + line * 0.2, line * 6, line),
                             Qt.AlignmentFlag.AlignHCenter, hour[5:10])
            painter.drawText(QRectF(x - line * 3, bottom + line * 1.1, line * 6, line),
                             Qt.AlignmentFlag.AlignHCenter, hour[11:16])
        painter.setPen(QPen(QColor(INK), 0))
        painter.drawLine(QPointF(left, bottom), QPointF(rect.right(), bottom))
        box = line * 0.7
        painter.fillRect(QRectF(left, rect.top() + line * 0.15, box, box), QColor(PASS_COLOR))
        painter.setPen(QColor(INK))
        painter.drawText(QPointF(left + box * 1.4, rect.top() + line * 0.8), "PASS")
        second = left + box * 1.4 + metrics.horizontalAdvance("PASS") + line
        painter.fillRect(QRectF(second, rect.top() + line * 0.15, box, box), QColor(LIGHT_COLOR))
        painter.drawText(QPointF(second + box * 1.4, rect.top() + line * 0.8), "attempts")
        painter.setPen(QColor(MUTED))
        unit = "hour" if per_bar == 1 else f"{per_bar} hours"
        painter.drawText(QRectF(rect.left(), rect.top(), rect.width(), line),
                         Qt.AlignmentFlag.AlignRight, f"per {unit} (UTC)")
    finally:
        painter.restore()


def paint_chart(painter: QPainter, rect: QRectF, kind: str, report: BatchReport,
                *, font_pt: float = 8.0) -> None:
    if kind == "pareto":
        paint_pareto(painter, rect, report.failures, font_pt=font_pt)
    elif kind == "throughput":
        paint_throughput(painter, rect, report.throughput, font_pt=font_pt)
    else:
        raise ValueError(f"chart must be one of {', '.join(CHARTS)}, not {kind!r}")


def chart_image(kind: str, report: BatchReport, size: QSize | None = None,
                scale: float = 2.0) -> QImage:
    """The chart as an image (``scale`` times ``size`` pixels, for sharp printing)."""
    size = size or QSize(*CHART_SIZE)
    image = QImage(int(size.width() * scale), int(size.height() * scale),
                   QImage.Format.Format_ARGB32_Premultiplied)
    image.setDevicePixelRatio(scale)
    image.fill(QColor("#ffffff"))
    painter = QPainter(image)
    try:
        paint_chart(painter, QRectF(0, 0, size.width(), size.height()), kind, report)
    finally:
        painter.end()
    return image


def chart_png(kind: str, report: BatchReport, size: QSize | None = None) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    chart_image(kind, report, size).save(buffer, "PNG")
    buffer.close()
    return bytes(data.data())


def chart_svg(kind: str, report: BatchReport, size: QSize | None = None) -> bytes:
    """The chart as SVG drawn by Qt (QtSvg's generator)."""
    from PySide6.QtSvg import QSvgGenerator

    size = size or QSize(*CHART_SIZE)

    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    generator = QSvgGenerator()
    generator.setOutputDevice(buffer)
    generator.setSize(size)
    generator.setViewBox(QRectF(0, 0, size.width(), size.height()))
    generator.setTitle(f"{kind} chart")
    painter = QPainter(generator)
    try:
        paint_chart(painter, QRectF(0, 0, size.width(), size.height()), kind, report)
    finally:
        painter.end()
    buffer.close()
    return bytes(data.data())


class ReportChart(QWidget):
    """A report chart on screen; :meth:`set_report` to (re)draw it."""

    def __init__(self, kind: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if kind not in CHARTS:
            raise ValueError(f"chart must be one of {', '.join(CHARTS)}, not {kind!r}")
        self.kind = kind
        self.report: BatchReport | None = None
        self.setObjectName(f"reportChart_{kind}")
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_report(self, report: BatchReport | None) -> None:
        self.report = report
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(520, 260)

    def paintEvent(self, _event: object) -> None:
        painter = QPainter(self)
        try:
            rect = QRectF(self.rect()).adjusted(6, 6, -6, -6)
            if self.report is None:
                painter.fillRect(self.rect(), QColor("#ffffff"))
                painter.setPen(QColor(MUTED))
                painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "Pick a batch")
            else:
                paint_chart(painter, rect, self.kind, self.report, font_pt=9.0)
        finally:
            painter.end()
