"""The Compare page's serving charts for endpoint rows: the latency–throughput curve and user vs system
throughput, one line per endpoint (and machine), one point per concurrency cap."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTabWidget, QWidget

from app.compare.results import CompareSession, ResultRow
from ui.theme import PALETTE
from ui.widgets.boxes import column_of

# Latency figures drawn against output tokens/s: (metric, legend words, dashed?).
LATENCIES = (("ttft_p50_ms", "TTFT p50", False), ("ttft_p99_ms", "TTFT p99", True),
             ("tpot_p50_ms", "TPOT p50", False), ("tpot_p99_ms", "TPOT p99", True))


def endpoint_series(sessions: Sequence[CompareSession]) -> dict[str, list[ResultRow]]:
    """Measured endpoint rows grouped per endpoint and model (per machine when several; the rate sweep apart),
    in rising load."""
    several = len({s.id for s in sessions}) > 1
    series: dict[str, list[ResultRow]] = {}
    for session in sessions:
        for row in session.results:
            if row.workload != "endpoint" or not row.ok or "output_tokens_per_s" not in row.metrics:
                continue
            name = f"{row.device.removeprefix('endpoint:')} {row.backend}".strip()
            name = f"{session.machine.get('id', '')[:4]}: {name}" if several else name
            # A concurrency sweep and a rate sweep are two lines: each rises along its own load axis.
            name += " (rates)" if "request_rate" in row.metrics else ""
            series.setdefault(name, []).append(row)
    for rows in series.values():
        rows.sort(key=lambda r: r.metrics.get("max_concurrency", r.metrics.get("request_rate", 0.0)))
    return series


def _plot(title: str, x_label: str, y_label: str) -> pg.PlotWidget:
    plot = pg.PlotWidget()
    plot.setBackground(None)
    plot.setMenuEnabled(False)
    plot.setTitle(title)
    plot.setLabel("bottom", x_label)
    plot.setLabel("left", y_label)
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.addLegend(offset=(10, 10), brush=pg.mkBrush(128, 128, 128, 50))
    return plot


class ServingCharts(QTabWidget):
    """Latency vs throughput and per-user vs system throughput of the shown endpoint rows."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.latency = _plot("latency vs throughput as concurrency rises", "output tokens/s (system)",
                             "latency (ms, log scale)")
        # TTFTs in seconds and TPOTs in tens of ms share the axis: only a log scale shows both.
        self.latency.setLogMode(x=False, y=True)
        self.users = _plot("per-user vs system throughput", "output tokens/s (system)",
                           "tokens/s per user (1000 / mean TPOT)")
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.addTab(column_of(self.latency, self.note, stretch=self.latency), "Latency vs throughput")
        self.addTab(self.users, "User vs system throughput")
        self.goodput = _plot("goodput vs request rate", "request rate (req/s, Poisson arrivals)", "requests/s")
        self.addTab(self.goodput, "Goodput vs rate")
        # What was drawn, by line name: [(x, y)] — also what tests and screenshots read.
        self.curves: dict[str, list[tuple[float, float]]] = {}

    def show_sessions(self, sessions: Sequence[CompareSession]) -> None:
        """Redraw from these sessions' endpoint rows."""
        self.latency.clear()
        self.users.clear()
        self.goodput.clear()
        self.curves = {}
        series = endpoint_series(sessions)
        for index, (name, rows) in enumerate(series.items()):
            colour = PALETTE[index % len(PALETTE)]
            xs = [r.metrics["output_tokens_per_s"] for r in rows]
            for number, (metric, words, dashed) in enumerate(LATENCIES):
                points = [(x, r.metrics[metric]) for x, r in zip(xs, rows, strict=True)
                          if r.metrics.get(metric, 0.0) > 0]
                if not points:
                    continue
                # TTFT and TPOT in two colours of their own; the endpoint shifts the pair along the palette.
                colour = PALETTE[(2 * index + number // 2) % len(PALETTE)]
                pen = pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
                symbol = "o" if metric.startswith("ttft") else "t"
                self.latency.plot(*zip(*points, strict=True), pen=pen, symbol=symbol, symbolSize=7,
                                  symbolBrush=colour, name=f"{name} {words}")
                self.curves[f"{name} {words}"] = points
            for x, row in zip(xs, rows, strict=True):
                # The concurrency beside each TTFT p50 point: the curve reads left to right as load rises.
                if row.metrics.get("ttft_p50_ms", 0.0) > 0:
                    load = (f"c={row.metrics['max_concurrency']:.0f}" if "max_concurrency" in row.metrics
                            else f"{row.metrics.get('request_rate', 0):g}/s")
                    label = pg.TextItem(load, anchor=(0.0, 1.0), color="#888888")
                    label.setPos(x, math.log10(row.metrics["ttft_p50_ms"]))  # the axis is log10
                    self.latency.addItem(label)
            users = [(x, r.metrics["user_tokens_per_s"]) for x, r in zip(xs, rows, strict=True)
                     if "user_tokens_per_s" in r.metrics]
            colour = PALETTE[index % len(PALETTE)]
            if users:
                self.users.plot(*zip(*users, strict=True), pen=pg.mkPen(colour, width=2), symbol="o",
                                symbolSize=7, symbolBrush=colour, name=name)
                self.curves[f"{name} per user"] = users
            # Rate points only: a concurrency cap has no arrival rate to plot against.
            rated = sorted((r.metrics["request_rate"], r) for r in rows if "request_rate" in r.metrics)
            for metric, words, style in (("requests_per_s", "completed", Qt.PenStyle.DashLine),
                                         ("request_goodput", "goodput (within the SLOs)", Qt.PenStyle.SolidLine)):
                points = [(rate, r.metrics[metric]) for rate, r in rated if metric in r.metrics]
                if points:
                    self.goodput.plot(*zip(*points, strict=True), pen=pg.mkPen(colour, width=2, style=style),
                                      symbol="o", symbolSize=7, symbolBrush=colour, name=f"{name} {words}")
                    self.curves[f"{name} {words}"] = points
        self.note.setText("One point per concurrency cap (c=…); solid: median, dashed: p99. TTFT in circles, "
                          "TPOT in triangles." if series else
                          "Add endpoint URLs in the form to measure servers under load.")
