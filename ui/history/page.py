"""The History page: every run of every engine, filterable and sortable, with details, graphs, export,
and side-by-side comparison of selected runs. Queries run on the task runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ui.context import AppContext
from ui.history.detail import DetailPane
from ui.history.format import export_csv, export_json
from ui.history.table import RUN_ROLE, RunsFilter, RunsModel
from ui.widgets.boxes import column_of

RUN_LIMIT = 5000
STATUSES = ("ok", "stopped", "failed", "cancelled", "crashed", "running")


class HistoryPage(QWidget):
    """The run table on top, the detail (or comparison) below."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.model = RunsModel(self)
        self.proxy = RunsFilter(self)
        self.proxy.setSourceModel(self.model)
        self.last_message = ""
        self._loading = False
        self._detail_request = 0
        self._closed = False
        self._build()
        self._auto = QTimer(self)
        self._auto.setInterval(5000)
        self._auto.timeout.connect(self._auto_refresh)
        self._auto.start()
        self.refresh()

    def _build(self) -> None:
        self.engine = QComboBox()
        self.engine.addItem("all engines", "")
        self.status = QComboBox()
        self.status.addItem("any status", "")
        for status in STATUSES:
            self.status.addItem(status, status)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter: model, op, device, error…")
        self.search.setClearButtonEnabled(True)
        self.refresh_button = QPushButton("Refresh")
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the selected runs (or all shown) as CSV or JSON")
        self.delete_button = QPushButton("Delete")
        self.count_label = QLabel("")
        self.count_label.setObjectName("muted")
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        for column, width in enumerate((150, 70, 80, 190, 150, 80, 240)):
            self.table.setColumnWidth(column, width)
        self.detail = DetailPane()
        top = QHBoxLayout()
        title = QLabel("History")
        title.setObjectName("pageTitle")
        top.addWidget(title)
        top.addWidget(self.engine)
        top.addWidget(self.status)
        top.addWidget(self.search, 1)
        top.addWidget(self.refresh_button)
        top.addWidget(self.export_button)
        top.addWidget(self.delete_button)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(column_of(self.table, self.count_label, stretch=self.table))
        splitter.addWidget(self.detail)
        # The detail (its graphs above all) gets most of the height; the table scrolls.
        splitter.setSizes([300, 560])
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        self.engine.currentIndexChanged.connect(
            lambda _i: self._filter(engine=str(self.engine.currentData() or "")))
        self.status.currentIndexChanged.connect(
            lambda _i: self._filter(status=str(self.status.currentData() or "")))
        self.search.textChanged.connect(lambda text: self._filter(text=text))
        self.refresh_button.clicked.connect(self.refresh)
        self.export_button.clicked.connect(self._ask_export)
        self.delete_button.clicked.connect(self._ask_delete)
        self.table.selectionModel().selectionChanged.connect(lambda *_a: self._selection_changed())

    # --- loading --------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the runs in the background (the selection is kept)."""
        if self._loading or self._closed:
            return
        self._loading = True
        history = self.context.history
        self.context.tasks.run(lambda _s: history.runs(limit=RUN_LIMIT), on_done=self._loaded,
                               on_error=self._failed)

    def _auto_refresh(self) -> None:
        if self.isVisible():
            self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        """Fresh runs whenever the page comes into view."""
        super().showEvent(event)
        self.refresh()

    def _loaded(self, runs: list[dict[str, Any]]) -> None:
        self._loading = False
        if self._closed:
            return
        if [r.get("id") for r in runs] == [r.get("id") for r in self.model.runs] and \
                [r.get("status") for r in runs] == [r.get("status") for r in self.model.runs]:
            return
        selected = set(self.selected_ids())
        self.model.set_runs(runs)
        engines = sorted({str(r.get("engine")) for r in runs if r.get("engine")})
        known = {str(self.engine.itemData(i)) for i in range(self.engine.count())}
        for engine in engines:
            if engine not in known:
                self.engine.addItem(engine, engine)
        self._reselect(selected)
        self._update_count()

    def _failed(self, message: str, _traceback: str) -> None:
        self._loading = False
        self.last_message = message
        self.count_label.setText(message)

    def _filter(self, **changes: str) -> None:
        self.proxy.set_filter(**changes)
        self._update_count()

    def _update_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.count_label.setText(f"{shown} of {total} runs" if shown != total else f"{total} runs")

    # --- selection ------------------------------------------------------------------------------
    def visible_runs(self) -> list[dict[str, Any]]:
        """The runs the filter lets through, in the table's order."""
        return [self.proxy.index(r, 0).data(RUN_ROLE) for r in range(self.proxy.rowCount())]

    def selected_runs(self) -> list[dict[str, Any]]:
        """The selected runs, in the table's order."""
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.proxy.index(r, 0).data(RUN_ROLE) for r in rows]

    def selected_ids(self) -> list[str]:
        """Ids of the selected runs."""
        return [str(run["id"]) for run in self.selected_runs()]

    def select_runs(self, run_ids: list[str]) -> None:
        """Select these runs (tests, and keeping the selection across refreshes)."""
        self._reselect(set(run_ids))

    def _reselect(self, run_ids: set[str]) -> None:
        selection = self.table.selectionModel()
        selection.clearSelection()
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if str(index.data(RUN_ROLE).get("id")) in run_ids:
                selection.select(index, flags)

    def _selection_changed(self) -> None:
        runs = self.selected_runs()
        if len(runs) > 1:
            self.detail.show_comparison(runs)
        elif len(runs) == 1:
            self._load_detail(runs[0])

    def _load_detail(self, run: dict[str, Any]) -> None:
        self._detail_request += 1
        request = self._detail_request
        history = self.context.history
        run_id = str(run["id"])

        def done(series: dict[str, list[tuple[float, float]]]) -> None:
            if request == self._detail_request and not self._closed:
                self.detail.show_run(run, series)

        self.context.tasks.run(lambda _s: history.samples(run_id), on_done=done, on_error=self._failed)

    # --- export and delete ----------------------------------------------------------------------
    def export_runs(self, path: str, runs: list[dict[str, Any]] | None = None) -> None:
        """Write runs (default: the selection, else every run shown) to ``path`` (.csv or .json)."""
        chosen = runs if runs is not None else (self.selected_runs() or self.visible_runs())
        history = self.context.history

        def work(_state: Any) -> str:
            if path.lower().endswith(".csv"):
                text = export_csv(chosen)
            else:
                samples = {str(r["id"]): history.samples(str(r["id"])) for r in chosen}
                text = export_json(chosen, samples)
            Path(path).write_text(text, encoding="utf-8")
            return f"Saved {len(chosen)} runs to {path}"

        def done(message: str) -> None:
            self.last_message = message
            self.count_label.setText(message)

        self.context.tasks.run(work, on_done=done, on_error=self._failed)

    def _ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export runs", "runs.csv", "CSV (*.csv);;JSON (*.json)")
        if path:
            self.export_runs(path)

    def delete_runs(self, run_ids: list[str]) -> None:
        """Remove runs and their samples."""
        history = self.context.history

        def work(_state: Any) -> int:
            for run_id in run_ids:
                history.delete_run(run_id)
            return len(run_ids)

        def done(count: int) -> None:
            self.last_message = f"Deleted {count} runs"
            self.refresh()

        self.context.tasks.run(work, on_done=done, on_error=self._failed)

    def _ask_delete(self) -> None:
        ids = self.selected_ids()
        if ids and QMessageBox.question(self, "Delete runs", f"Delete {len(ids)} runs and their samples?") \
                == QMessageBox.StandardButton.Yes:
            self.delete_runs(ids)

    def shutdown(self) -> None:
        """Stop the refresh timer."""
        self._closed = True
        self._auto.stop()
