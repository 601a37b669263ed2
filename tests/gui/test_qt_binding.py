"""The Qt binding itself must not corrupt the interpreter (seen with PySide6 6.12.0)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QModelIndex

from cheetahlion_gui.widgets.gallery_model import GalleryModel
from cheetahlion_gui.widgets.thumbnails import ThumbnailCache


def test_qt_calls_returning_nothing_keep_none_alive(qapp) -> None:
    """PySide6 6.12.0 decremented None's refcount on every call returning void or None;
    after enough calls a long session crashed with "deallocating None"."""
    cache = ThumbnailCache()
    model = GalleryModel(cache)
    before = sys.getrefcount(None)
    for _ in range(2000):
        qapp.processEvents()
        model.data(QModelIndex())
    assert sys.getrefcount(None) > before - 500
    cache.shutdown()
