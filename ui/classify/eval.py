"""The evaluation view: accuracy, AUC and calibration figures, a confusion-matrix heat map, the reliability
diagram and the per-class scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QMouseEvent, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from ui.classify.reliability import ReliabilityDiagram

MAX_CELL = 56  # a small matrix stays compact instead of filling the panel


def row_normalised(matrix: Sequence[Sequence[float]]) -> list[list[float]]:
    """Each row divided by its sum (a row of zeros stays zeros), so colour means recall, not class size."""
    out = []
    for row in matrix:
        total = float(sum(row))
        out.append([float(v) / total if total else 0.0 for v in row])
    return out


class ConfusionHeatmap(QWidget):
    """Rows are true classes, columns predicted ones (plus "other"); cell colour is the row fraction."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.labels: list[str] = []
        self.columns: list[str] = []
        self.matrix: list[list[int]] = []
        self._fractions: list[list[float]] = []
        self.setMouseTracking(True)
        self.setMinimumSize(220, 200)

    def set_matrix(self, labels: Sequence[str], columns: Sequence[str], matrix: Sequence[Sequence[int]]) -> None:
        """Show a confusion matrix (``matrix[true][predicted]``)."""
        self.labels, self.columns = list(labels), list(columns)
        self.matrix = [[int(v) for v in row] for row in matrix]
        self._fractions = row_normalised(self.matrix)
        self.update()

    def clear(self) -> None:
        """Show nothing."""
        self.set_matrix([], [], [])

    def sizeHint(self) -> QSize:
        """Room for a small matrix with labels."""
        return QSize(420, 360)

    def _geometry(self) -> tuple[QRect, int, int]:
        metrics = QFontMetrics(self.font())
        longest = max((metrics.horizontalAdvance(t) for t in self.labels), default=0)
        margin_left = min(longest + 10, self.width() // 3) if self._show_text(longest) else 8
        margin_top = metrics.height() * 2 + 6
        area = self.rect().adjusted(margin_left, margin_top, -8, -8)
        rows, cols = max(1, len(self.labels)), max(1, len(self.columns))
        cell = max(1, min(area.width() // cols, area.height() // rows, MAX_CELL))
        return QRect(area.left(), area.top(), cell * cols, cell * rows), cell, margin_left

    def _show_text(self, _longest: int = 0) -> bool:
        return len(self.labels) <= 40

    def paintEvent(self, event: QPaintEvent) -> None:
        """Draw cells, counts (when they fit) and axis labels."""
        painter = QPainter(self)
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.WindowText)
        if not self.matrix:
            painter.setPen(text)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Evaluate a labelled folder to see\n"
                                                                         "its confusion matrix here")
            return
        grid, cell, margin_left = self._geometry()
        metrics = QFontMetrics(self.font())
        painter.setPen(text)
        painter.drawText(QRect(grid.left(), 0, grid.width(), metrics.height()), Qt.AlignmentFlag.AlignHCenter,
                         "predicted →")
        base = palette.color(QPalette.ColorRole.Base)
        hot = QColor(200, 60, 40)
        good = QColor(40, 140, 80)
        for r, row in enumerate(self._fractions):
            for c, fraction in enumerate(row):
                colour = _mix(base, good if r == c else hot, fraction)
                rect = QRect(grid.left() + c * cell, grid.top() + r * cell, cell, cell)
                painter.fillRect(rect, colour)
                if cell >= metrics.height() + 4 and self.matrix[r][c]:
                    painter.setPen(QColor("white") if fraction > 0.55 else text)
                    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(self.matrix[r][c]))
        painter.setPen(palette.color(QPalette.ColorRole.Mid))
        painter.drawRect(grid.adjusted(0, 0, -1, -1))
        if not self._show_text():
            return
        painter.setPen(text)
        for r, label in enumerate(self.labels):
            rect = QRect(2, grid.top() + r * cell, margin_left - 6, cell)
            painter.drawText(rect, int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight),
                             metrics.elidedText(label, Qt.TextElideMode.ElideRight, rect.width()))
        for c, label in enumerate(self.columns):
            rect = QRect(grid.left() + c * cell, metrics.height() + 2, cell, metrics.height())
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter,
                             metrics.elidedText(label, Qt.TextElideMode.ElideRight, cell))

    def cell_at(self, x: int, y: int) -> tuple[int, int] | None:
        """(true row, predicted column) under a point, or None."""
        if not self.matrix:
            return None
        grid, cell, _ = self._geometry()
        if not grid.contains(x, y):
            return None
        return (y - grid.top()) // cell, (x - grid.left()) // cell

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        """Tooltip with the pair of classes and the count under the pointer."""
        hit = self.cell_at(int(event.position().x()), int(event.position().y()))
        if hit is None:
            QToolTip.hideText()
            return
        r, c = hit
        if r < len(self.matrix) and c < len(self.matrix[r]):
            QToolTip.showText(event.globalPosition().toPoint(),
                              f"true {self.labels[r]}, predicted {self.columns[c]}: {self.matrix[r][c]} "
                              f"({self._fractions[r][c]:.0%} of the row)", self)


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    t = max(0.0, min(1.0, t))
    return QColor(round(a.red() + (b.red() - a.red()) * t), round(a.green() + (b.green() - a.green()) * t),
                  round(a.blue() + (b.blue() - a.blue()) * t))


def summary_text(result: Mapping[str, Any]) -> str:
    """One paragraph: accuracy, macro F1, counts and how folders were matched to classes."""
    macro = result.get("macro") or {}
    parts = [f"<b>top-1 {float(result.get('top1', 0)):.1%}</b>", f"top-5 {float(result.get('top5', 0)):.1%}",
             f"macro F1 {float(macro.get('f1', 0)):.3f}",
             f"{int(result.get('evaluated', 0))} images in {len(result.get('classes') or [])} classes"]
    parts += probability_parts(result.get("probability") or {})
    if result.get("failed"):
        parts.append(f"<span style='color:#d64545'>{int(result['failed'])} unreadable</span>")
    line = " · ".join(parts)
    details = [str(result.get("mapping") or "")]
    if result.get("backend"):
        details.append(f"{result.get('backend')} {result.get('precision', '')} on {result.get('device', '')}")
    agreement = result.get("agreement") or {}
    text = line + "<br><small>" + " · ".join(d for d in details if d) + "</small>"
    if isinstance(agreement, Mapping) and agreement.get("rows"):
        text += "<br><small>agreement with " + str(agreement.get("reference", "the fp32 reference")) + ": " + \
            "; ".join(_agreement_cell(row) for row in agreement["rows"]) + "</small>"
    return text


def probability_parts(scores: Mapping[str, Any]) -> list[str]:
    """AUC-ROC / AUC-PR (macro, one-vs-rest), ECE and top-3, where the evaluation measured them."""
    parts = []
    if scores.get("auc_roc_macro") is not None:
        parts.append(f"AUC-ROC {float(scores['auc_roc_macro']):.4f}")
    if scores.get("auc_pr_macro") is not None:
        parts.append(f"AUC-PR {float(scores['auc_pr_macro']):.4f}")
    if scores.get("ece") is not None:
        parts.append(f"ECE {float(scores['ece']):.4f}")
    topk = scores.get("topk_accuracy") or {}
    if "3" in topk:
        parts.append(f"top-3 {float(topk['3']):.1%}")
    return parts


def _agreement_cell(row: Mapping[str, Any]) -> str:
    name = f"{row.get('backend')} {row.get('precision')}"
    if row.get("error"):
        return f"{name}: {row['error']}"
    return f"{name} top-1 {float(row.get('top1_agreement', 0)):.0%}, max Δp {float(row.get('max_prob_diff', 0)):.1e}"


class EvalPanel(QWidget):
    """Accuracy line, heat map and per-class table of one evaluation."""

    COLUMNS = ("class", "model label", "precision", "recall", "F1", "AUC-ROC", "AUC-PR", "images")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: dict[str, Any] | None = None
        layout = QVBoxLayout(self)
        self.summary = QLabel("No evaluation yet. Use <b>Evaluate folder…</b> with a folder holding one "
                              "sub-folder per class (named after the model's classes).")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.summary)
        split = QSplitter(Qt.Orientation.Horizontal)
        plots = QSplitter(Qt.Orientation.Vertical)
        self.heatmap = ConfusionHeatmap()
        plots.addWidget(self.heatmap)
        self.reliability = ReliabilityDiagram()
        plots.addWidget(self.reliability)
        plots.setStretchFactor(0, 3)
        plots.setStretchFactor(1, 2)
        split.addWidget(plots)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setSortingEnabled(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        split.addWidget(self.table)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        layout.addWidget(split, 1)

    def show_progress(self, evaluated: int, correct: int, failed: int) -> None:
        """Running accuracy while the folder streams in."""
        accuracy = correct / evaluated if evaluated else 0.0
        extra = f", {failed} unreadable" if failed else ""
        self.summary.setText(f"evaluating… {evaluated} images, running top-1 {accuracy:.1%}{extra}")

    def show_result(self, result: Mapping[str, Any]) -> None:
        """Fill everything from an ``eval`` result."""
        self.result = dict(result)
        self.summary.setText(summary_text(result))
        confusion = result.get("confusion") or {}
        self.heatmap.set_matrix(confusion.get("labels", []), confusion.get("columns", []),
                                confusion.get("matrix", []))
        scores = result.get("probability") or {}
        reliability = scores.get("reliability") or {}
        self.reliability.set_reliability(reliability.get("bins") or [], scores.get("ece"))
        auc = {a.get("class"): a for a in scores.get("auc_per_class") or []}
        rows = result.get("per_class") or []
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            areas = auc.get(row.get("class")) or {}
            values: list[Any] = [row.get("class"), row.get("model_label"), row.get("precision"), row.get("recall"),
                                 row.get("f1"), areas.get("auc_roc"), areas.get("auc_pr"), row.get("support")]
            for c, value in enumerate(values):
                item = QTableWidgetItem()
                if isinstance(value, float) and c < 7:
                    item.setData(Qt.ItemDataRole.DisplayRole, round(value, 3))
                elif isinstance(value, float):
                    item.setData(Qt.ItemDataRole.DisplayRole, int(value))
                else:
                    item.setData(Qt.ItemDataRole.DisplayRole, "" if value is None else str(value))
                self.table.setItem(r, c, item)
        self.table.setSortingEnabled(True)

    def clear(self) -> None:
        """Forget the shown evaluation."""
        self.result = None
        self.heatmap.clear()
        self.reliability.clear()
        self.table.setRowCount(0)
