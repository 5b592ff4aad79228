"""The network drawn in a QGraphicsScene: nodes with posterior bars, curved arcs, zoom and pan.

A click on a state row (press and release without dragging) sets hard evidence; dragging moves the node;
the context menu offers soft evidence and clearing. Items are not QObjects, so they report through the
scene's signals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import QLineF, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPolygonF,
    QStaticText,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsPolygonItem,
    QGraphicsScene,
    QGraphicsSceneContextMenuEvent,
    QGraphicsSceneMouseEvent,
    QGraphicsView,
    QMenu,
    QStyleOptionGraphicsItem,
    QWidget,
)

NODE_WIDTH = 176.0
HEADER = 22.0
ROW = 16.0
PAD = 4.0
LABEL_SHARE = 0.42  # of the inner width used by state names; the rest is the bar and the percentage
HARD_COLOUR = QColor(230, 126, 34)
SOFT_COLOUR = QColor(155, 89, 182)
BAR_COLOUR = QColor(52, 152, 219, 200)
MPE_COLOUR = QColor(46, 160, 67)
TEXT_LOD = 0.45  # below this zoom nodes are drawn without text
READABLE_ZOOM = 0.8  # Fit never goes below this: state names and percentages stay legible; the rest scrolls
HINT = "wheel: zoom · drag the background: pan · click a state: evidence · Fit: readable size"
_RIGHT_MIDDLE = int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight)
_PCT_WIDTH: dict[str, float] = {}  # font key -> width of "100.0%"


def node_height(states: int) -> float:
    """Height of a node box with ``states`` rows."""
    return HEADER + states * ROW + PAD


class NetworkScene(QGraphicsScene):
    """Holds the items and turns their clicks into evidence requests."""

    state_clicked = Signal(str, str)  # node, state: hard evidence (the page toggles it)
    soft_requested = Signal(str)  # node: open the soft-evidence dialog
    clear_requested = Signal(str)  # node: remove its evidence
    target_requested = Signal(str)  # node: make it the VOI target

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.nodes: dict[str, NodeItem] = {}
        self.edges: list[EdgeItem] = []
        self.stale = False

    def build(self, nodes: Sequence[Mapping[str, Any]], edges: Sequence[Sequence[str]],
              positions: Mapping[str, tuple[float, float]]) -> None:
        """Replace the drawing: ``nodes`` are ``{"name", "states"}`` dicts, ``edges`` (parent, child) pairs."""
        self.clear()
        self.nodes, self.edges = {}, []
        for index, spec in enumerate(nodes):
            item = NodeItem(str(spec["name"]), [str(s) for s in spec["states"]])
            x, y = positions.get(item.name, (index * (NODE_WIDTH + 20), 0.0))
            item.setPos(x, y)
            self.addItem(item)
            self.nodes[item.name] = item
        for parent, child in edges:
            if parent in self.nodes and child in self.nodes:
                edge = EdgeItem(self.nodes[parent], self.nodes[child])
                self.addItem(edge)
                self.edges.append(edge)
        self.setSceneRect(self.itemsBoundingRect().adjusted(-200, -200, 200, 200))

    def set_posteriors(self, posteriors: Mapping[str, Mapping[str, float]], stale: bool = False) -> None:
        """New probabilities for the nodes named (others keep theirs); only visible changes repaint."""
        # A node is repainted when a bar moves by half a pixel at the current zoom or its text changes;
        # zooming re-renders every node anyway (device-coordinate cache), so nothing stays out of date.
        views = self.views()
        scale = views[0].transform().m11() if views else 1.0
        threshold = 0.0005 if scale >= TEXT_LOD else max(0.0005, 0.5 / (NODE_WIDTH * max(scale, 1e-3)))
        for name, probs in posteriors.items():
            item = self.nodes.get(name)
            if item is not None:
                item.set_probabilities([float(probs.get(s, 0.0)) for s in item.states], threshold)
        self.set_stale(stale)

    def set_stale(self, stale: bool) -> None:
        """Veil the graph while an answer is late (one overlay instead of repainting every node)."""
        if stale != self.stale:
            self.stale = stale
            self.update()

    def set_evidence(self, hard: Mapping[str, str], soft: Mapping[str, Sequence[float]]) -> None:
        """Show which nodes are observed, and how."""
        for name, item in self.nodes.items():
            item.set_evidence(hard.get(name), soft.get(name))

    def set_highlight(self, assignment: Mapping[str, str]) -> None:
        """Outline the state each node takes in an MPE/MAP answer (empty to clear)."""
        for name, item in self.nodes.items():
            item.set_highlight(assignment.get(name))


class NodeItem(QGraphicsItem):
    """A node: its name, then one row per state with the posterior as a bar and a percentage."""

    def __init__(self, name: str, states: list[str]) -> None:
        super().__init__()
        self.name = name
        self.states = states
        self.probs: list[float] = []
        self.hard: str | None = None
        self.soft: list[float] | None = None
        self.highlight: str | None = None
        self.edges: list[EdgeItem] = []
        self._press: QPointF | None = None
        self._bounds = QRectF(-1, -1, NODE_WIDTH + 2, node_height(len(states)) + 2)  # asked for very often
        self._static: tuple[QFont, QFont, QStaticText, list[QStaticText], float] | None = None
        self._static_key: tuple[str, str | None, bool] | None = None
        self._small_title: tuple[QFont, str] | None = None
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsMovable | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
                      | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setAcceptHoverEvents(True)
        self.setToolTip(f"{name}: click a state to observe it; right-click for soft evidence")
        self.setZValue(1)

    def boundingRect(self) -> QRectF:
        """The box (plus a pixel for the pen)."""
        return self._bounds

    def state_at(self, point: QPointF) -> str | None:
        """The state whose row contains ``point`` (item coordinates), if any."""
        row = int((point.y() - HEADER) // ROW)
        if point.y() < HEADER or not 0 <= row < len(self.states):
            return None
        return self.states[row]

    def row_rect(self, state: str) -> QRectF:
        """The row of ``state`` in item coordinates."""
        row = self.states.index(state)
        return QRectF(0, HEADER + row * ROW, NODE_WIDTH, ROW)

    def set_probabilities(self, probs: list[float], threshold: float = 0.0005) -> None:
        """Show new posteriors; the node is repainted only when one moves by ``threshold`` or more."""
        changed = len(probs) != len(self.probs) or \
            any(abs(a - b) >= threshold for a, b in zip(probs, self.probs, strict=False))
        self.probs = probs
        if changed:
            self.update()

    def set_evidence(self, hard: str | None, soft: Sequence[float] | None) -> None:
        """Mark the node as observed (hard: one state; soft: likelihood weights)."""
        soft_list = list(soft) if soft is not None else None
        if (hard, soft_list) != (self.hard, self.soft):
            self.hard, self.soft = hard, soft_list
            self.update()

    def set_highlight(self, state: str | None) -> None:
        """Outline one state (from MPE/MAP)."""
        if state != self.highlight:
            self.highlight = state
            self.update()

    def _texts(self, font: QFont) -> tuple[QFont, QFont, QStaticText, list[QStaticText], float]:
        """Fonts and pre-laid-out title and state names (computed once: text layout dominates painting)."""
        if self._static is None or self._static_key != (font.key(), self.hard, self.soft is not None):
            bold = QFont(font)
            bold.setBold(True)
            small = QFont(font)
            small.setPointSizeF(max(6.0, font.pointSizeF() * 0.9))
            title = self.name + (f" = {self.hard}" if self.hard is not None else "  (soft)" if self.soft is not None
                                 else "")
            title_text = QStaticText(QFontMetricsF(bold).elidedText(title, Qt.TextElideMode.ElideRight,
                                                                   NODE_WIDTH - 2 * PAD - 2))
            title_text.prepare(font=bold)
            metrics = QFontMetricsF(small)
            label_w = (NODE_WIDTH - 2 * PAD) * LABEL_SHARE
            labels = []
            for state in self.states:
                label = QStaticText(metrics.elidedText(state, Qt.TextElideMode.ElideRight, label_w - 2))
                label.prepare(font=small)
                labels.append(label)
            self._static = (bold, small, title_text, labels, metrics.height())
            self._static_key = (font.key(), self.hard, self.soft is not None)
        return self._static

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        """Box, title and bars, in the palette's colours."""
        palette = QApplication.palette()
        text = palette.color(QPalette.ColorRole.Text)
        height = node_height(len(self.states))
        box = QRectF(0, 0, NODE_WIDTH, height)
        observed = self.hard is not None or self.soft is not None
        border = HARD_COLOUR if self.hard is not None else SOFT_COLOUR if self.soft is not None else \
            palette.color(QPalette.ColorRole.Mid)
        if QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform()) < TEXT_LOD:
            self._paint_small(painter, palette, border, observed)
            return
        bold, small, title, labels, text_h = self._texts(painter.font())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(palette.color(QPalette.ColorRole.Highlight) if self.isSelected() else border,
                            2.5 if observed or self.isSelected() else 1.0))
        painter.setBrush(palette.color(QPalette.ColorRole.Base))
        painter.drawRoundedRect(box, 5, 5)
        header_fill = QColor(border)
        header_fill.setAlpha(60 if observed else 35)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(header_fill)
        painter.drawRoundedRect(QRectF(1, 1, NODE_WIDTH - 2, HEADER - 1), 4, 4)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setPen(text)
        painter.setFont(bold)
        painter.drawStaticText(QPointF(PAD + 2, (HEADER - QFontMetricsF(bold).height()) / 2), title)
        painter.setFont(small)
        inner = NODE_WIDTH - 2 * PAD
        label_w = inner * LABEL_SHARE
        pct_w = _PCT_WIDTH.get(small.key()) or _PCT_WIDTH.setdefault(
            small.key(), QFontMetricsF(small).horizontalAdvance("100.0%") + 2)
        bar_w = inner - label_w - pct_w - 4
        bar_colour = BAR_COLOUR
        back = palette.color(QPalette.ColorRole.AlternateBase)
        offset = (ROW - text_h) / 2
        for row, label in enumerate(labels):
            top = HEADER + row * ROW
            prob = self.probs[row] if row < len(self.probs) else 0.0
            painter.drawStaticText(QPointF(PAD, top + offset), label)
            bar_back = QRectF(PAD + label_w + 2, top + 3, bar_w, ROW - 6)
            painter.fillRect(bar_back, back)
            colour = HARD_COLOUR if self.states[row] == self.hard else bar_colour
            painter.fillRect(QRectF(bar_back.left(), bar_back.top(), bar_w * max(0.0, min(1.0, prob)),
                                    bar_back.height()), colour)
            if self.states[row] == self.highlight:
                painter.setPen(QPen(MPE_COLOUR, 2))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(QRectF(1, top + 1, NODE_WIDTH - 2, ROW - 2))
                painter.setPen(text)
            painter.drawText(QRectF(bar_back.right() + 2, top, pct_w, ROW), _RIGHT_MIDDLE,
                             f"{prob:.1%}" if self.probs else "…")
        if self.soft is not None:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(SOFT_COLOUR, 1, Qt.PenStyle.DashLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(box.adjusted(2, 2, -2, -2), 4, 4)

    def _paint_small(self, painter: QPainter, palette: QPalette, border: QColor, observed: bool) -> None:
        """Zoomed far out: box, a large name and bars (state names and percentages would be unreadable)."""
        height = node_height(len(self.states))
        painter.setPen(QPen(border, 3.0 if observed else 1.0))
        painter.setBrush(palette.color(QPalette.ColorRole.Base))
        painter.drawRect(QRectF(0, 0, NODE_WIDTH, height))
        header_fill = QColor(border)
        header_fill.setAlpha(90 if observed else 50)
        painter.fillRect(QRectF(1, 1, NODE_WIDTH - 2, HEADER - 2), header_fill)
        if self._small_title is None:
            font = QFont(painter.font())
            font.setBold(True)
            font.setPixelSize(int(HEADER - 5))
            title = QFontMetricsF(font).elidedText(self.name, Qt.TextElideMode.ElideRight, NODE_WIDTH - 2 * PAD)
            self._small_title = (font, title)
        painter.setFont(self._small_title[0])
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        painter.drawText(QRectF(PAD, 0, NODE_WIDTH - 2 * PAD, HEADER), Qt.AlignmentFlag.AlignVCenter,
                         self._small_title[1])
        bar_colour = BAR_COLOUR
        for row, prob in enumerate(self.probs):
            colour = HARD_COLOUR if self.states[row] == self.hard else bar_colour
            painter.fillRect(QRectF(PAD, HEADER + row * ROW + 2, (NODE_WIDTH - 2 * PAD) * max(0.0, min(1.0, prob)),
                                    ROW - 4), colour)

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:
        """Keep the arcs attached while the node is dragged."""
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            for edge in self.edges:
                edge.adjust()
        return super().itemChange(change, value)

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        """Remember where a possible click started."""
        self._press = event.scenePos() if event.button() == Qt.MouseButton.LeftButton else None
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        """A release near the press on a state row is a click: ask for that state as evidence."""
        press, self._press = self._press, None
        super().mouseReleaseEvent(event)
        if press is None or QLineF(press, event.scenePos()).length() > 4:
            return
        state = self.state_at(event.pos())
        scene = self.scene()
        if state is not None and isinstance(scene, NetworkScene):
            scene.state_clicked.emit(self.name, state)

    def contextMenuEvent(self, event: QGraphicsSceneContextMenuEvent) -> None:
        """Soft evidence, clearing, VOI target."""
        scene = self.scene()
        if not isinstance(scene, NetworkScene):
            return
        menu = QMenu()
        soft = menu.addAction("Set soft evidence…")
        clear = menu.addAction("Clear evidence")
        clear.setEnabled(self.hard is not None or self.soft is not None)
        menu.addSeparator()
        target = menu.addAction("Rank what to observe next for this node")
        chosen = menu.exec(event.screenPos())
        if chosen is soft:
            scene.soft_requested.emit(self.name)
        elif chosen is clear:
            scene.clear_requested.emit(self.name)
        elif chosen is target:
            scene.target_requested.emit(self.name)


class EdgeItem(QGraphicsPathItem):
    """An arc from the bottom of the parent to the top of the child, with an arrow head.

    Both parts are plain Qt items painted in C++ (no Python paint override): on networks with a thousand
    arcs a Python ``paint`` per arc per repaint is what makes the view stall.
    """

    def __init__(self, parent: NodeItem, child: NodeItem) -> None:
        super().__init__()
        self.parent_node, self.child_node = parent, child
        parent.edges.append(self)
        child.edges.append(self)
        colour = QApplication.palette().color(QPalette.ColorRole.Mid)
        self.setPen(QPen(colour, 1.3))
        self.setBrush(Qt.BrushStyle.NoBrush)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)  # clicks fall through to the view (pan)
        self.setZValue(0)
        self.head = QGraphicsPolygonItem(self)
        self.head.setPen(QPen(colour, 1.0))
        self.head.setBrush(colour)
        self.head.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.adjust()

    def adjust(self) -> None:
        """Redraw after either end moved."""
        a, b = self.parent_node, self.child_node
        start = a.pos() + QPointF(NODE_WIDTH / 2, node_height(len(a.states)))
        end = b.pos() + QPointF(NODE_WIDTH / 2, 0)
        if end.y() < start.y():  # child above parent (after a drag): join the nearer sides
            start = a.pos() + QPointF(NODE_WIDTH / 2, 0)
            end = b.pos() + QPointF(NODE_WIDTH / 2, node_height(len(b.states)))
        path = QPainterPath(start)
        bend = (end.y() - start.y()) / 2
        path.cubicTo(start + QPointF(0, bend), end - QPointF(0, bend), end)
        self.setPath(path)
        tip = QLineF(path.pointAtPercent(0.97), end)
        if tip.length() > 0:
            tip.setLength(9)
            left, right = QLineF(tip), QLineF(tip)
            left.setAngle(tip.angle() + 155)
            right.setAngle(tip.angle() - 155)
            self.head.setPolygon(QPolygonF([end, end + QPointF(left.dx(), left.dy()),
                                            end + QPointF(right.dx(), right.dy())]))


class NetworkView(QGraphicsView):
    """Wheel zooms around the pointer; dragging the background pans; a hint line says so, with the zoom."""

    def __init__(self, scene: NetworkScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.show_hint = True
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)

    def hint_text(self) -> str:
        """The line at the bottom of the view: the zoom and how to change it."""
        return f"{self.transform().m11():.0%} · {HINT}"

    def drawForeground(self, painter: QPainter, rect: QRectF | QRect) -> None:
        """The hint line, and a light veil with a note while the shown posteriors are out of date."""
        scene = self.scene()
        if self.show_hint and isinstance(scene, NetworkScene) and scene.nodes:
            self._draw_hint(painter)
        if not isinstance(scene, NetworkScene) or not scene.stale:
            return
        painter.save()
        painter.resetTransform()
        area = QRectF(self.viewport().rect())
        veil = QColor(QApplication.palette().color(QPalette.ColorRole.Base))
        veil.setAlpha(110)
        painter.fillRect(area, veil)
        painter.setPen(QApplication.palette().color(QPalette.ColorRole.Text))
        painter.drawText(area.adjusted(10, 8, -10, -8), int(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignRight),
                         "updating posteriors…")
        painter.restore()

    def _draw_hint(self, painter: QPainter) -> None:
        painter.save()
        painter.resetTransform()
        palette = QApplication.palette()
        metrics = QFontMetricsF(painter.font())
        text = metrics.elidedText(self.hint_text(), Qt.TextElideMode.ElideRight, self.viewport().width() - 24)
        box = QRectF(6, self.viewport().height() - metrics.height() - 10, metrics.horizontalAdvance(text) + 12,
                     metrics.height() + 6)
        back = QColor(palette.color(QPalette.ColorRole.Base))
        back.setAlpha(220)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(back)
        painter.drawRoundedRect(box, 4, 4)
        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(box, int(Qt.AlignmentFlag.AlignCenter), text)
        painter.restore()

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        """Scroll, and redraw the hint where the viewport's bottom now is."""
        super().scrollContentsBy(dx, dy)
        if self.show_hint:
            self.viewport().update()

    def wheelEvent(self, event: QWheelEvent) -> None:
        """Zoom by 15% per wheel notch, within 5%..400%."""
        steps = event.angleDelta().y() / 120
        if not steps:
            return
        self.zoom(1.15 ** steps)

    def zoom(self, factor: float) -> None:
        """Scale the view, clamped to a usable range."""
        current = self.transform().m11()
        target = max(0.05, min(4.0, current * factor))
        self.scale(target / current, target / current)
        self.viewport().update()  # the hint shows the new zoom

    def fit(self) -> None:
        """Show the whole network when it fits at a readable size; else the top of it at that size.

        Never magnified past 100% nor shrunk below :data:`READABLE_ZOOM` (where state names and percentages
        are still legible): a large network scrolls, and the wheel zooms out to an overview.
        """
        scene = self.scene()
        if scene is None or not scene.items():
            return
        bounds = scene.itemsBoundingRect().adjusted(-20, -20, 20, 20)
        self.fitInView(bounds, Qt.AspectRatioMode.KeepAspectRatio)
        scale = self.transform().m11()
        if READABLE_ZOOM <= scale <= 1.0:
            return
        zoom = 1.0 if scale > 1.0 else READABLE_ZOOM
        self.resetTransform()
        self.scale(zoom, zoom)
        if scale > 1.0:
            self.centerOn(bounds.center())
            return
        # The roots first: the top-left of the network (centred across when it is narrower than the view).
        half_width, half_height = self.viewport().width() / zoom / 2, self.viewport().height() / zoom / 2
        x = bounds.center().x() if bounds.width() <= 2 * half_width else bounds.left() + half_width
        self.centerOn(QPointF(x, bounds.top() + half_height))
