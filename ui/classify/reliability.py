"""The reliability diagram of an evaluation: accuracy per confidence bin against perfect calibration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QWidget


class ReliabilityDiagram(QWidget):
    """Bars of accuracy per equal-width confidence bin, the diagonal, and each bin's share of the images."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bins: list[dict[str, Any]] = []
        self.ece: float | None = None
        self.setMinimumSize(200, 160)

    def set_reliability(self, bins: Sequence[Mapping[str, Any]], ece: float | None) -> None:
        """Show the bins of an ``eval`` result's ``probability.reliability``."""
        self.bins = [dict(b) for b in bins]
        self.ece = ece
        self.update()

    def clear(self) -> None:
        """Show nothing."""
        self.set_reliability([], None)

    def sizeHint(self) -> QSize:
        """A square-ish plot."""
        return QSize(320, 260)

    def paintEvent(self, event: QPaintEvent) -> None:
        """Axes, share bars, accuracy bars with their gap to the mean confidence, and the diagonal."""
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.WindowText)
        metrics = QFontMetrics(self.font())
        if not self.bins:
            painter.setPen(text)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "The reliability diagram appears\n"
                                                                         "after an evaluation")
            return
        plot = QRectF(self.rect()).adjusted(metrics.horizontalAdvance("1.0") + 10, metrics.height() + 8, -8,
                                            -(metrics.height() + 8))
        total = max(sum(int(b["count"]) for b in self.bins), 1)

        def at(x: float, y: float) -> QPointF:
            return QPointF(plot.left() + x * plot.width(), plot.bottom() - y * plot.height())

        for b in self.bins:
            left, right = at(b["lower"], 0).x() + 1, at(b["upper"], 0).x() - 1
            share = int(b["count"]) / total
            painter.fillRect(QRectF(left, plot.bottom() - share * plot.height() * 0.25, right - left,
                                    share * plot.height() * 0.25), palette.color(QPalette.ColorRole.Midlight))
            if b.get("accuracy") is None:
                continue
            top = at(0, float(b["accuracy"])).y()
            painter.fillRect(QRectF(left, top, right - left, plot.bottom() - top), QColor(70, 110, 180, 190))
            expected = at(0, float(b["confidence"])).y()
            painter.setPen(QPen(QColor(200, 60, 40), 1.5))
            painter.drawRect(QRectF(left, min(top, expected), right - left, abs(expected - top)))
        painter.setPen(QPen(palette.color(QPalette.ColorRole.Mid), 1.5, Qt.PenStyle.DashLine))
        painter.drawLine(at(0, 0), at(1, 1))
        painter.setPen(text)
        painter.drawRect(plot)
        for value in (0.0, 0.5, 1.0):
            painter.drawText(QRectF(0, at(0, value).y() - metrics.height() / 2, plot.left() - 4, metrics.height()),
                             int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), f"{value:.1f}")
            painter.drawText(QRectF(at(value, 0).x() - 20, plot.bottom() + 2, 40, metrics.height()),
                             Qt.AlignmentFlag.AlignHCenter, f"{value:.1f}")
        title = "accuracy vs confidence" + (f" · ECE {self.ece:.4f}" if self.ece is not None else "")
        painter.drawText(QRectF(plot.left(), 0, plot.width(), metrics.height() + 4), Qt.AlignmentFlag.AlignHCenter,
                         title)
