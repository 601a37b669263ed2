"""The card that floats beside the point under the pointer on the dataset map.

It shows the photo's thumbnail from the window's thumbnail cache (decoded on the cache's pool
the first time, so hovering across a dense cluster never blocks a repaint) and where the
photo sits. A QWidget over the plot, not a tooltip: a tooltip cannot show a picture that
arrives after it opened.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Slot
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from cheetahlion_gui.widgets.thumbnails import ThumbnailCache

CARD_PICTURE = 128
OFFSET = 14
"""Pixels between the point and the card's corner."""


class HoverCard(QFrame):
    """A thumbnail and a caption, placed next to a point of its parent (the plot)."""

    def __init__(self, thumbnails: ThumbnailCache, parent: QWidget) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails
        self.path = ""
        self.setObjectName("mapCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("#mapCard { background: white; border: 1px solid #999; }")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.picture = QLabel()
        self.picture.setFixedSize(CARD_PICTURE, CARD_PICTURE)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption = QLabel()
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.caption.setMaximumWidth(2 * CARD_PICTURE)
        self.caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.picture, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.caption)
        thumbnails.changed.connect(self._thumbnail_changed)
        self.hide()

    def show_photo(self, path: str, caption: str, spot: QPoint) -> None:
        """Show `path`'s thumbnail and `caption` beside `spot` (in the parent's pixels),
        on the side where the card fits."""
        self.path = path
        self.caption.setText(caption)
        self._thumbnail_changed(path)
        self.adjustSize()
        area = self.parentWidget().rect()
        x = spot.x() + OFFSET if spot.x() + OFFSET + self.width() <= area.right() \
            else spot.x() - OFFSET - self.width()
        y = spot.y() + OFFSET if spot.y() + OFFSET + self.height() <= area.bottom() \
            else spot.y() - OFFSET - self.height()
        self.move(max(x, 0), max(y, 0))
        self.raise_()
        self.show()

    @Slot(str)
    def _thumbnail_changed(self, path: str) -> None:
        if path != self.path:
            return
        icon = self.thumbnails.icon(path)
        if icon is not None:
            self.picture.setPixmap(icon.pixmap(CARD_PICTURE, CARD_PICTURE))
        else:
            self.picture.setText(self.thumbnails.broken_reason(path) or "…")
