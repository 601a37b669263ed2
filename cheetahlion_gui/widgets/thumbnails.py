"""Thumbnails decoded on a private thread pool, newest requests first, stale ones dropped.

Views ask for a thumbnail only when a row becomes visible; the loader decodes it in a pool
thread (to a QImage: QPixmaps may only be made on the GUI thread) and announces it with the
generation it was requested for. Each thumbnail is centred on a transparent square, so
portrait and landscape photos make icons of one size: icon-mode views size every tile like
the first, and a taller icon would leave its tile too little room for its caption.
Changing folders bumps the generation and clears the queue, so thumbnails of the previous
gallery can never land in the new one. Pixels come from the engine's `decode_image`, not
Qt's image reader: a thumbnail is turned upright as the model sees the photo, and HEIC
(iPhone photos), which Qt cannot read without plugins, shows like any other format.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QLabel

from training.data.images import decode_image

THUMBNAIL_SIZE = 160
PIXMAP_CACHE_SIZE = 600
"""Thumbnails kept in memory; a 10,000-image gallery keeps only what was recently seen."""


class _Relay(QObject):
    loaded = Signal(int, str, QImage)
    failed = Signal(int, str, str)


class _DecodeTask(QRunnable):
    def __init__(self, relay: _Relay, generation: int, path: str, size: int) -> None:
        super().__init__()
        self.relay, self.generation, self.path, self.size = relay, generation, path, size

    def run(self) -> None:
        try:
            image = decode_image(Path(self.path), draft_size=self.size).image
            image.thumbnail((self.size, self.size))
            square = Image.new("RGBA", (self.size, self.size), (0, 0, 0, 0))
            square.paste(image, ((self.size - image.width) // 2, (self.size - image.height) // 2))
            qimage = QImage(square.tobytes("raw", "RGBA"), self.size, self.size, self.size * 4,
                            QImage.Format.Format_RGBA8888).copy()
        except Exception as error:  # a broken file becomes a broken tile, never a crash
            self.relay.failed.emit(self.generation, self.path, str(error))
        else:
            self.relay.loaded.emit(self.generation, self.path, qimage)


class ThumbnailLoader(QObject):
    """Decode thumbnails in the background; connect to `loaded` and `failed`."""

    loaded = Signal(int, str, QImage)
    """(generation, path, image), delivered on the GUI thread."""
    failed = Signal(int, str, str)
    """(generation, path, reason)."""

    def __init__(self, parent: QObject | None = None, size: int = THUMBNAIL_SIZE,
                 threads: int = 2) -> None:
        super().__init__(parent)
        self.size = size
        self.generation = 0
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._relay = _Relay(self)
        self._relay.loaded.connect(self.loaded)
        self._relay.failed.connect(self.failed)
        self._pending: set[str] = set()
        self._priority = itertools.count()

    def request(self, path: str) -> None:
        """Queue `path` for the current generation (once); later requests run first."""
        if path in self._pending:
            return
        self._pending.add(path)
        task = _DecodeTask(self._relay, self.generation, path, self.size)
        self._pool.start(task, min(next(self._priority), 2**30))

    def finished(self, path: str) -> None:
        """Forget a request whose result arrived, so it can be asked for again later."""
        self._pending.discard(path)

    def reset(self) -> int:
        """Drop queued work and start a new generation; returns it."""
        self._pool.clear()
        self._pending.clear()
        self.generation += 1
        return self.generation

    def shutdown(self, timeout_ms: int = 2000) -> bool:
        self._pool.clear()
        return self._pool.waitForDone(timeout_ms)


class ThumbnailCache(QObject):
    """What item models use: an icon per path when ready, a request when not.

    `icon()` never blocks: on a miss it queues the file and returns None; `changed(path)`
    fires on the GUI thread when the thumbnail (or the reason it is broken) is known.
    Pixmaps are made here, on the GUI thread, from the QImages the pool threads decoded;
    they are handed out as QIcons so every view scales them to its own icon size.
    """

    changed = Signal(str)

    def __init__(self, parent: QObject | None = None, size: int = THUMBNAIL_SIZE) -> None:
        super().__init__(parent)
        self.loader = ThumbnailLoader(self, size)
        self.size = size
        self._icons: OrderedDict[str, QIcon] = OrderedDict()
        self._broken: dict[str, str] = {}
        self.loader.loaded.connect(self._loaded)
        self.loader.failed.connect(self._failed)

    def icon(self, path: str) -> QIcon | None:
        found = self._icons.get(path)
        if found is not None:
            self._icons.move_to_end(path)
        elif path not in self._broken:
            self.loader.request(path)
        return found

    def broken_reason(self, path: str) -> str | None:
        return self._broken.get(path)

    def show_in(self, label: QLabel, path: str, size: int) -> None:
        """Put `path`'s decoded picture (at most `size` pixels) on `label`, or the reason it
        cannot be shown; leave `label` as it is while it is still being decoded."""
        thumbnail = self.icon(path)
        if thumbnail is not None:
            label.setPixmap(thumbnail.pixmap(size, size))
        elif self.broken_reason(path):
            label.setText(self.broken_reason(path))

    def reset(self) -> None:
        """Forget everything and drop queued work (e.g. another folder was opened)."""
        self.loader.reset()
        self._icons.clear()
        self._broken.clear()

    def shutdown(self, timeout_ms: int = 2000) -> bool:
        return self.loader.shutdown(timeout_ms)

    @Slot(int, str, QImage)
    def _loaded(self, generation: int, path: str, image: QImage) -> None:
        self.loader.finished(path)
        if generation != self.loader.generation:
            return
        self._icons[path] = QIcon(QPixmap.fromImage(image))
        while len(self._icons) > PIXMAP_CACHE_SIZE:
            self._icons.popitem(last=False)
        self.changed.emit(path)

    @Slot(int, str, str)
    def _failed(self, generation: int, path: str, reason: str) -> None:
        self.loader.finished(path)
        if generation != self.loader.generation:
            return
        self._broken[path] = reason
        self.changed.emit(path)
