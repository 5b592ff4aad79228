"""The History table: a Qt model over run dicts, sortable by value, filterable by engine, status and text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor

from ui.history.format import COLUMNS, duration_s, table_row

STATUS_COLOURS = {"ok": "#16a34a", "failed": "#dc2626", "crashed": "#dc2626", "interrupted": "#dc2626",
                  "cancelled": "#d97706", "stopped": "#d97706", "running": "#2563eb"}
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
RUN_ROLE = Qt.ItemDataRole.UserRole

_Index = QModelIndex | QPersistentModelIndex


class RunsModel(QAbstractTableModel):
    """One row per run (newest first as given)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.runs: list[dict[str, Any]] = []
        self._rows: list[list[str]] = []

    def set_runs(self, runs: Sequence[dict[str, Any]]) -> None:
        """Replace every row."""
        self.beginResetModel()
        self.runs = list(runs)
        self._rows = [table_row(run) for run in self.runs]
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's default argument
        """Rows."""
        return 0 if parent.isValid() else len(self.runs)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's default argument
        """Columns."""
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Column titles."""
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Cell text, colour, tooltip, the run itself and a sort key."""
        if not index.isValid():
            return None
        run = self.runs[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._rows[index.row()][column]
        if role == RUN_ROLE:
            return run
        if role == SORT_ROLE:
            if column == 0:
                return float(run.get("started_at") or 0)
            if column == 7:
                return duration_s(run) or 0.0
            return self._rows[index.row()][column].lower()
        if role == Qt.ItemDataRole.ForegroundRole and column == 5:
            colour = STATUS_COLOURS.get(self._rows[index.row()][5].split(" ")[0])
            return QColor(colour) if colour else None
        if role == Qt.ItemDataRole.ToolTipRole:
            return str(run.get("error") or "") or self._rows[index.row()][column]
        return None


class RunsFilter(QSortFilterProxyModel):
    """Keeps the runs of one engine / status whose text contains the search words."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.engine = ""
        self.status = ""
        self.text = ""
        self.setSortRole(SORT_ROLE)

    def set_filter(self, *, engine: str | None = None, status: str | None = None, text: str | None = None) -> None:
        """Change any of the filters (empty string: no filter)."""
        self.beginFilterChange()
        if engine is not None:
            self.engine = engine
        if status is not None:
            self.status = status
        if text is not None:
            self.text = text.lower().strip()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        """Engine, status and free text."""
        model = self.sourceModel()
        assert isinstance(model, RunsModel)
        run = model.runs[source_row]
        if self.engine and run.get("engine") != self.engine:
            return False
        shown_status = model.data(model.index(source_row, 5)) or ""
        if self.status and self.status not in (run.get("status"), shown_status.split(" ")[0]):
            return False
        if self.text:
            haystack = " ".join(model.data(model.index(source_row, c)) or "" for c in range(len(COLUMNS)))
            haystack += " " + str(run.get("error") or "")
            return all(word in haystack.lower() for word in self.text.split())
        return True
