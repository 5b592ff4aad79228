"""The classified images as a list model, drawn as a grid of thumbnails each with its top-5 probability bars."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QImage, QImageReader, QPainter, QPalette
from PySide6.QtWidgets import QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from app.engine_types import ClassifyRow

THUMB = 96  # thumbnail edge in pixels
CELL = QSize(270, 116)
ROW_ROLE = Qt.ItemDataRole.UserRole + 1

_Index = QModelIndex | QPersistentModelIndex
_WRAP_TOP_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop) | int(Qt.TextFlag.TextWordWrap)
_MIDDLE_LEFT = int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft)


@dataclass
class ClassifiedImage:
    """One image of a run: its top labels, or why it failed."""

    index: int
    path: str
    ok: bool
    top: list[tuple[str, float]] = field(default_factory=list)
    error: str = ""
    latency_ms: float | None = None
    times_ms: dict[str, float] = field(default_factory=dict)
    size: tuple[int, ...] = ()
    thumbnail: QImage | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)  # the engine's row, as exported

    @classmethod
    def from_partial(cls, row: ClassifyRow | Mapping[str, Any]) -> ClassifiedImage:
        """Build from a ``classify`` partial (``ok`` rows carry ``top``; failed rows carry ``error``)."""
        top = [(str(t["label"]), float(t["prob"])) for t in row.get("top", [])]
        latency = row.get("latency_ms")
        return cls(index=int(row.get("index", -1)), path=str(row.get("path", "")), ok=bool(row.get("ok")),
                   top=top, error=str(row.get("error") or ""),
                   latency_ms=None if latency is None else float(latency),
                   times_ms={k: float(v) for k, v in (row.get("times_ms") or {}).items()},
                   size=tuple(int(v) for v in row.get("size") or ()), raw=dict(row))

    @property
    def name(self) -> str:
        """The file name shown under the thumbnail."""
        return Path(self.path).name or self.path


class ResultsModel(QAbstractListModel):
    """Rows in arrival order; thumbnails are attached later, when the background loader has them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[ClassifiedImage] = []
        self._by_path: dict[str, list[int]] = {}

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        """Number of images (a flat list)."""
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """The file name, a tooltip with every score and stage time, or the row itself."""
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return row.name
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.ToolTipRole:
            return tooltip(row)
        return None

    def add(self, rows: Sequence[ClassifiedImage]) -> None:
        """Append rows in one insert (the page batches partials before calling this)."""
        if not rows:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        for offset, row in enumerate(rows):
            self._rows.append(row)
            self._by_path.setdefault(row.path, []).append(first + offset)
        self.endInsertRows()

    def set_thumbnails(self, images: Mapping[str, QImage]) -> None:
        """Attach loaded thumbnails and repaint those cells."""
        for path, image in images.items():
            for position in self._by_path.get(path, []):
                self._rows[position].thumbnail = image
                index = self.index(position)
                self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def clear(self) -> None:
        """Forget every row."""
        self.beginResetModel()
        self._rows.clear()
        self._by_path.clear()
        self.endResetModel()

    def rows(self) -> list[ClassifiedImage]:
        """All rows (for export)."""
        return list(self._rows)

    def row(self, position: int) -> ClassifiedImage:
        """The row at ``position``."""
        return self._rows[position]


def tooltip(row: ClassifiedImage) -> str:
    """Plain-text detail of one image."""
    if not row.ok:
        return f"{row.path}\n{row.error}"
    lines = [row.path]
    if row.size:
        lines.append("size " + "x".join(str(v) for v in row.size))
    lines += [f"{prob:6.1%}  {label}" for label, prob in row.top]
    if row.times_ms:
        lines.append(", ".join(f"{stage} {ms:.1f} ms" for stage, ms in row.times_ms.items()))
    if row.latency_ms is not None:
        lines.append(f"latency {row.latency_ms:.1f} ms")
    return "\n".join(lines)


class ResultDelegate(QStyledItemDelegate):
    """Paints a thumbnail on the left and the top-5 labels as horizontal probability bars on the right."""

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        """Every cell has the same size (the grid relies on it)."""
        return CELL

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        """Draw one cell with the palette's colours so light and dark themes both read well."""
        row = index.data(ROW_ROLE)
        if not isinstance(row, ClassifiedImage):
            return
        palette = option.palette  # type: ignore[attr-defined]
        rect: QRect = option.rect.adjusted(3, 3, -3, -3)  # type: ignore[attr-defined]
        selected = bool(option.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(palette.color(QPalette.ColorRole.Mid))
        painter.setBrush(palette.color(QPalette.ColorRole.Highlight if selected else QPalette.ColorRole.Base))
        painter.drawRoundedRect(rect, 6, 6)
        text_colour = palette.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        thumb_box = QRect(rect.left() + 6, rect.top() + (rect.height() - THUMB) // 2, THUMB, THUMB)
        self._paint_thumbnail(painter, thumb_box, row, palette)
        right = QRect(thumb_box.right() + 8, rect.top() + 4, rect.right() - thumb_box.right() - 14,
                      rect.height() - 8)
        metrics = QFontMetrics(painter.font())
        line = metrics.height()
        painter.setPen(text_colour)
        font = painter.font()
        font.setBold(True)
        painter.setFont(font)
        painter.drawText(QRect(right.left(), right.top(), right.width(), line), Qt.AlignmentFlag.AlignLeft,
                         metrics.elidedText(row.name, Qt.TextElideMode.ElideMiddle, right.width()))
        font.setBold(False)
        painter.setFont(font)
        if row.ok:
            self._paint_bars(painter, QRect(right.left(), right.top() + line + 2, right.width(),
                                            right.height() - line - 2), row, palette, text_colour)
        else:
            painter.setPen(QColor("#d64545"))
            painter.drawText(QRect(right.left(), right.top() + line + 2, right.width(), right.height() - line),
                             _WRAP_TOP_LEFT,
                             row.error or "could not be classified")
        painter.restore()

    @staticmethod
    def _paint_thumbnail(painter: QPainter, box: QRect, row: ClassifiedImage, palette: QPalette) -> None:
        painter.fillRect(box, palette.color(QPalette.ColorRole.AlternateBase))
        image = row.thumbnail
        if image is None or image.isNull():
            return
        scaled = image.size().scaled(box.size(), Qt.AspectRatioMode.KeepAspectRatio)
        target = QRect(box.left() + (box.width() - scaled.width()) // 2,
                       box.top() + (box.height() - scaled.height()) // 2, scaled.width(), scaled.height())
        painter.drawImage(target, image)

    @staticmethod
    def _paint_bars(painter: QPainter, area: QRect, row: ClassifiedImage, palette: QPalette,
                    text_colour: QColor) -> None:
        metrics = QFontMetrics(painter.font())
        slots = 5
        height = max(10, area.height() // slots)
        percent_width = metrics.horizontalAdvance("100.0%") + 4
        bar_width = max(10, area.width() - percent_width)
        bar_colour = QColor(palette.color(QPalette.ColorRole.Highlight))
        bar_colour.setAlpha(110)
        for rank, (label, prob) in enumerate(row.top[:slots]):
            top = area.top() + rank * height
            cell = QRect(area.left(), top + 1, bar_width, height - 2)
            painter.fillRect(QRect(cell.left(), cell.top(), max(1, round(cell.width() * prob)), cell.height()),
                             bar_colour)
            painter.setPen(text_colour)
            painter.drawText(cell.adjusted(3, 0, -3, 0), _MIDDLE_LEFT,
                             metrics.elidedText(label, Qt.TextElideMode.ElideRight, cell.width() - 6))
            painter.drawText(QRect(cell.right() + 2, top, percent_width, height),
                             int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight), f"{prob:.1%}")


def make_results_view(model: ResultsModel, parent: QWidget | None = None) -> QListView:
    """A wrapping grid of equal cells that scrolls smoothly through thousands of images."""
    view = QListView(parent)
    view.setModel(model)
    view.setItemDelegate(ResultDelegate(view))
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setFlow(QListView.Flow.LeftToRight)
    view.setWrapping(True)
    view.setResizeMode(QListView.ResizeMode.Adjust)
    view.setUniformItemSizes(True)
    view.setMovement(QListView.Movement.Static)
    view.setSpacing(2)
    view.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
    view.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
    view.setLayoutMode(QListView.LayoutMode.Batched)
    view.setBatchSize(200)
    return view


def load_thumbnail(path: str, edge: int = THUMB) -> QImage | None:
    """A small copy of the image, decoded at reduced size where the format allows (JPEG); None if unreadable."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and (size.width() > edge or size.height() > edge):
        reader.setScaledSize(size.scaled(QSize(edge, edge), Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        return None
    if image.width() > edge or image.height() > edge:
        image = image.scaled(edge, edge, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    return image


def load_thumbnails(paths: Iterable[str], state: Any, edge: int = THUMB) -> dict[str, QImage]:
    """Background work: thumbnails for ``paths`` (unreadable ones are skipped); stops when cancelled."""
    out: dict[str, QImage] = {}
    for path in paths:
        if state.cancelled:
            break
        image = load_thumbnail(path, edge)
        if image is not None:
            out[path] = image
    return out
