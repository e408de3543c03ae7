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

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QWidget

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
    """Tiles at their fixture places, or in first-seen order, sized to fill the page.

    The tiles are placed by hand, not by a QGridLayout: a tile whose text changes would
    otherwise make every tile's layout (word-wrapped labels and all) be worked out again,
    up to the window, 16 times per step of every board.
    """

    MARGIN = 4

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tiles: list[SlotTile] = []
        self.empty_label = QLabel("Plug in a board: it starts by itself.", self)
        self.empty_label.setObjectName("lineEmpty")
        self.empty_label.setFont(theme.font(22, bold=True))
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setProperty("role", "muted")
        self._shape: tuple[object, ...] = ()
        self.positions: dict[str, tuple[int, int]] = {}
        self.setMinimumSize(SlotTile.MINIMUM_SIZE[0] + 2 * self.MARGIN, SlotTile.MINIMUM_SIZE[1] + 2 * self.MARGIN)

    def set_empty_text(self, text: str, *, problem: bool = False) -> None:
        self.empty_label.setText(text)
        self.empty_label.setProperty("role", "error" if problem else "muted")
        self.empty_label.setStyleSheet("")  # re-read the role

    def add(self, tile: SlotTile) -> None:
        tile.setParent(self)
        self.tiles.append(tile)
        self.reflow(force=True)
        if self.isVisible():
            tile.show()

    def remove(self, tile: SlotTile) -> None:
        if tile in self.tiles:
            self.tiles.remove(tile)
            tile.hide()
            tile.deleteLater()
            self.reflow(force=True)

    def layout_positions(self) -> dict[str, tuple[int, int]]:
        """Where each tile goes: fixture places when every name has one, else a fitted grid."""
        places = {tile.port: fixture_position(tile.port) for tile in self.tiles}
        if self.tiles and all(places.values()) and len(set(places.values())) == len(places):
            return {port: place for port, place in places.items() if place is not None}
        columns = best_columns(len(self.tiles), *self._room())
        return {tile.port: divmod(number, columns) for number, tile in enumerate(self.tiles)}

    def _room(self) -> tuple[int, int]:
        return max(1, self.width() - 2 * self.MARGIN), max(1, self.height() - 2 * self.MARGIN)

    def minimumSizeHint(self) -> QSize:
        rows = 1 + max((row for row, _ in self.positions.values()), default=0)
        columns = 1 + max((column for _, column in self.positions.values()), default=0)
        width, height = SlotTile.MINIMUM_SIZE
        return QSize(
            columns * width + (columns - 1) * SPACING + 2 * self.MARGIN,
            rows * height + (rows - 1) * SPACING + 2 * self.MARGIN,
        )

    def sizeHint(self) -> QSize:
        return self.minimumSizeHint()

    def reflow(self, force: bool = False) -> None:
        positions = self.layout_positions()
        shape = tuple(sorted(positions.items()))
        if shape != self._shape or force:
            fixture_changed = set(positions.values()) != set(self.positions.values())
            self._shape = shape
            self.positions = positions
            if fixture_changed:
                self.updateGeometry()
        self.empty_label.setVisible(not self.tiles)
        self._place()

    def _place(self) -> None:
        """Give every tile its cell of the page (called on every resize)."""
        width, height = self._room()
        self.empty_label.setGeometry(self.MARGIN, self.MARGIN, width, height)
        if not self.positions:
            return
        rows = 1 + max(row for row, _ in self.positions.values())
        columns = 1 + max(column for _, column in self.positions.values())
        cell_width = (width - SPACING * (columns - 1)) / columns
        cell_height = (height - SPACING * (rows - 1)) / rows
        for tile in self.tiles:
            row, column = self.positions[tile.port]
            x = self.MARGIN + round(column * (cell_width + SPACING))
            y = self.MARGIN + round(row * (cell_height + SPACING))
            tile.setGeometry(x, y, max(1, round(cell_width)), max(1, round(cell_height)))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.reflow()
