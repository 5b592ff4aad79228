"""The read-only tables the pages show: whole-row selection, columns sized to their contents, cells updated in place."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem


def readonly_table(columns: Sequence[str], *, select_rows: bool = True) -> QTableWidget:
    """A table with ``columns`` that cannot be edited, has no row numbers and stretches its last column."""
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))  # never Qt's "1 | 2" before the first fill
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    if select_rows:
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.verticalHeader().hide()
    table.setAlternatingRowColors(True)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return table


def set_cells(table: QTableWidget, rows: Sequence[Sequence[str]]) -> None:
    """Show ``rows``, changing only the cells whose text changed (a refresh keeps the selection and scroll)."""
    if table.rowCount() != len(rows):
        table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            item = table.item(r, c)
            if item is None:
                table.setItem(r, c, QTableWidgetItem(text))
            elif item.text() != text:
                item.setText(text)
