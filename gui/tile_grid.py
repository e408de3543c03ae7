"""The slot tiles, every one on screen at once, laid out like the fixture.

Slot names like ``A1 .. B8`` (``[slots]`` in station.ini) say where each slot is: the
letter is the row, the number the column, so the screen looks like the fixture the
operator faces. Other names (device paths, simulated boards) fill a grid in the order
they first appeared, with as many columns as give the largest tiles. The tiles shrink
(and turn compact) rather than scroll: a result below the fold is a result missed.
"""

from __future__ import annotations

import math
import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from . import theme
from .slot_tile import SlotTile

SPACING = 10
IDEAL_TILE = (360, 300)
FIXTURE_NAME = re.compile(r"([A-Z])(\d{1,2})")


def fixture_position(name: str) -> tuple[int, int] | None:
    """``B3`` → row 1, column 2; None for a name that is not letter + number."""
    match = FIXTURE_NAME.fullmatch(name)
    if match is None or int(match[2]) == 0:
        return None
    return ord(match[1]) - ord("A"), int(match[2]) - 1


def best_columns(count: int, width: int, height: int) -> int:
    """The number of columns that gives ``count`` tiles the largest size of the ideal shape."""
    if count <= 1:
        return 1
    best, best_scale = 1, -1.0
    for columns in range(1, count + 1):
        rows = math.ceil(count / columns)
        tile_width = (width - SPACING * (columns - 1)) / columns
        tile_height = (height - SPACING * (rows - 1)) / rows
        scale = min(tile_width / IDEAL_TILE[0], tile_height / IDEAL_TILE[1])
        if scale > best_scale + 1e-9:
            best, best_scale = columns, scale
    return best


class TileGrid(QWidget):
    """Tiles at their fixture places, or in first-seen order, resized to fill the page."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid = QGridLayout(self)
        self.grid.setSpacing(SPACING)
        self.grid.setContentsMargins(4, 4, 4, 4)
        self.tiles: list[SlotTile] = []
        self.empty_label = QLabel("Plug in a board: it starts by itself.")
        self.empty_label.setObjectName("lineEmpty")
        self.empty_label.setFont(theme.font(22, bold=True))
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setProperty("role", "muted")
        self.grid.addWidget(self.empty_label, 0, 0)
        self._shape: tuple[object, ...] = ()
        self.positions: dict[str, tuple[int, int]] = {}

    def set_empty_text(self, text: str, *, problem: bool = False) -> None:
        self.empty_label.setText(text)
        self.empty_label.setProperty("role", "error" if problem else "muted")
        self.empty_label.setStyleSheet("")  # re-read the role

    def add(self, tile: SlotTile) -> None:
        self.tiles.append(tile)
        self.reflow(force=True)

    def remove(self, tile: SlotTile) -> None:
        if tile in self.tiles:
            self.tiles.remove(tile)
            self.grid.removeWidget(tile)
            tile.deleteLater()
            self.reflow(force=True)

    def layout_positions(self) -> dict[str, tuple[int, int]]:
        """Where each tile goes: fixture places when every name has one, else a fitted grid."""
        places = {tile.port: fixture_position(tile.port) for tile in self.tiles}
        if self.tiles and all(places.values()) and len(set(places.values())) == len(places):
            return {port: place for port, place in places.items() if place is not None}
        margins = self.grid.contentsMargins()
        columns = best_columns(
            len(self.tiles),
            max(1, self.width() - margins.left() - margins.right()),
            max(1, self.height() - margins.top() - margins.bottom()),
        )
        return {tile.port: divmod(number, columns) for number, tile in enumerate(self.tiles)}

    def reflow(self, force: bool = False) -> None:
        positions = self.layout_positions()
        shape = tuple(sorted(positions.items()))
        if shape == self._shape and not force:
            return
        self._shape = shape
        self.positions = positions
        for tile in self.tiles:
            self.grid.removeWidget(tile)
        self.empty_label.setVisible(not self.tiles)
        rows = 1 + max((row for row, _ in positions.values()), default=0)
        columns = 1 + max((column for _, column in positions.values()), default=0)
        for tile in self.tiles:
            row, column = positions[tile.port]
            self.grid.addWidget(tile, row, column)
            if self.isVisible():
                tile.show()  # a layout shows a new child only later (queued); tests and scans need it now
        for index in range(max(self.grid.columnCount(), columns)):
            self.grid.setColumnStretch(index, 1 if index < columns else 0)
        for index in range(max(self.grid.rowCount(), rows)):
            self.grid.setRowStretch(index, 1 if index < rows else 0)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.reflow()
