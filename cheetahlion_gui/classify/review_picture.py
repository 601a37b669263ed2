"""The photo a review shows large, decoded before its turn so no key waits for it.

Both reviews (a class per photo, `review_dialog`; labels per photo, `multilabel_review`)
show one photo at a time. The photos are decoded on a thread pool (a `ThumbnailCache` at
review size) two ahead of the one shown, nearest first, so the next photo is on screen as
the key is pressed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QLabel, QWidget

from cheetahlion_gui.widgets.thumbnails import ThumbnailCache

REVIEW_SIZE = 560
"""Pixels of the square the photo is shown in."""
DECODE_AHEAD = 2
"""Photos decoded ahead of the one shown."""
DECODING_AT_ONCE = 2
"""Decodes asked for at a time: one per thread of the cache's pool. The pool starts the
newest request first, so asking for more would let the farthest photo jump the queue."""


class ReviewPicture(QLabel):
    """Photo `position` of `paths`, with the next ones decoding behind it."""

    photo_shown = Signal(int, bool, float)
    """(position, whether it had to wait for decoding, seconds since the key was pressed)"""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Loading…", parent)
        self.setFixedSize(REVIEW_SIZE, REVIEW_SIZE)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.paths: tuple[str, ...] = ()
        self.position = 0
        self.waited = 0
        """Photos that were not decoded yet when their turn came."""
        self.pressed_at = time.perf_counter()
        """When the key that asked for the photo was pressed (the dialog sets it)."""
        self._waiting = False
        self._decoding: set[str] = set()
        self.pictures = ThumbnailCache(self, size=REVIEW_SIZE)
        self.pictures.changed.connect(self._picture_ready)

    def show_photo(self, paths: Sequence[str], position: int) -> None:
        """Show `paths[position]` (or "Loading…" until it is decoded, or why it is broken)."""
        self.paths, self.position = tuple(paths), position
        path = self.paths[position]
        self._decode_ahead()
        broken = self.pictures.broken_reason(path)
        # A miss asks for it (if the photos ahead filled the pool, as its newest request,
        # which the pool starts first).
        self._waiting = broken is None and self.pictures.icon(path) is None
        if broken:
            self.setText(broken)
        elif self._waiting:
            self.waited += 1
            self.setText("Loading…")
        else:
            self._display(path)

    def reset(self) -> None:
        """Drop the decodes still queued (the dialog is closing)."""
        self.pictures.reset()

    def _decode_ahead(self) -> None:
        """Keep the pool decoding the nearest photos not yet decoded: the current one, then
        the next `DECODE_AHEAD`, in that order."""
        for path in self.paths[self.position:self.position + 1 + DECODE_AHEAD]:
            if len(self._decoding) >= DECODING_AT_ONCE:
                return
            if path not in self._decoding and self.pictures.broken_reason(path) is None \
                    and self.pictures.icon(path) is None:  # a miss asks the pool for it
                self._decoding.add(path)

    @Slot(str)
    def _picture_ready(self, path: str) -> None:
        self._decoding.discard(path)
        self._decode_ahead()
        if not self._waiting or self.position >= len(self.paths) \
                or path != self.paths[self.position]:
            return
        self._waiting = False
        broken = self.pictures.broken_reason(path)
        if broken:
            self.setText(broken)
        else:
            self._display(path, waited=True)

    def _display(self, path: str, waited: bool = False) -> None:
        icon = self.pictures.icon(path)
        if icon is not None:
            self.setPixmap(icon.pixmap(REVIEW_SIZE, REVIEW_SIZE))
        self.photo_shown.emit(self.position, waited, time.perf_counter() - self.pressed_at)
