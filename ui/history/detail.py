"""Details of one run (metrics, parameters, recorded time series as graphs, result or error) and a
side-by-side comparison of several runs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ui.history.format import (
    compare_rows,
    display_status,
    duration_text,
    format_value,
    metric_label,
    started_text,
)
from ui.theme import PALETTE, is_dark
from ui.widgets.boxes import column_of
from ui.widgets.readonly_table import readonly_table

MAX_GRAPHS = 6
GRAPH_HEIGHT = 170  # px per graph: below this the axis labels crowd the line out; more graphs scroll
_RESULT_CHARS = 20000


def _fill(table: QTableWidget, headers: Sequence[str], rows: Sequence[Sequence[str]],
          tips: Sequence[str] | None = None) -> None:
    table.setColumnCount(len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            item = QTableWidgetItem(text)
            item.setToolTip(tips[r] if tips is not None and c == 0 else text)
            table.setItem(r, c, item)


class SeriesGraphs(QWidget):
    """One small plot per recorded series (time from the first point of the run)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.note = QLabel("No time series were recorded for this run.")
        self.note.setObjectName("muted")
        self._layout.addWidget(self.note)
        self.graphics: Any = None
        self.scroll: QScrollArea | None = None
        self.shown: list[str] = []

    def set_series(self, series: Mapping[str, Sequence[tuple[float, float]]]) -> None:
        """Draw ``name -> [(t, value)]``."""
        names = [name for name, points in series.items() if points][:MAX_GRAPHS]
        self.shown = names
        self.note.setVisible(not names)
        if self.graphics is None:
            if not names:
                return
            from ui.startup import import_pyqtgraph

            pg = import_pyqtgraph()
            pg.setConfigOptions(antialias=True, foreground="#c8c8c8" if is_dark() else "#333333")
            self.graphics = pg.GraphicsLayoutWidget()
            self.graphics.setBackground(None)
            self.scroll = QScrollArea()
            self.scroll.setWidgetResizable(True)
            self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
            self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            self.scroll.setWidget(self.graphics)
            self._layout.addWidget(self.scroll, 1)
        self.graphics.clear()
        self.graphics.setMinimumHeight(GRAPH_HEIGHT * len(names))
        assert self.scroll is not None
        self.scroll.setVisible(bool(names))
        t0 = min((points[0][0] for name, points in series.items() if name in names), default=0.0)
        for row, name in enumerate(names):
            points = series[name]
            plot = self.graphics.addPlot(row=row, col=0, title=metric_label(name))
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setLabel("bottom", "time since the run started (s)")
            plot.getAxis("bottom").enableAutoSIPrefix(False)  # "0.25 s", never "250 (x0.001)"
            plot.getAxis("left").enableAutoSIPrefix(False)
            plot.plot([p[0] - t0 for p in points], [p[1] for p in points],
                      pen={"color": PALETTE[row % len(PALETTE)], "width": 2})


class RunDetail(QWidget):
    """Everything recorded about one run."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("Select a run to see its details; select several to compare them.")
        self.title.setWordWrap(True)
        self.metrics = readonly_table(["Metric", "Value"], select_rows=False)
        self.params = QPlainTextEdit()
        self.params.setReadOnly(True)
        self.graphs = SeriesGraphs()
        self.result = QPlainTextEdit()
        self.result.setReadOnly(True)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.metrics, "Metrics")
        self.tabs.addTab(self.graphs, "Graphs")
        self.tabs.addTab(self.params, "Parameters")
        self.tabs.addTab(self.result, "Result")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.tabs, 1)

    def show_run(self, run: Mapping[str, Any], series: Mapping[str, Sequence[tuple[float, float]]]) -> None:
        """Show one run and its samples."""
        status = display_status(run)
        error = f"\n{run['error']}" if run.get("error") else ""
        self.title.setText(f"<b>{run.get('engine')}/{run.get('op')}</b> · {run.get('model_id') or ''} · "
                           f"{run.get('device') or ''} · {status} · {started_text(run.get('started_at'))} · "
                           f"{duration_text(run)}{error}")
        metrics = run.get("metrics") or {}
        names = sorted(metrics, key=metric_label)
        _fill(self.metrics, ["Metric", "Value"], [[metric_label(n), format_value(n, metrics[n])] for n in names],
              tips=names)
        self.params.setPlainText(json.dumps(run.get("params") or {}, indent=2, default=str))
        result = run.get("result")
        text = json.dumps(result, indent=2, default=str) if result is not None else ""
        if run.get("error"):
            text = f"Error: {run['error']}\n\n{text}"
        self.result.setPlainText(text[:_RESULT_CHARS] + ("\n…" if len(text) > _RESULT_CHARS else ""))
        self.graphs.set_series(series)


class DetailPane(QStackedWidget):
    """The detail of one run, or the comparison of several."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.detail = RunDetail()
        self.compare = readonly_table(["Runs"], select_rows=False)
        self.compare_title = QLabel("")
        self.addWidget(self.detail)
        self.addWidget(column_of(self.compare_title, self.compare, stretch=self.compare))

    def show_run(self, run: Mapping[str, Any], series: Mapping[str, Sequence[tuple[float, float]]]) -> None:
        """One run."""
        self.detail.show_run(run, series)
        self.setCurrentIndex(0)

    def show_comparison(self, runs: Sequence[Mapping[str, Any]]) -> None:
        """Several runs side by side."""
        headers, rows = compare_rows(runs)
        _fill(self.compare, headers, rows)
        self.compare_title.setText(f"<b>{len(runs)} runs side by side</b>")
        self.setCurrentIndex(1)
