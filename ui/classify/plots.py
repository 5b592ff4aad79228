"""Live run graphs of the Classify page: a latency histogram and an images-per-second line.

Both are the shared ring-buffer plots of ``ui.widgets.live_plot``, which redraw at a fixed rate. The rate
line gets one point per page tick from :class:`RateMeter`, so it is smooth whether images arrive one at a
time or in batches.
"""

from __future__ import annotations

import time
from collections import deque

from PySide6.QtWidgets import QVBoxLayout, QWidget

from ui.widgets.live_plot import LiveHistogram, LivePlot

RATE_WINDOW_S = 1.5  # images/s is counted over this trailing window (batches arrive in bursts)
RATE_SERIES = "images/s"


class RateMeter:
    """Counts arrivals and turns them into images/s over a trailing window (no Qt)."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self.window_s = window_s
        self.reset()

    def reset(self, now: float | None = None) -> None:
        """Start a new run."""
        self.started = time.monotonic() if now is None else now
        self._arrivals: deque[float] = deque()
        self.count = 0

    def add(self, now: float | None = None) -> None:
        """Count one finished image."""
        self._arrivals.append(time.monotonic() if now is None else now)
        self.count += 1

    def rate(self, now: float | None = None) -> tuple[float, float] | None:
        """(seconds since the start, images/s over the trailing window), or None right at the start."""
        now = time.monotonic() if now is None else now
        while self._arrivals and self._arrivals[0] < now - self.window_s:
            self._arrivals.popleft()
        elapsed = now - self.started
        if elapsed <= 0:
            return None
        return elapsed, len(self._arrivals) / min(self.window_s, elapsed)


class LivePerformance(QWidget):
    """The two graphs, stacked; ``add`` per image, ``tick`` on the page's timer while a run is going."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.meter = RateMeter()
        self.histogram = LiveHistogram("latency per image", x_label="ms", bins=30)
        self.rate_plot = LivePlot("images per second", (RATE_SERIES,), y_label="images/s")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.histogram)
        layout.addWidget(self.rate_plot)

    def reset(self) -> None:
        """Clear both graphs for a new run."""
        self.meter.reset()
        self.histogram.clear()
        self.rate_plot.clear()

    def add(self, latency_ms: float | None) -> None:
        """Buffer one image (drawn at the graphs' next redraw)."""
        self.meter.add()
        if latency_ms is not None:
            self.histogram.add(float(latency_ms))

    def tick(self) -> None:
        """Add the current rate to the line."""
        point = self.meter.rate()
        if point is not None:
            self.rate_plot.add(RATE_SERIES, *point)

    def finish(self) -> None:
        """The run ended: draw the last points now."""
        self.tick()
        self.histogram.redraw()
        self.rate_plot.redraw()

    def stop(self) -> None:
        """Stop the graphs' redraw timers."""
        self.histogram.stop()
        self.rate_plot.stop()
