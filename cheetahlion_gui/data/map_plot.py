"""The dataset map's drawing: every photo a point, coloured by class; hover, click and lasso.

Drawn for 10,000 photos at interactive speed (docs/benchmarks.md, "Dataset map"): all photos
are one `ScatterPlotItem` in pixel mode with its symbol cache, so a repaint is a single
`drawPixmapFragments` call however many points there are; its brushes are one shared QBrush
per class, so the cache holds one small picture per class. Flagged photos are a second item
(rings: a pen, no brush), the selection a third, and the links between copies one line item
drawn in pairs. Copies look alike, so they often lie on top of each other and their link
is only a few pixels long: each photo with a copy also gets a dark square around it. The
items are filled with whole numpy arrays, one `setData` each.

Hovering and clicking find the nearest point in screen pixels with one numpy expression
(pyqtgraph's own hover test builds an object per point). Dragging pans; with the Select tool
(or Shift held) a drag draws a lasso and selects the points inside it, Ctrl adds to the
selection. Axes are hidden: the two directions of a PCA have no units a user could read.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from pyqtgraph.GraphicsScene.mouseEvents import MouseClickEvent, MouseDragEvent
from PySide6.QtCore import QEvent, QPointF, Qt, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsPathItem, QWidget

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f", "#aec7e8")
"""Class colours (matplotlib's tab10 without its red, which marks flagged photos)."""
FLAG_COLOUR = "#d62728"
LINK_COLOUR = "#333333"
"""Dark: the pale grey it was vanished against the points and the white background."""
POINT_SIZE = 7
COPY_SIZE = 13
RING_SIZE = 15
CHOSEN_SIZE = 11
NEAR_PIXELS = 7
"""How close (in screen pixels) the pointer must be to a point to hover or click it."""


def class_colour(label: int) -> str:
    return PALETTE[label % len(PALETTE)]


def inside(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Which of `points` (N, 2) lie inside `polygon` (M, 2) by the even-odd rule: one
    vectorised pass per edge, so a lasso of a few hundred vertices over 10,000 points takes
    milliseconds."""
    found = np.zeros(len(points), dtype=bool)
    if len(polygon) < 3:
        return found
    x, y = points[:, 0], points[:, 1]
    for (x0, y0), (x1, y1) in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        if y0 == y1:
            continue
        crosses = (y0 > y) != (y1 > y)
        found ^= crosses & (x < x0 + (y - y0) * (x1 - x0) / (y1 - y0))
    return found


class LassoViewBox(pg.ViewBox):
    """A ViewBox whose left drag draws a lasso instead of panning while `selecting` (or
    with Shift held)."""

    lassoed = Signal(object, bool)
    """(the lasso's (M, 2) vertices in data coordinates, whether Ctrl added to the selection)."""

    def __init__(self) -> None:
        super().__init__()
        self.selecting = False
        self._vertices: list[QPointF] = []
        self._outline = QGraphicsPathItem()
        pen = QPen(QColor("#222"), 1.5, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self._outline.setPen(pen)
        self._outline.setBrush(QBrush(QColor(30, 30, 30, 25)))
        self._outline.setZValue(1000)
        self._outline.setVisible(False)
        self.addItem(self._outline, ignoreBounds=True)

    def mouseDragEvent(self, ev: MouseDragEvent, axis: int | None = None) -> None:
        modifiers = ev.modifiers()
        lasso = (ev.button() == Qt.MouseButton.LeftButton and axis is None
                 and (self.selecting or bool(modifiers & Qt.KeyboardModifier.ShiftModifier)))
        if not lasso:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if ev.isStart():
            self._vertices = [self.mapToView(ev.buttonDownPos())]
        self._vertices.append(self.mapToView(ev.pos()))
        path = QPainterPath()
        path.addPolygon(QPolygonF(self._vertices))
        path.closeSubpath()
        self._outline.setPath(path)
        self._outline.setVisible(not ev.isFinish())
        if ev.isFinish():
            vertices = np.array([(p.x(), p.y()) for p in self._vertices], dtype=np.float64)
            self.lassoed.emit(vertices, bool(modifiers & Qt.KeyboardModifier.ControlModifier))


class MapPlot(pg.PlotWidget):
    """The points of a map; `show_points` draws them, the signals say what the user did."""

    hovered = Signal(int)
    """The index of the point under the pointer, or -1 when it left them."""
    clicked = Signal(int)
    """A point was clicked (it is now the selection)."""
    selection_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        self.box = LassoViewBox()
        super().__init__(parent, viewBox=self.box, background="w")
        item = self.getPlotItem()
        item.hideAxis("left")
        item.hideAxis("bottom")
        item.hideButtons()
        item.setMenuEnabled(False)
        self.box.setAspectLocked(True)
        self.links = pg.PlotDataItem(connect="pairs", pen=pg.mkPen(LINK_COLOUR, width=2))
        self.copies = pg.ScatterPlotItem(pxMode=True, size=COPY_SIZE, symbol="s", brush=None,
                                         pen=pg.mkPen(LINK_COLOUR, width=1.5))
        self.points = pg.ScatterPlotItem(pxMode=True, useCache=True, size=POINT_SIZE, pen=None)
        self.rings = pg.ScatterPlotItem(pxMode=True, size=RING_SIZE, brush=None,
                                        pen=pg.mkPen(FLAG_COLOUR, width=2))
        self.chosen = pg.ScatterPlotItem(pxMode=True, size=CHOSEN_SIZE, brush=None,
                                         pen=pg.mkPen("#111", width=2))
        for z, shown in enumerate((self.links, self.copies, self.points, self.rings,
                                   self.chosen)):
            shown.setZValue(z)
            self.addItem(shown)
        self.xy = np.zeros((0, 2))
        self.selected = np.zeros(0, dtype=bool)
        self._brushes: list[QBrush] = []
        self._hovered = -1
        self.box.lassoed.connect(self._lassoed)
        self.scene().sigMouseMoved.connect(self._mouse_moved)
        self.scene().sigMouseClicked.connect(self._mouse_clicked)

    def show_points(self, xy: np.ndarray, labels: np.ndarray, links: np.ndarray,
                    keep_view: bool = False) -> None:
        """Draw `xy` (N, 2) coloured by `labels` (N,), `links` (K, 2) index pairs; the
        selection is cleared. `keep_view`: stay where the user panned and zoomed."""
        self.xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        count = int(np.max(labels, initial=-1)) + 1
        while len(self._brushes) < count:
            self._brushes.append(QBrush(QColor(class_colour(len(self._brushes)))))
        self.points.setData(pos=self.xy, brush=[self._brushes[int(i)] for i in labels])
        linked = np.asarray(links, dtype=np.intp).reshape(-1)
        ends = self.xy[linked]
        self.links.setData(ends[:, 0], ends[:, 1])
        self.copies.setData(pos=self.xy[np.unique(linked)])
        self.select(np.zeros(len(self.xy), dtype=bool))
        self.ring(np.zeros(len(self.xy), dtype=bool))
        self._hover(-1)
        if not keep_view:
            self.box.autoRange(padding=0.05)

    def ring(self, mask: np.ndarray) -> None:
        """Ring the points of `mask` (the flagged photos)."""
        self.rings.setData(pos=self.xy[mask])

    def select(self, mask: np.ndarray) -> None:
        self.selected = np.asarray(mask, dtype=bool)
        self.chosen.setData(pos=self.xy[self.selected])
        self.selection_changed.emit()

    def selected_indices(self) -> list[int]:
        return np.flatnonzero(self.selected).tolist()

    def nearest(self, scene_pos: QPointF) -> int:
        """The point within `NEAR_PIXELS` of `scene_pos` (closest first), or -1."""
        if not len(self.xy) or not self.box.sceneBoundingRect().contains(scene_pos):
            return -1
        where = self.box.mapSceneToView(scene_pos)
        width, height = self.box.viewPixelSize()
        pixels = (self.xy - (where.x(), where.y())) / (width, height)
        distance = np.einsum("ij,ij->i", pixels, pixels)
        index = int(np.argmin(distance))
        return index if distance[index] <= NEAR_PIXELS ** 2 else -1

    def scene_position(self, index: int) -> QPointF:
        """Where point `index` is drawn, in scene coordinates (to place a card beside it)."""
        x, y = self.xy[index]
        return self.box.mapViewToScene(QPointF(float(x), float(y)))

    def leaveEvent(self, event: QEvent) -> None:
        super().leaveEvent(event)
        self._hover(-1)

    @Slot(object)
    def _mouse_moved(self, scene_pos: QPointF) -> None:
        self._hover(self.nearest(scene_pos))

    def _hover(self, index: int) -> None:
        if index != self._hovered:
            self._hovered = index
            self.hovered.emit(index)

    @Slot(object)
    def _mouse_clicked(self, event: MouseClickEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        index = self.nearest(event.scenePos())
        additive = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        mask = self.selected.copy() if additive else np.zeros(len(self.xy), dtype=bool)
        if index >= 0:
            mask[index] = not (additive and self.selected[index])
        self.select(mask)
        if index >= 0 and not additive:
            self.clicked.emit(index)

    @Slot(object, bool)
    def _lassoed(self, polygon: np.ndarray, additive: bool) -> None:
        chosen = inside(self.xy, polygon)
        self.select(self.selected | chosen if additive else chosen)
