"""The Models page's tables: read-only, row-selecting, each row keyed by a model/repository/file id."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem

from ui.widgets.readonly_table import readonly_table


def make_table(columns: Sequence[str]) -> QTableWidget:
    """A sortable, read-only table with ``columns`` that selects whole rows."""
    table = readonly_table(columns)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    return table


def fill_table(table: QTableWidget, rows: Sequence[Sequence[str]], keys: Sequence[str]) -> None:
    """Replace the rows; each cell carries its row's key and shows its full text as a tooltip."""
    table.setSortingEnabled(False)
    table.setRowCount(len(rows))
    for r, (row, key) in enumerate(zip(rows, keys, strict=True)):
        for c, text in enumerate(row):
            item = QTableWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setToolTip(text)
            table.setItem(r, c, item)
    table.setSortingEnabled(True)


def selected_key(table: QTableWidget) -> str | None:
    """The key of the selected row, if any."""
    items = table.selectedItems()
    return str(items[0].data(Qt.ItemDataRole.UserRole)) if items else None
