"""The Compare page's charts: bars per configuration, latency distributions, throughput by batch size, and
speed x quality with the Pareto front.

They draw finished rows (redrawn when a configuration completes, not per sample); the live line during a
run is the shared ring-buffer :class:`~ui.widgets.live_plot.LivePlot`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QTabWidget, QVBoxLayout, QWidget

from app.compare.flags import HEADLINES
from app.compare.pareto_chart import speed_quality
from app.compare.results import CompareSession, ResultRow
from ui.compare.serving_chart import ServingCharts
from ui.theme import PALETTE
from ui.widgets.boxes import column_of
from ui.widgets.live_plot import LivePlot

# The samples whose spread is shown per workload, and their axis title.
DISTRIBUTION = {"llm": ("ttft_ms", "TTFT (ms)"), "vision": ("latency_ms_b1", "latency at batch 1 (ms)"),
                "bayes": ("query_ms", "query time (ms)"), "endpoint": ("ttft_ms", "TTFT under load (ms)")}
WORKLOAD_NAMES = ("llm", "vision", "bayes", "endpoint")


def _short(row: ResultRow, session: CompareSession, several: bool) -> str:
    parts = [row.device, row.backend if row.workload in ("vision", "endpoint") else "",
             row.precision if row.workload != "bayes" else "", row.variant]
    text = " ".join(p for p in parts if p)
    return f"{session.machine.get('id', '')[:4]}: {text}" if several else text


def _plot(title: str, y_label: str) -> pg.PlotWidget:
    plot = pg.PlotWidget()
    plot.setBackground(None)
    plot.setMenuEnabled(False)
    plot.setTitle(title)
    plot.setLabel("left", y_label)
    plot.showGrid(x=False, y=True, alpha=0.2)
    return plot


class CompareCharts(QTabWidget):
    """Bars, distributions and throughput-vs-batch of the shown sessions, plus the live line."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sessions: list[CompareSession] = []
        self.workload = QComboBox()
        self.workload.addItems(list(WORKLOAD_NAMES))
        self.workload.currentTextChanged.connect(lambda _text: self.redraw())
        self.bars = _plot("", "")
        self.spread = _plot("", "")
        self.batch = _plot("throughput by batch size", "images/s")
        self.batch.setLabel("bottom", "batch size")
        self.batch.setLogMode(x=True, y=False)
        # The legend sits top-left, above the lines: _draw_batch leaves headroom for it.
        self.batch.addLegend(offset=(10, 10), brush=pg.mkBrush(128, 128, 128, 50))
        self.live = LivePlot("while it runs", ("live",), x_label="time (s)", y_label="")
        self.live_label = QLabel("")

        by_workload = QWidget()
        layout = QVBoxLayout(by_workload)
        layout.setContentsMargins(0, 0, 0, 0)
        pick = QHBoxLayout()
        pick.addWidget(QLabel("Workload"))
        pick.addWidget(self.workload)
        pick.addStretch(1)
        layout.addLayout(pick)
        inner = QTabWidget()
        inner.addTab(self.bars, "Bars per device")
        inner.addTab(self.spread, "Latency distribution")
        self.pareto = _plot("", "")
        self.pareto.showGrid(x=True, y=True, alpha=0.2)
        self.pareto.getAxis("left").enableAutoSIPrefix(False)  # a KL of 0.6 reads 0.6, not 600 m
        self.pareto_note = QLabel("")
        self.pareto_note.setWordWrap(True)
        inner.addTab(column_of(self.pareto, self.pareto_note, stretch=self.pareto), "Speed × quality")
        self.pareto_points: list[tuple[str, float, float, bool]] = []
        layout.addWidget(inner, 1)
        self.addTab(column_of(self.live, self.live_label, stretch=self.live), "Live")
        self.addTab(by_workload, "By configuration")
        self.addTab(self.batch, "Throughput vs batch")
        self.serving = ServingCharts()
        self.addTab(self.serving, "Serving (endpoints)")
        self._live_series = ""
        self._live_t0: float | None = None
        self.bar_count = 0

    # --- finished rows ------------------------------------------------------------------------------
    def show_sessions(self, sessions: Sequence[CompareSession]) -> None:
        """Draw these sessions; picks a workload they contain."""
        self.sessions = list(sessions)
        present = [w for w in WORKLOAD_NAMES if any(r.workload == w for s in sessions for r in s.results)]
        if present and self.workload.currentText() not in present:
            self.workload.setCurrentText(present[0])  # redraws
        else:
            self.redraw()

    def _rows(self, workload: str) -> list[tuple[ResultRow, CompareSession]]:
        return [(r, s) for s in self.sessions for r in s.results if r.workload == workload and r.ok]

    def redraw(self) -> None:
        """Draw every chart from the stored sessions."""
        workload = self.workload.currentText()
        rows = self._rows(workload)
        several = len({s.id for s in self.sessions}) > 1
        labels = [_short(r, s, several) for r, s in rows]
        self._draw_bars(workload, rows, labels)
        self._draw_spread(workload, rows, labels)
        self._draw_pareto(workload)
        self._draw_batch(self._rows("vision"), several)
        self.serving.show_sessions(self.sessions)

    def _draw_bars(self, workload: str, rows: list[tuple[ResultRow, CompareSession]], labels: list[str]) -> None:
        headline = HEADLINES[workload]
        self.bars.clear()
        self.bars.setTitle(f"{headline.words} ({'higher' if headline.higher_is_better else 'lower'} is better)")
        self.bars.setLabel("left", headline.words)
        values = [r.metrics.get(headline.metric, 0.0) for r, _s in rows]
        groups = sorted({(r.device, r.precision) for r, _ in rows})
        brushes = [PALETTE[groups.index((r.device, r.precision)) % len(PALETTE)] for r, _ in rows]
        if values:
            self.bars.addItem(pg.BarGraphItem(x=np.arange(len(values)), height=values, width=0.6, brushes=brushes))
            for index, value in enumerate(values):
                # The number on each bar: bars that differ a thousandfold are unreadable otherwise.
                text = pg.TextItem(f"{value:.3g}", anchor=(0.5, 1.0), color="#888888")
                text.setPos(index, value)
                self.bars.addItem(text)
        self.bars.getAxis("bottom").setTicks([list(enumerate(labels))])
        if values:
            # Room above the tallest bar for its number, and beside the outer bars for their labels.
            self.bars.setYRange(0, max(values) * 1.15 or 1.0, padding=0)
            self.bars.setXRange(-0.6, len(values) - 0.4, padding=0)
        self.bar_count = len(values)

    def _draw_spread(self, workload: str, rows: list[tuple[ResultRow, CompareSession]], labels: list[str]) -> None:
        key, title = DISTRIBUTION[workload]
        self.spread.clear()
        self.spread.setTitle(f"{title}: every sample, median as a bar")
        self.spread.setLabel("left", title)
        rng = np.random.default_rng(0)
        for index, (row, _session) in enumerate(rows):
            values = np.asarray(row.samples.get(key) or [], dtype=float)
            if values.size == 0:
                continue
            jitter = index + rng.uniform(-0.18, 0.18, values.size)
            colour = PALETTE[index % len(PALETTE)]
            self.spread.addItem(pg.ScatterPlotItem(jitter, values, size=5, brush=colour, pen=None))
            median = float(np.median(values))
            self.spread.addItem(pg.PlotDataItem([index - 0.3, index + 0.3], [median, median],
                                                pen=pg.mkPen(colour, width=3)))
        self.spread.getAxis("bottom").setTicks([list(enumerate(labels))])

    def _draw_pareto(self, workload: str) -> None:
        """Each configuration at (speed, quality); the Pareto front red and joined, the rest blue."""
        self.pareto.clear()
        chart = speed_quality(self.sessions, workload)
        self.pareto_points = []
        if chart is None:
            self.pareto.setTitle("speed × quality")
            self.pareto_note.setText("Needs two or more configurations with a quality figure: LLM comparisons "
                                     "with derived quantizations (KL divergence), vision (top-1 agreement), "
                                     "Bayesian networks (posterior error).")
            return
        self.pareto.setTitle(f"{workload}: speed × quality")
        self.pareto.setLabel("bottom", chart.axes.speed_label)
        self.pareto.setLabel("left", chart.axes.quality_short or chart.axes.quality)
        front = sorted((p for p, on in zip(chart.points, chart.front, strict=True) if on), key=lambda p: p.x)
        if len(front) > 1:
            self.pareto.addItem(pg.PlotDataItem([p.x for p in front], [p.y for p in front],
                                                pen=pg.mkPen(PALETTE[3], width=2)))
        for point, on in zip(chart.points, chart.front, strict=True):
            colour = PALETTE[3] if on else PALETTE[0]
            self.pareto.addItem(pg.ScatterPlotItem([point.x], [point.y], size=11, brush=colour, pen=None))
            text = pg.TextItem(point.label, anchor=(0.0, 1.0), color="#888888")
            text.setPos(point.x, point.y)
            self.pareto.addItem(text)
            self.pareto_points.append((point.label, point.x, point.y, on))
        xs, ys = [p.x for p in chart.points], [p.y for p in chart.points]
        pad_x, pad_y = (max(xs) - min(xs)) * 0.1 or 1.0, (max(ys) - min(ys)) * 0.1 or 0.1
        # Room on the right for the labels written beside the points.
        self.pareto.setXRange(min(xs) - pad_x, max(xs) + 3 * pad_x, padding=0)
        self.pareto.setYRange(min(ys) - pad_y, max(ys) + pad_y, padding=0)
        on_front = sum(chart.front)
        self.pareto_note.setText(f"red: the Pareto front ({on_front} of {len(chart.points)} configurations): "
                                 "no other one is both faster and better on quality. "
                                 f"Quality: {chart.axes.quality_label}.")

    def _draw_batch(self, rows: list[tuple[ResultRow, CompareSession]], several: bool) -> None:
        self.batch.clear()
        top = 0.0
        for index, (row, session) in enumerate(rows):
            sizes = sorted(int(k[1:].split("_")[0]) for k in row.metrics
                           if k.startswith("b") and k.endswith("_images_per_s"))
            if not sizes:
                continue
            rates = [row.metrics[f"b{b}_images_per_s"] for b in sizes]
            style = pg.mkPen(PALETTE[index % len(PALETTE)], width=2,
                             style=pg.QtCore.Qt.PenStyle.DashLine if row.device == "cpu" else
                             pg.QtCore.Qt.PenStyle.SolidLine)
            self.batch.plot(sizes, rates, pen=style, symbol="o", symbolSize=6,
                            name=_short(row, session, several))
            top = max(top, *rates)
        if top > 0:
            # Headroom above the highest line, in proportion to the legend's rows, so the legend covers none.
            self.batch.setYRange(0, top * (1.15 + 0.1 * min(len(rows), 6)), padding=0)

    # --- the live line ------------------------------------------------------------------------------
    def start_live(self) -> None:
        """A new run: empty the live line."""
        self.live.clear()
        self._live_series = ""
        self._live_t0 = None
        self.live_label.setText("")
        self.setCurrentIndex(0)

    def add_live(self, points: Sequence[tuple[str, str, float, float]]) -> None:
        """Buffer samples (label, series, value, t); a change of quantity restarts the line."""
        for label, series, value, t in points:
            if series != self._live_series:
                self.live.clear()
                self._live_series = series
                self.live.plot_widget.setLabel("left", series)
            if self._live_t0 is None:
                self._live_t0 = t
            self.live.add("live", t - self._live_t0, value)
            self.live_label.setText(f"{label}: {series} = {value:.4g}")

    def stop(self) -> None:
        """Stop the live line's redraw timer (the page is closing)."""
        self.live.stop()
