"""The map's selection, shown before anything moves: how many photos, and which.

A lasso around a dense region can catch more than the user meant. Below the map, a count
("12 photos selected, from cheetah and lion; 3 flagged") and a row of their thumbnails with
file names let them check before Keep, Move to class or Move to quarantine; double-click a
thumbnail to open the photo. The strip keeps its height whether or not anything is
selected, so the map above never jumps when a selection starts or ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSize,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtWidgets import QAbstractItemView, QLabel, QListView, QVBoxLayout, QWidget

from cheetahlion_gui.widgets.icon_view import TileDelegate
from cheetahlion_gui.widgets.thumbnail_rows import ThumbnailRows
from cheetahlion_gui.widgets.thumbnails import ThumbnailCache

STRIP_THUMBNAIL = 48
TILE = QSize(STRIP_THUMBNAIL + 36, STRIP_THUMBNAIL + 24)
"""A thumbnail and one line of its file name."""
HINT = ("Click a photo to open it; drag around photos with Select (or Shift+drag) to select "
        "them. The selected photos are listed here before anything moves.")
Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class Chosen:
    """One selected photo: its map index, file, where it sits, its class and its flag."""

    index: int
    path: Path
    shown_as: str
    class_name: str
    flag: str | None = None


class SelectionModel(ThumbnailRows):
    """The selected photos as thumbnails, from the page's shared thumbnail cache (never
    reset here: the samples and the health report use it too)."""

    def __init__(self, thumbnails: ThumbnailCache, parent: QObject | None = None) -> None:
        super().__init__(thumbnails, STRIP_THUMBNAIL, parent)
        self.chosen: list[Chosen] = []

    def set_chosen(self, chosen: Sequence[Chosen]) -> None:
        self.beginResetModel()
        self.chosen = list(chosen)
        self._index_paths(str(item.path) for item in self.chosen)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.chosen)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.chosen):
            return None
        item = self.chosen[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return item.path.name
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail_icon(str(item.path))
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{item.shown_as} (class {item.class_name})" + (
                f"\n{item.flag}" if item.flag else "")
        return None


class SelectionStrip(QWidget):
    """A count line over a row of thumbnails; `opened(index)` asks to open a photo."""

    opened = Signal(int)
    """The map index of a photo double-clicked in the strip."""

    def __init__(self, thumbnails: ThumbnailCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.count = QLabel(HINT)
        self.count.setWordWrap(True)
        self.count.setTextFormat(Qt.TextFormat.RichText)
        self.model = SelectionModel(thumbnails, self)
        self.view = _strip_view(self.model)
        self.view.doubleClicked.connect(self._double_clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.count)
        layout.addWidget(self.view)
        layout.addStretch(1)  # the hint at the top while nothing is selected
        # Always this tall: two lines of text over one row of tiles and its scroll bar.
        self.setFixedHeight(2 * self.count.fontMetrics().lineSpacing() + TILE.height()
                            + self.view.horizontalScrollBar().sizeHint().height() + 10)

    def show_selection(self, chosen: Sequence[Chosen]) -> None:
        """The selected photos (none: the hint on how to select)."""
        self.model.set_chosen(chosen)
        self.view.setVisible(bool(chosen))
        if not chosen:
            self.count.setText(HINT)
            return
        classes = sorted({item.class_name for item in chosen})
        flagged = sum(1 for item in chosen if item.flag)
        self.count.setText(
            f"<b>{len(chosen)} photo{'s' if len(chosen) != 1 else ''} selected</b>, from "
            f"{escape(' and '.join(classes) if len(classes) < 3 else ', '.join(classes))}"
            + (f"; {flagged} flagged as likely mislabelled" if flagged else "")
            + ". Check them before you keep or move them (double-click one to open it).")

    @Slot(QModelIndex)
    def _double_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self.opened.emit(self.model.chosen[index.row()].index)


def _strip_view(model: SelectionModel) -> QListView:
    """One row of tiles that scrolls sideways, laid out lazily however many are selected."""
    view = QListView()
    view.setModel(model)
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setFlow(QListView.Flow.LeftToRight)
    view.setWrapping(False)
    view.setMovement(QListView.Movement.Static)
    view.setUniformItemSizes(True)
    view.setIconSize(QSize(STRIP_THUMBNAIL, STRIP_THUMBNAIL))
    view.setGridSize(TILE)
    view.setItemDelegate(TileDelegate(TILE - QSize(4, 4), view))
    view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    view.setLayoutMode(QListView.LayoutMode.Batched)
    view.setVisible(False)
    return view
