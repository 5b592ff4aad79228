"""Live graphs that redraw at a fixed rate from ring buffers, never once per token or event.

Producers call :meth:`LivePlot.add` (cheap: one array write); a QTimer repaints, at most ``hz`` times a
second and only when something changed. :class:`LiveHistogram` does the same for a distribution.

The graphs are drawn with QPainter: a few lines, ticks and labels cost a millisecond or two per frame,
where a general-purpose plotting scene (pyqtgraph) spent 20-100 ms per frame laying out and painting its
axes on a small, busy machine, more than the UI thread's whole budget while an answer streams. Axis
ranges move in "nice" steps (1, 2, 2.5, 5 x 10^k) rather than jumping with every point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPalette, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from ui.theme import PALETTE

__all__ = ["PALETTE", "LiveHistogram", "LivePlot", "RingBuffer", "nice_ceiling", "nice_range", "nice_ticks"]


class RingBuffer:
    """The last ``capacity`` (t, value) pairs, oldest first on read."""

    def __init__(self, capacity: int = 2000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._data = np.zeros((capacity, 2), dtype=np.float64)
        self._next = 0
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def append(self, t: float, value: float) -> None:
        """Add one point, dropping the oldest when full."""
        self._data[self._next] = (t, value)
        self._next = (self._next + 1) % self.capacity
        self._count = min(self._count + 1, self.capacity)

    def clear(self) -> None:
        """Forget every point."""
        self._next = 0
        self._count = 0

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the times and values, oldest first."""
        full = self._count == self.capacity
        data = np.roll(self._data, -self._next, axis=0) if full else self._data[: self._count]
        return data[:, 0].copy(), data[:, 1].copy()


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^k at or above ``value`` (1 for anything not above zero)."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        candidate = step * 10.0**exponent
        if candidate >= value * (1 - 1e-12):
            return candidate
    return 10.0 ** (exponent + 1)


def nice_range(values: np.ndarray, headroom: float = 1.0) -> tuple[float, float]:
    """From 0 (or a nice negative floor) to a nice ceiling that holds every value."""
    finite = values[np.isfinite(values)] if values.size else values
    if finite.size == 0:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    bottom = 0.0 if low >= 0 else -nice_ceiling(-low)
    return bottom, nice_ceiling(high * headroom) if high > 0 else 1.0


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick positions covering ``low``..``high``."""
    if not high > low:
        return [low]
    step = nice_ceiling((high - low) / count)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _label(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 10000:
        return f"{value / 1000:.0f}k"
    if magnitude >= 10 or float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.2g}"


class _Chart(QWidget):
    """Axes, grid, title and legend; subclasses draw the data. Repaints on a timer when data changed."""

    def __init__(self, title: str, x_label: str, y_label: str, hz: float, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.title = title
        self.labels = {"bottom": x_label, "left": y_label, "right": ""}
        self.plot_widget = self  # pages may call plot_widget.setLabel(...), as on a pyqtgraph PlotWidget
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        # We fill our own background, so Qt need not repaint the parent under us on every frame.
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self._frame_cache: tuple[tuple[object, ...], QPixmap, QRectF] | None = None
        self._dirty = False
        self.redraw_count = 0
        self.paint_count = 0
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, round(1000 / hz)))
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    # --- API shared with pyqtgraph's PlotWidget ---------------------------------------------------
    def setLabel(self, axis: str, text: str) -> None:  # the pyqtgraph PlotWidget name pages use
        """Set the label of the ``left``, ``right`` or ``bottom`` axis."""
        self.labels[axis] = text
        self.update()

    def setTitle(self, title: str) -> None:
        """Set the title."""
        self.title = title
        self.update()

    # --- timing ---------------------------------------------------------------------------------
    def _tick(self) -> None:
        if self._dirty:
            self._dirty = False
            self.redraw()

    def redraw(self) -> None:
        """Draw the buffered data now (normally the timer calls this)."""
        self.redraw_count += 1
        self.update()

    def stop(self) -> None:
        """Stop the redraw timer (pages call this from ``shutdown``)."""
        self._timer.stop()

    def restart(self, delay_ms: int = 0) -> None:
        """Restart the redraw timer after ``delay_ms`` (to keep it out of step with another fixed-rate timer)."""
        self._timer.stop()
        QTimer.singleShot(delay_ms, self, self._timer.start)

    # --- drawing --------------------------------------------------------------------------------
    def _colours(self) -> tuple[QColor, QColor]:
        text = self.palette().color(QPalette.ColorRole.WindowText)
        background = self.palette().color(QPalette.ColorRole.Window)
        # An opaque grid colour (text blended into the background): blending per pixel is slow in software.
        grid = QColor(round(0.85 * background.red() + 0.15 * text.red()),
                      round(0.85 * background.green() + 0.15 * text.green()),
                      round(0.85 * background.blue() + 0.15 * text.blue()))
        return text, grid

    def _background(self, painter: QPainter, x_range: tuple[float, float], y_left: tuple[float, float],
                    y_right: tuple[float, float] | None) -> QRectF:
        """Draw the frame (title, axes, ticks, grid) from a cached pixmap; returns the plot area."""
        key = (self.width(), self.height(), x_range, y_left, y_right, self.title, tuple(self.labels.items()),
               self.palette().cacheKey(), self.devicePixelRatioF())
        if self._frame_cache is None or self._frame_cache[0] != key:
            ratio = self.devicePixelRatioF()
            pixmap = QPixmap(max(1, round(self.width() * ratio)), max(1, round(self.height() * ratio)))
            pixmap.setDevicePixelRatio(ratio)
            pixmap.fill(self.palette().color(QPalette.ColorRole.Window))
            frame_painter = QPainter(pixmap)
            try:
                area = self._frame(frame_painter, x_range, y_left, y_right)
                if area.width() >= 10 and area.height() >= 10:
                    self._decorate(frame_painter, area)
            finally:
                frame_painter.end()
            self._frame_cache = (key, pixmap, area)
        painter.drawPixmap(0, 0, self._frame_cache[1])
        return QRectF(self._frame_cache[2])

    def _decorate(self, painter: QPainter, area: QRectF) -> None:
        """Draw what sits on the frame and never changes with the data (a legend)."""

    def _frame(self, painter: QPainter, x_range: tuple[float, float], y_left: tuple[float, float],
               y_right: tuple[float, float] | None) -> QRectF:
        """Draw title, axes, ticks and grid; returns the plot area."""
        text, grid = self._colours()
        font = QFont(self.font())
        font.setPointSizeF(max(font.pointSizeF() * 0.85, 7.0))
        painter.setFont(font)
        metrics = painter.fontMetrics()
        line = metrics.height()
        left_ticks, right_ticks = nice_ticks(*y_left), nice_ticks(*y_right) if y_right else []
        left_width = max((metrics.horizontalAdvance(_label(v)) for v in left_ticks), default=0) + 6
        right_width = (max((metrics.horizontalAdvance(_label(v)) for v in right_ticks), default=0) + 6
                       if y_right else 0)
        top = line + 4 if self.title else 6
        area = QRectF(left_width + (line + 2 if self.labels["left"] else 0), top,
                      0, 0)
        area.setRight(self.width() - 8 - right_width - (line + 2 if y_right and self.labels["right"] else 0))
        area.setBottom(self.height() - line * (2 if self.labels["bottom"] else 1) - 6)
        if area.width() < 10 or area.height() < 10:
            return area
        painter.setPen(text)
        if self.title:
            painter.drawText(QRectF(0, 0, self.width(), line + 2), Qt.AlignmentFlag.AlignCenter, self.title)
        grid_pen = QPen(grid)
        grid_pen.setWidth(1)
        for value in left_ticks:
            y = self._map(value, y_left, area.bottom(), area.top())
            painter.setPen(grid_pen)
            painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
            painter.setPen(text)
            painter.drawText(QRectF(area.left() - left_width - 2, y - line / 2, left_width - 2, line),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, _label(value))
        for value in right_ticks:
            assert y_right is not None
            y = self._map(value, y_right, area.bottom(), area.top())
            painter.drawText(QRectF(area.right() + 4, y - line / 2, right_width, line),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, _label(value))
        for value in nice_ticks(*x_range, count=max(2, int(area.width() // 70))):
            x = self._map(value, x_range, area.left(), area.right())
            painter.setPen(grid_pen)
            painter.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()))
            painter.setPen(text)
            painter.drawText(QRectF(x - 30, area.bottom() + 2, 60, line), Qt.AlignmentFlag.AlignHCenter,
                             _label(value))
        painter.drawRect(area)
        if self.labels["bottom"]:
            painter.drawText(QRectF(area.left(), self.height() - line - 2, area.width(), line),
                             Qt.AlignmentFlag.AlignHCenter, self.labels["bottom"])
        for side, x in (("left", 2.0), ("right", float(self.width() - line - 2))):
            if self.labels[side] and (side == "left" or y_right):
                painter.save()
                painter.translate(x + line / 2, area.center().y())
                painter.rotate(-90 if side == "left" else 90)
                painter.drawText(QRectF(-area.height() / 2, -line / 2, area.height(), line),
                                 Qt.AlignmentFlag.AlignCenter, self.labels[side])
                painter.restore()
        return area

    @staticmethod
    def _map(value: float, span: tuple[float, float], start: float, end: float) -> float:
        low, high = span
        return start + (value - low) / (high - low or 1.0) * (end - start)


class LivePlot(_Chart):
    """Lines over time, one per series, fed by :meth:`add` and redrawn at ``hz``."""

    def __init__(self, title: str = "", series: Sequence[str] = ("value",), *, x_label: str = "time (s)",
                 y_label: str = "", capacity: int = 2000, hz: float = 10.0,
                 right_axis: Sequence[str] = (), parent: QWidget | None = None) -> None:
        super().__init__(title, x_label, y_label, hz, parent)
        self.series = tuple(series)
        self.right_axis = tuple(name for name in right_axis if name in self.series)
        if self.right_axis:
            self.labels["right"] = ", ".join(self.right_axis)
        self.colours = {name: QColor(PALETTE[i % len(PALETTE)]) for i, name in enumerate(self.series)}
        self.buffers: dict[str, RingBuffer] = {name: RingBuffer(capacity) for name in self.series}

    def add(self, series: str, t: float, value: float) -> None:
        """Buffer one point; it is drawn at the next tick."""
        self.buffers[series].append(t, value)
        self._dirty = True

    def clear(self) -> None:
        """Empty every series."""
        for buffer in self.buffers.values():
            buffer.clear()
        self._dirty = True

    def paintEvent(self, event: QPaintEvent) -> None:
        """Axes, then one polyline per series (thinned to about two points per pixel)."""
        self.paint_count += 1
        data = {name: self.buffers[name].arrays() for name in self.series}
        times = np.concatenate([x for x, _ in data.values()]) if data else np.empty(0)
        left = [y for name, (_, y) in data.items() if name not in self.right_axis]
        right = [y for name, (_, y) in data.items() if name in self.right_axis]
        x_range = nice_range(times)
        y_left = nice_range(np.concatenate(left) if left else np.empty(0), 1.05)
        y_right = nice_range(np.concatenate(right), 1.05) if right else None
        painter = QPainter(self)
        try:
            area = self._background(painter, x_range, y_left, y_right)
            if area.width() < 10 or area.height() < 10:
                return
            painter.setClipRect(area)
            for name, (x, y) in data.items():
                if x.size == 0:
                    continue
                span = y_right if name in self.right_axis and y_right else y_left
                stride = max(1, x.size // max(int(area.width() * 2), 1))
                xs = area.left() + (x[::stride] - x_range[0]) / (x_range[1] - x_range[0] or 1) * area.width()
                ys = area.bottom() - (y[::stride] - span[0]) / (span[1] - span[0] or 1) * area.height()
                # Two 1-pixel lines instead of one 2-pixel line: thin lines take the rasterizer's fast path.
                painter.setPen(QPen(self.colours[name], 0))
                if xs.size == 1:
                    painter.drawEllipse(QPointF(float(xs[0]), float(ys[0])), 2, 2)
                    continue
                points = [QPointF(a, b) for a, b in zip(xs.tolist(), ys.tolist(), strict=True)]
                painter.drawPolyline(QPolygonF(points))
                painter.translate(0, 1)
                painter.drawPolyline(QPolygonF(points))
                painter.translate(0, -1)
        finally:
            painter.end()

    def _decorate(self, painter: QPainter, area: QRectF) -> None:
        """The legend, when there are several series."""
        if len(self.series) < 2:
            return
        text, _ = self._colours()
        metrics = painter.fontMetrics()
        x, y = area.left() + 8, area.top() + 6
        for name in self.series:
            painter.fillRect(QRectF(x, y + metrics.height() / 2 - 1, 12, 3), self.colours[name])
            painter.setPen(text)
            painter.drawText(QPointF(x + 16, y + metrics.ascent()), name)
            y += metrics.height()


class LiveHistogram(_Chart):
    """A histogram of the values added so far (e.g. per-item latency), redrawn at ``hz``."""

    def __init__(self, title: str = "", *, x_label: str = "", bins: int = 30, capacity: int = 10000,
                 hz: float = 5.0, parent: QWidget | None = None) -> None:
        super().__init__(title, x_label, "count", hz, parent)
        self.bins = bins
        self.buffer = RingBuffer(capacity)
        self.colour = QColor(PALETTE[0])

    def add(self, value: float) -> None:
        """Buffer one value."""
        self.buffer.append(0.0, value)
        self._dirty = True

    def clear(self) -> None:
        """Forget every value."""
        self.buffer.clear()
        self._dirty = True

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Counts and bin edges over a nice range (bars only move when a value falls outside it)."""
        _, values = self.buffer.arrays()
        span = nice_range(values)
        counts, edges = np.histogram(values[np.isfinite(values)], bins=self.bins, range=span)
        return counts, edges

    def paintEvent(self, event: QPaintEvent) -> None:
        """Axes, then one bar per bin."""
        self.paint_count += 1
        counts, edges = self.counts()
        x_range = (float(edges[0]), float(edges[-1]))
        y_range = nice_range(counts.astype(float), 1.05)
        painter = QPainter(self)
        try:
            area = self._background(painter, x_range, y_range, None)
            if area.width() < 10 or area.height() < 10:
                return
            for count, low, high in zip(counts.tolist(), edges[:-1].tolist(), edges[1:].tolist(), strict=True):
                if count <= 0:
                    continue
                left = self._map(low, x_range, area.left(), area.right())
                right = self._map(high, x_range, area.left(), area.right())
                top = self._map(count, y_range, area.bottom(), area.top())
                painter.fillRect(QRectF(left + 0.5, top, max(right - left - 1, 1), area.bottom() - top), self.colour)
        finally:
            painter.end()
