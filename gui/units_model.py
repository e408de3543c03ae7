"""The allow-list as a lazily fetched table model.

Rows come from ``records.units(limit, offset)`` one page at a time, when the view
scrolls near the end (``canFetchMore``/``fetchMore``), so a batch of 100,000 units
opens as fast as one of 10: only the first page is read. Each page is one short,
indexed read; the model never counts or loads the whole table.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from records import Records, Unit

from . import theme
from .worker import run_in_thread

Index = QModelIndex | QPersistentModelIndex

COLUMNS: tuple[tuple[str, str], ...] = (
    ("serial", "Serial"),
    ("batch", "Batch"),
    ("status", "Status"),
    ("last_pass_at", "Last PASS (UTC)"),
    ("operator", "Operator"),
    ("station_id", "Station"),
    ("cloud", "Cloud"),
)


def cloud_state(unit: Unit) -> str:
    return "synced" if unit.synced_rev >= unit.rev else "pending"


class UnitsModel(QAbstractTableModel):
    PAGE_SIZE = 200

    def __init__(
        self,
        records: Records,
        *,
        batch: str | None = None,
        search: str | None = None,
        page_size: int | None = None,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self.records = records
        self.batch = batch
        self.search = search or None
        self.page_size = page_size or self.PAGE_SIZE
        self._units: list[Unit] = []
        self._serials: set[str] = set()
        self._exhausted = False
        self._offset = 0
        self._closed = False
        self._loading = False
        self._generation = 0
        self.pages_read = 0

    # -- filters ----------------------------------------------------------------------

    def set_filter(self, *, batch: str | None = ..., search: str | None = ...) -> None:  # type: ignore[assignment]
        if batch is not ...:
            self.batch = batch
        if search is not ...:
            self.search = (search or "").strip() or None
        self.refresh()

    def close(self) -> None:
        """Never read again (the window is closing; the database may be closed next)."""
        self._closed = True
        self._exhausted = True

    def refresh(self) -> None:
        """Forget the rows and read the first page again, on a worker thread: while 16
        boards write, the database lock can be busy, and the UI thread must not wait for it."""
        if self._closed:
            return
        self.beginResetModel()
        self._units = []
        self._serials = set()
        self._exhausted = False
        self._offset = 0
        self.endResetModel()
        self._generation += 1
        generation = self._generation
        self._loading = True
        records, batch, search, size = self.records, self.batch, self.search, self.page_size

        def arrived(page: list[Unit]) -> None:
            if generation != self._generation or self._closed:
                return
            self._loading = False
            self._add_page(page)

        def failed(_exc: BaseException) -> None:
            if generation == self._generation:
                self._loading = False

        run_in_thread(lambda: records.units(batch=batch, search=search, limit=size, offset=0), arrived, failed, owner=self)

    def unit(self, row: int) -> Unit | None:
        return self._units[row] if 0 <= row < len(self._units) else None

    # -- Qt model -----------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's default argument
        return 0 if parent.isValid() else len(self._units)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and not self._exhausted and not self._closed and not self._loading

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid() or self._exhausted or self._closed or self._loading:
            return
        self._add_page(self.records.units(
            batch=self.batch, search=self.search, limit=self.page_size, offset=self._offset
        ))

    def _add_page(self, page: list[Unit]) -> None:
        self.pages_read += 1
        self._offset += len(page)
        if len(page) < self.page_size:
            self._exhausted = True
        # A unit that passed again since the last page moved up; never show it twice.
        fresh = [u for u in page if u.serial not in self._serials]
        if not fresh:
            return
        first = len(self._units)
        self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
        self._units.extend(fresh)
        self._serials.update(u.serial for u in fresh)
        self.endInsertRows()

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section][1]
        return None

    def unit_at(self, row: int) -> Any:
        """The unit shown in ``row`` (None past the loaded rows)."""
        return self._units[row] if 0 <= row < len(self._units) else None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        unit = self._units[index.row()]
        key = COLUMNS[index.column()][0]
        if role == Qt.ItemDataRole.DisplayRole:
            if key == "cloud":
                return cloud_state(unit)
            if key == "last_pass_at":
                return unit.last_pass_at.replace("T", " ")[:19]
            return getattr(unit, key)
        if role == Qt.ItemDataRole.ForegroundRole and key == "status" and unit.status == "revoked":
            return QBrush(QColor(theme.FAIL_BG))
        if role == Qt.ItemDataRole.ToolTipRole and key == "status" and unit.revoked_reason:
            return f"revoked: {unit.revoked_reason}"
        if role == Qt.ItemDataRole.UserRole:
            return unit
        return None
