"""The label as the printer will print it, drawn with Qt from the same layout as the ZPL.

:func:`station.labels.template.layout_label` gives both the ZPL renderer and this widget
the same positions (in printer dots), texts and code data; the 2D code is drawn module by
module from :func:`station.labels.codes.code_matrix`. Text uses the app's sans font at the
field's height, close to the printer's scalable font 0 but not identical in width.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from station.labels.codes import code_matrix
from station.labels.errors import LabelCodeUnavailable
from station.labels.template import LabelLayout

PAPER = QColor("#FFFFFF")
DARK = QColor("#000000")
EDGE = QColor("#9A9A9A")


def paint_label(painter: QPainter, layout: LabelLayout, target: QRectF) -> None:
    """Draw ``layout`` into ``target`` (kept to the label's aspect ratio, centred)."""
    scale = min(target.width() / layout.width, target.height() / layout.height)
    left = target.left() + (target.width() - layout.width * scale) / 2
    top = target.top() + (target.height() - layout.height * scale) / 2
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
    painter.setPen(QPen(EDGE, 1))
    painter.setBrush(PAPER)
    paper = QRectF(left, top, layout.width * scale, layout.height * scale)
    painter.drawRect(paper)
    painter.setClipRect(paper)  # the printer prints nothing past the label's edge either
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(DARK)
    code = layout.code
    try:
        matrix = code_matrix(code.kind, code.content)
    except LabelCodeUnavailable:
        matrix = None
    if matrix is not None:
        # Whole pixels per module: fractional ones draw uneven modules that scan worse.
        module = max(1, round(code.module * scale))
        x0, y0 = round(left + code.x * scale), round(top + code.y * scale)
        for r, row in enumerate(matrix):
            for c, dark in enumerate(row):
                if dark:
                    painter.drawRect(QRectF(x0 + c * module, y0 + r * module, module, module))
    else:
        painter.setPen(QPen(DARK, 1, Qt.PenStyle.DashLine))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        side = 24 * code.module * scale
        painter.drawRect(QRectF(left + code.x * scale, top + code.y * scale, side, side))
        painter.drawText(QRectF(left + code.x * scale, top + code.y * scale, side, side),
                         Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, "DataMatrix\n(printer draws it)")
    painter.setPen(DARK)
    for text in layout.texts:
        font = QFont(painter.font())
        font.setPixelSize(max(1, round(text.height * scale)))
        painter.setFont(font)
        ascent = painter.fontMetrics().ascent()
        # ZPL places a field by its top-left; the cap height fills the field's height.
        painter.drawText(QPointF(left + text.x * scale, top + text.y * scale + ascent * 0.92), text.text)
    painter.restore()


def render_label_image(layout: LabelLayout, scale: float = 2.0, margin: int = 24) -> QImage:
    """The label as a picture (white margin around it), e.g. to decode its code in a test."""
    width, height = round(layout.width * scale) + 2 * margin, round(layout.height * scale) + 2 * margin
    image = QImage(width, height, QImage.Format.Format_Grayscale8)
    image.fill(PAPER)
    painter = QPainter(image)
    try:
        paint_label(painter, layout, QRectF(margin, margin, width - 2 * margin, height - 2 * margin))
    finally:
        painter.end()
    return image


class LabelPreview(QWidget):
    """Shows one label; ``set_layout(None)`` shows an empty label outline."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._layout: LabelLayout | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 100)
        self.setAccessibleName("Label preview")

    def set_layout(self, layout: LabelLayout | None) -> None:
        self._layout = layout
        texts = " / ".join(t.text for t in layout.texts) if layout else "no label"
        self.setAccessibleDescription(texts)
        self.setToolTip(f"{layout.code.kind.upper()}: {layout.code.content}" if layout else "")
        self.update()

    def label_layout(self) -> LabelLayout | None:
        return self._layout

    def sizeHint(self) -> QSize:
        return QSize(420, 220)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        try:
            area = QRectF(self.rect()).adjusted(8, 8, -8, -8)
            if self._layout is None:
                painter.setPen(QPen(EDGE, 1, Qt.PenStyle.DashLine))
                painter.drawRect(area)
                painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "No label template")
            else:
                paint_label(painter, self._layout, area)
        finally:
            painter.end()
