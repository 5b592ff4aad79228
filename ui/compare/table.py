"""The results tables of the Compare page: one tab per workload, warnings marked on their rows."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QTabWidget, QWidget

from app.compare.results import WARNING, CompareSession, ResultRow
from app.compare.table import Table, build_tables
from ui.compare.skipped import Skipped, skipped_configs

WARN_COLOUR = QColor(245, 158, 11, 60)  # amber, translucent so it works on light and dark themes
FAIL_COLOUR = QColor(225, 29, 72, 60)
SKIP_COLOUR = QColor(128, 128, 128, 40)
HEADER_LINE = 11  # header words are wrapped to lines about this long, so columns are as wide as their numbers


def wrap_header(title: str, width: int = HEADER_LINE) -> str:
    """``images/s by batch`` -> ``images/s\nby batch``: a narrow column under a long title."""
    lines: list[str] = []
    for word in title.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines)


def short_flags(row: ResultRow) -> str:
    """The flags cell of the GUI: codes only (the messages are in the tooltip and the details line)."""
    return "  ".join(("⚠ " if f.level == WARNING else "ℹ ") + f.code.replace("_", " ") for f in row.flags)


class ResultsTables(QTabWidget):
    """Shows :func:`app.compare.table.build_tables` output; rows with warnings are tinted, flags in tooltips."""

    row_selected = Signal(str)  # the selected row's flags and the table's notes, as text

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tables: dict[str, QTableWidget] = {}
        self.notes: dict[str, list[str]] = {}
        self._rows: dict[str, list[ResultRow]] = {}
        self.skipped: dict[str, list[Skipped]] = {}
        self.setDocumentMode(True)
        self.currentChanged.connect(lambda _index: self._emit_details())

    def show_sessions(self, sessions: Sequence[CompareSession]) -> None:
        """Rebuild every tab from these sessions (a few dozen rows: cheap)."""
        current = self.tabText(self.currentIndex()) if self.count() else ""
        self.clear()
        self.tables.clear()
        self.notes.clear()
        self.skipped = {}
        for skip in (s for session in sessions for s in skipped_configs(session)):
            self.skipped.setdefault(skip.workload, []).append(skip)
        for table in build_tables(sessions):
            widget = self._make(table, self.skipped.get(table.workload, []))
            widget.itemSelectionChanged.connect(self._emit_details)
            self.tables[table.workload] = widget
            self.notes[table.workload] = table.notes
            self._rows[table.workload] = [row for row, _session in table.results]
            self.addTab(widget, table.workload.upper() if table.workload == "llm" else table.workload.title())
        for index in range(self.count()):
            if self.tabText(index) == current:
                self.setCurrentIndex(index)
        self._emit_details()

    def current_workload(self) -> str | None:
        """The workload of the shown tab."""
        widget = self.currentWidget()
        return next((w for w, t in self.tables.items() if t is widget), None)

    def _emit_details(self) -> None:
        workload = self.current_workload()
        if workload is None:
            self.row_selected.emit("")
            return
        lines = []
        selected = self.tables[workload].selectionModel().selectedRows()
        measured = self._rows[workload]
        if selected and selected[0].row() >= len(measured):
            skip = self.skipped[workload][selected[0].row() - len(measured)]
            lines.append(f"{skip.label}: {skip.reason}")
        elif selected:
            row = measured[selected[0].row()]
            lines += [f"{row.label}: " + ("⚠ " if f.level == WARNING else "") + f.message for f in row.flags]
            lines += [] if row.flags else [f"{row.label}: no flags"]
        lines += self.notes.get(workload, [])
        self.row_selected.emit("\n".join(lines))

    @staticmethod
    def _make(table: Table, skipped: list[Skipped]) -> QTableWidget:
        widget = QTableWidget(len(table.rows) + len(skipped), len(table.headers))
        widget.setHorizontalHeaderLabels([wrap_header(h) for h in table.headers])
        for c, title in enumerate(table.headers):
            header_item = widget.horizontalHeaderItem(c)
            if header_item is not None:
                header_item.setToolTip(title)
        widget.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        widget.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        widget.setAlternatingRowColors(True)
        widget.verticalHeader().setVisible(False)
        widget.setWordWrap(False)
        flags_column = table.headers.index("flags")
        for r, (cells, (row, _session)) in enumerate(zip(table.rows, table.results, strict=True)):
            tint = FAIL_COLOUR if not row.ok else WARN_COLOUR if any(f.level == WARNING for f in row.flags) \
                else None
            tip = "\n".join(("⚠ " if f.level == WARNING else "• ") + f.message for f in row.flags)
            for c, text in enumerate(cells):
                item = QTableWidgetItem(short_flags(row) if c == flags_column else text)
                if c in table.numeric:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if tint is not None:
                    item.setBackground(QBrush(tint))
                if tip:
                    item.setToolTip(tip)
                widget.setItem(r, c, item)
        ResultsTables._add_skipped(widget, table, skipped)
        header = widget.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        if table.notes:
            widget.setToolTip("\n".join(table.notes))
        return widget

    @staticmethod
    def _add_skipped(widget: QTableWidget, table: Table, skipped: list[Skipped]) -> None:
        """Greyed rows after the measured ones: what was asked for and not run, and why."""
        font = QFont(widget.font())
        font.setItalic(True)
        known = {"device": "device", "backend": "backend", "precision": "precision"}
        for offset, skip in enumerate(skipped):
            r = len(table.rows) + offset
            for c, title in enumerate(table.headers):
                field = known.get(title)
                text = getattr(skip, field) if field else skip.reason if title == "flags" else "—"
                item = QTableWidgetItem(text)
                item.setFont(font)
                item.setForeground(QBrush(QColor(128, 128, 128)))
                item.setBackground(QBrush(SKIP_COLOUR))
                item.setToolTip(skip.reason)
                widget.setItem(r, c, item)

    def cell(self, workload: str, row: int, column: str) -> str:
        """The text of one cell (tests and accessibility)."""
        table = self.tables[workload]
        headers = [str(table.model().headerData(c, Qt.Orientation.Horizontal)).replace("\n", " ")
                   for c in range(table.columnCount())]
        item = table.item(row, headers.index(column))
        return item.text() if item is not None else ""
