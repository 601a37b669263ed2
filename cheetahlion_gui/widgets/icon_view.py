"""Thumbnail grids: an icon-mode list view whose tiles all have one size, and the delegate
that draws each caption line on one line.

A tile's width follows the class names it may show (`fit_tiles_to_classes`): a fixed width cut
"african_lioness 37% · unsure" to "african_lioness 37% · u…", and a cut confidence is a wrong
number, not a short one. The first line, the file name, may still be shortened in its middle
(as every file manager does); the tooltip holds it whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSize,
    Qt,
)
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QListView, QStyledItemDelegate, QStyleOptionViewItem

TILE_GAP = 4
"""Pixels between neighbouring tiles of an icon view."""
TEXT_MARGIN = 4
"""Pixels the style keeps free on each side of a tile's text."""
LINE_SEPARATOR = "\u2028"
"""What the item delegate turns a model's "\\n" into before it draws the text."""
MAX_TILE_WIDTH = 320
"""The widest a tile grows for long class names: beyond it a row holds too few photos."""
GALLERY_LINES = ("{} 100%  · unsure", "closest: {}")
"""The caption lines a classified photo's tile shows for a class, in their longest forms."""

Index = QModelIndex | QPersistentModelIndex


def icon_grid_size(thumbnail: int) -> QSize:
    """Tile size for an icon-mode view: the thumbnail plus three lines of text."""
    return QSize(thumbnail + 24, thumbnail + 58)


class TileDelegate(QStyledItemDelegate):
    """Draws every tile at the full size of its grid cell, each line of its text on one line.

    The default delegate sizes a tile from its own text, and a view with uniform item sizes
    then gives every tile the first one's size: captions longer than the first were cut
    short ("looks like …"). A fixed size also spares laying out each caption to measure it.
    A line too long for the tile is shortened with "…" (a file name in its middle, so its
    end shows), never wrapped: a wrapped file name pushed the last line ("true: lion")
    out of the tile.
    """

    def __init__(self, size: QSize, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.size = size
        self.base_width = size.width()
        """The width for the thumbnail alone, below which `fit_tiles_to_classes` never goes."""

    def sizeHint(self, _option: QStyleOptionViewItem, _index: Index) -> QSize:
        return self.size

    def initStyleOption(self, option: QStyleOptionViewItem, index: Index) -> None:
        super().initStyleOption(option, index)
        option.text = LINE_SEPARATOR.join(self.lines(option.fontMetrics, option.text))

    def lines(self, metrics: QFontMetrics, text: str) -> list[str]:
        """`text`'s lines as a tile shows them in a font of these `metrics`."""
        width = self.size.width() - 2 * TEXT_MARGIN
        lines = text.replace("\n", LINE_SEPARATOR).split(LINE_SEPARATOR)
        return [metrics.elidedText(line, Qt.TextElideMode.ElideMiddle if row == 0
                                   else Qt.TextElideMode.ElideRight, width)
                for row, line in enumerate(lines)]


def make_icon_view(model: QAbstractItemModel, thumbnail: int) -> QListView:
    """A grid of thumbnails that lays out lazily, for galleries of any size."""
    view = QListView()
    view.setModel(model)
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setResizeMode(QListView.ResizeMode.Adjust)
    view.setMovement(QListView.Movement.Static)
    view.setUniformItemSizes(True)
    view.setIconSize(QSize(thumbnail, thumbnail))
    grid = icon_grid_size(thumbnail)
    view.setGridSize(grid)
    view.setItemDelegate(TileDelegate(grid - QSize(TILE_GAP, TILE_GAP), view))
    view.setWordWrap(False)  # the delegate shortens each line to fit
    view.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
    view.setLayoutMode(QListView.LayoutMode.Batched)
    view.setBatchSize(200)
    return view


def fit_tiles_to_classes(view: QListView, classes: Iterable[str],
                         lines: Sequence[str] = GALLERY_LINES) -> None:
    """Size `view`'s tiles so that each caption line of `lines` ("{}" standing for a class
    name) shows whole for every one of `classes`."""
    fit_tiles_to_lines(view, [line.format(name) for name in classes for line in lines])


def fit_tiles_to_lines(view: QListView, lines: Iterable[str]) -> None:
    """Size `view`'s tiles, never below the thumbnail's own width nor above MAX_TILE_WIDTH,
    so that each of `lines` shows whole on one line of a tile."""
    delegate = view.itemDelegate()
    if not isinstance(delegate, TileDelegate):
        return
    metrics = view.fontMetrics()
    widest = max((metrics.horizontalAdvance(line) for line in lines), default=0)
    # The style draws a tile's text inside its focus frame: two pixels more on each side.
    width = min(MAX_TILE_WIDTH, max(delegate.base_width, widest + 2 * TEXT_MARGIN + 4))
    grid = QSize(width + TILE_GAP, view.gridSize().height())
    if grid != view.gridSize():
        view.setGridSize(grid)
        delegate.size = grid - QSize(TILE_GAP, TILE_GAP)
