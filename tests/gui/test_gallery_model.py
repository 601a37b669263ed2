"""The gallery's item model and proxy: lazy thumbnails, predictions, filters, stale drops."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from pytestqt.modeltest import ModelTester
from synthetic import textured_image

from cheetahlion_gui.widgets.gallery_model import (
    ConfidenceRole,
    ErrorRole,
    GalleryItem,
    GalleryModel,
    LabelRole,
    UnsureRole,
)
from cheetahlion_gui.widgets.gallery_proxy import GalleryProxy
from cheetahlion_gui.widgets.thumbnails import ThumbnailCache
from training.records.predictions import Prediction


@pytest.fixture
def images(tmp_path: Path) -> list[str]:
    paths = []
    for i in range(6):
        path = tmp_path / f"{i}.png"
        textured_image((100, 150, 200), i, size=80).save(path)
        paths.append(str(path))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"nope")
    return [*paths, str(broken)]


@pytest.fixture
def model(qtbot, images):
    cache = ThumbnailCache(size=48)
    gallery = GalleryModel(cache)
    gallery.set_paths(images)
    yield gallery
    cache.shutdown()


def test_model_passes_qt_model_tester_and_loads_thumbnails_lazily(qtbot, model, images
                                                                  ) -> None:
    ModelTester(None).check(model)
    assert model.thumbnails.icon(images[0]) is None  # nothing decoded until asked
    for row in range(model.rowCount()):
        model.index(row).data(Qt.ItemDataRole.DecorationRole)
    qtbot.waitUntil(lambda: all(model.thumbnails.icon(p) is not None for p in images[:6]),
                    timeout=60_000)
    qtbot.waitUntil(lambda: model.index(6).data(ErrorRole) is not None, timeout=60_000)
    assert "broken.jpg" in model.index(6).data(Qt.ItemDataRole.ToolTipRole)


def test_predictions_fill_rows_with_one_change_per_batch(qtbot, model, images) -> None:
    changes = []
    model.dataChanged.connect(lambda first, last, roles=(): changes.append((first.row(),
                                                                            last.row())))
    predictions = [Prediction(p, "sky" if i % 2 else "sea", 0.5 + i * 0.08,
                              (0.5 + i * 0.08, 0.5 - i * 0.08)) for i, p in enumerate(images[:6])]
    predictions.append(Prediction(images[6], None, 0.0, (), error="not an image"))
    model.apply_predictions(predictions, ("sea", "sky"))
    assert changes == [(0, 6)]
    assert model.index(1).data(LabelRole) == "sky"
    assert model.index(0).data(UnsureRole) and not model.index(5).data(UnsureRole)
    assert "unsure" in model.index(0).data()
    model.set_unsure_threshold(0.5)
    assert not model.index(0).data(UnsureRole)
    ModelTester(None).check(model)


def test_proxy_filters_and_sorts(qtbot, model, images) -> None:
    model.apply_predictions([Prediction(p, "sky" if i < 2 else "sea", 0.9 - i * 0.1, (0.1, 0.9))
                             for i, p in enumerate(images[:6])], ("sea", "sky"))
    proxy = GalleryProxy()
    proxy.setSourceModel(model)
    ModelTester(None).check(proxy)
    proxy.set_label_filter("sky")
    assert proxy.rowCount() == 2
    proxy.set_label_filter(GalleryProxy.UNSURE)
    assert proxy.rowCount() == 3  # 0.6, 0.5, 0.4 < 0.7
    proxy.set_label_filter(GalleryProxy.ALL)
    proxy.set_sort_key("confidence")
    shown = [proxy.index(r, 0).data(ConfidenceRole) for r in range(proxy.rowCount())]
    assert shown[:6] == sorted(shown[:6]) and shown[-1] is None


def test_results_for_files_no_longer_shown_are_ignored(qtbot, model, images) -> None:
    model.set_items([GalleryItem(images[0])])
    model.apply_predictions([Prediction(images[3], "sea", 0.9, (0.9, 0.1))], ("sea", "sky"))
    assert model.rowCount() == 1 and model.index(0).data(LabelRole) is None


def test_thumbnails_of_a_previous_folder_never_land(qtbot, model, images) -> None:
    generation = model.thumbnails.loader.generation
    model.set_items([GalleryItem(images[1])])
    assert model.thumbnails.loader.generation == generation + 1
    # A decode finished for the old generation arrives late: it must be dropped.
    stale = QImage(8, 8, QImage.Format.Format_RGB888)
    model.thumbnails.loader.loaded.emit(generation, images[1], stale)
    assert model.thumbnails.icon(images[1]) is None


def test_portrait_and_landscape_thumbnails_make_icons_of_one_size(qtbot, tmp_path: Path
                                                                  ) -> None:
    """Icon views size every tile like the first: a taller icon would squeeze its caption."""
    portrait, landscape = tmp_path / "portrait.png", tmp_path / "landscape.png"
    textured_image((200, 40, 40), 1, size=90).resize((60, 90)).save(portrait)
    textured_image((40, 40, 200), 2, size=90).resize((90, 60)).save(landscape)
    cache = ThumbnailCache(size=48)
    try:
        for path in (portrait, landscape):
            assert cache.icon(str(path)) is None  # asks the loader
        qtbot.waitUntil(lambda: all(cache.icon(str(p)) for p in (portrait, landscape)),
                        timeout=60_000)
        tall, wide = (cache.icon(str(p)).pixmap(48, 48).toImage() for p in (portrait, landscape))
        assert tall.size() == wide.size() and tall.width() == tall.height() == 48
        assert tall.pixelColor(2, 24).alpha() == 0, "the portrait photo is padded at the sides"
        assert tall.pixelColor(24, 2).alpha() == 255 and tall.pixelColor(24, 24).red() > 100
        assert wide.pixelColor(24, 2).alpha() == 0, "the landscape photo above and below"
    finally:
        cache.shutdown()
