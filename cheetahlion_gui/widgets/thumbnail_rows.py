"""What every list of photos shown as thumbnails shares: a row per photo whose thumbnail
arrives later from the shared `ThumbnailCache`, a grey square until then, and one
`dataChanged` for that row when it is ready (the gallery, the likely-mislabelled grid and
the map's selection strip)."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QAbstractListModel, QObject, Qt, Slot
from PySide6.QtGui import QColor, QIcon, QPixmap

from cheetahlion_gui.widgets.thumbnails import ThumbnailCache


def placeholder_pixmap(size: int, colour: str = "#e6e6e6") -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(colour))
    return pixmap


class ThumbnailRows(QAbstractListModel):
    """A list model of photos; subclasses keep the rows and call `_index_paths` whenever
    they change, and draw a row's picture with `_thumbnail_icon`."""

    thumbnail_roles: tuple[Qt.ItemDataRole, ...] = (Qt.ItemDataRole.DecorationRole,)
    """What a row's arriving thumbnail changes (empty: everything, e.g. a photo found broken
    while making its thumbnail is then shown as broken)."""

    def __init__(self, thumbnails: ThumbnailCache, loading_size: int,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails
        self._row_of: dict[str, int] = {}
        self._loading = QIcon(placeholder_pixmap(loading_size))
        thumbnails.changed.connect(self._thumbnail_changed)

    def _index_paths(self, paths: Iterable[str]) -> None:
        """Remember which row shows each path (in row order)."""
        self._row_of = {path: row for row, path in enumerate(paths)}

    def _thumbnail_icon(self, path: str) -> QIcon:
        return self.thumbnails.icon(path) or self._loading

    @Slot(str)
    def _thumbnail_changed(self, path: str) -> None:
        row = self._row_of.get(path)
        if row is not None:
            index = self.index(row)
            self.dataChanged.emit(index, index, list(self.thumbnail_roles))
