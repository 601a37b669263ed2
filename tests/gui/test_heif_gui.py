"""iPhone photos in the window: a HEIC gets its thumbnail (upright), a prediction and a
Grad-CAM explanation in Classify, and counts as a photo of its class in Data.

Thumbnails are decoded by the engine's opener on the loader's threads (Qt itself has no
HEIC reader), so a HEIC tile would stay grey or turn "broken" if that path missed it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from heif_files import write_heic
from PIL import Image
from PySide6.QtGui import QImage
from synthetic import CLASS_COLOURS, make_dataset, textured_image

from cheetahlion_gui.widgets.preview_dialog import PreviewDialog


def _sideways_red() -> Image.Image:
    """Red noise with a white block top-left, stored landscape as a phone stores a portrait
    photo; larger than a thumbnail, so the thumbnail fills its height."""
    image = textured_image(CLASS_COLOURS["red"], 41, size=300).resize((300, 200))
    image.paste((255, 255, 255), (0, 0, 100, 50))
    return image


def _rgba(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(),
                                                              image.bytesPerLine())
    return rows[:, :image.width() * 4].reshape(image.height(), image.width(), 4).copy()


def test_classify_shows_reads_and_explains_heic_photos(window, qtbot, colours_model: Path,
                                                       tmp_path: Path) -> None:
    gallery = tmp_path / "iPhone"
    # Stored landscape, EXIF/irot orientation 6: shown with the white block top-right.
    heic = write_heic(gallery / "IMG_0001.HEIC", _sideways_red(), orientation=6)
    write_heic(gallery / "IMG_0002.HEIC", textured_image(CLASS_COLOURS["blue"], 42, size=96))
    textured_image(CLASS_COLOURS["blue"], 43, size=96).save(gallery / "web.avif", "AVIF")
    window.sidebar.setCurrentRow(3)
    page = window.classify_page
    page.use_model_file(str(colours_model))
    page.open_sources([gallery])
    qtbot.waitUntil(lambda: not page.runner.busy and page.model.rowCount() == 3
                    and all(item.label for item in page.model.items()), timeout=60_000)
    labels = {Path(item.path).name: item.label for item in page.model.items()}
    assert labels == {"IMG_0001.HEIC": "red", "IMG_0002.HEIC": "blue", "web.avif": "blue"}
    assert not page.file_actions.summary.text().endswith("skipped (not images)")

    cache = page.model.thumbnails
    for item in page.model.items():
        cache.icon(item.path)
    qtbot.waitUntil(lambda: all(cache.icon(item.path) is not None
                                for item in page.model.items()), timeout=30_000)
    assert all(cache.broken_reason(item.path) is None for item in page.model.items())
    pixels = _rgba(cache.icon(str(heic)).pixmap(cache.size, cache.size).toImage())
    rows, columns = np.nonzero(pixels[..., 3])
    photo = pixels[rows.min():rows.max() + 1, columns.min():columns.max() + 1, :3].astype(int)
    height, width, _ = photo.shape
    assert height > width * 1.4, "portrait: turned upright, centred on a transparent square"
    top_right = photo[:height // 6, -width // 4:].mean(axis=(0, 1))
    top_left = photo[:height // 6, :width // 4].mean(axis=(0, 1))
    assert top_right.min() > 200, f"upright: the white block is top-right ({top_right})"
    assert top_left[0] > 120 and top_left[2] < 110, f"red noise top-left ({top_left})"

    row = next(r for r in range(page.proxy.rowCount())
               if page.proxy.index(r, 0).data().startswith("IMG_0001.HEIC"))
    page.view.doubleClicked.emit(page.proxy.index(row, 0))
    dialog = page.findChild(PreviewDialog)
    view = dialog.explanation
    qtbot.waitUntil(lambda: view.shown is not None and not view.computing, timeout=60_000)
    assert view.shown.explanation.class_name == "red" and view.shown.explanation.heatmap.any()
    dialog.close()
    qtbot.waitUntil(lambda: not view.computing, timeout=30_000)


def test_the_data_step_counts_heic_photos_in_their_class(window, qtbot, tmp_path: Path
                                                         ) -> None:
    data = make_dataset(tmp_path / "colours", per_class=4)
    for i in range(3):
        write_heic(data / "red" / f"IMG_{i:04}.HEIC",
                   textured_image(CLASS_COLOURS["red"], 70 + i, size=96), orientation=6)
    with qtbot.waitSignal(window.data_page.scan_finished, timeout=60_000):
        window.open_dataset(data)
    dataset = window.session.dataset
    assert dataset.class_counts == {"blue": 4, "red": 7}
    assert not any(issue.kind == "unsupported_files" for issue in dataset.report.issues)
