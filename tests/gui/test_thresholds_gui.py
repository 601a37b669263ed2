"""The Evaluate step's per-class thresholds: the slider moves precision and recall live, Save
writes the model file through a job (refused when the file changed), and Classify's gallery
shows a photo below its class's threshold as unsure, never as another class."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from gui_steps import OPEN_TIMEOUT_MS, train_small_model
from PySide6.QtCore import Qt

from cheetahlion_gui.evaluate.thresholds import ThresholdsPanel
from cheetahlion_gui.widgets.gallery_model import GalleryModel, UnsureRole
from cheetahlion_gui.widgets.thumbnails import ThumbnailCache
from training.core.file_ops import file_digest
from training.fitting.model_thresholds import save_thresholds
from training.fitting.modelfile import read_metadata
from training.predict.evaluation import summarize
from training.records.predictions import Prediction

CLASSES = ("blue", "red")
# (true, most probable, its probability): red is given to three photos, one of them blue
PHOTOS = (("red", "red", 0.95), ("red", "red", 0.80), ("blue", "red", 0.55),
          ("red", "blue", 0.70), ("blue", "blue", 0.90), ("blue", "blue", 0.65))


def _report():
    predictions = []
    for i, (_, predicted, p) in enumerate(PHOTOS):
        row = (p, 1 - p) if predicted == "blue" else (1 - p, p)
        predictions.append(Prediction(f"{i}.png", predicted, p, row))
    return summarize(CLASSES, [CLASSES.index(t) for t, _, _ in PHOTOS], predictions)


@pytest.fixture
def model(colours_model: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(colours_model, tmp_path / "colours.safetensors"))


@pytest.fixture
def panel(qtbot, model: Path) -> ThresholdsPanel:
    shown = ThresholdsPanel()
    qtbot.addWidget(shown)
    shown.show_report(_report(), str(model), file_digest(model))
    shown.resize(420, 360)
    shown.show()
    return shown


def _row(panel: ThresholdsPanel, name: str) -> list[str]:
    model = panel.points
    row = next(r for r in range(model.rowCount()) if model.index(r, 0).data() == name)
    return [model.index(row, c).data() for c in range(1, model.columnCount())]


def test_the_slider_moves_precision_and_recall_live(qtbot, panel: ThresholdsPanel) -> None:
    assert _row(panel, "red") == ["none", "0.667", "0.667", "0"]
    panel.select_class("red")
    panel.slider.setFocus()
    qtbot.keyClick(panel.slider, Qt.Key.Key_PageUp)  # 5 %: every red photo is above it
    assert _row(panel, "red") == ["5%", "0.667", "0.667", "0"]
    for _ in range(10):
        qtbot.keyClick(panel.slider, Qt.Key.Key_PageUp)
    assert _row(panel, "red") == ["55%", "0.667", "0.667", "0"]  # 0.55 is at it: still red
    qtbot.keyClick(panel.slider, Qt.Key.Key_Right)
    assert _row(panel, "red") == ["55.1%", "1.000", "0.667", "1"]
    qtbot.keyClick(panel.slider, Qt.Key.Key_PageUp)
    # the blue photo taken for red at 0.55 is left unsure; the two right ones stay
    assert _row(panel, "red") == ["60.1%", "1.000", "0.667", "1"]
    assert _row(panel, "blue") == ["none", "0.667", "0.667", "0"]  # the other class as it was
    assert "1 of the 6 validation photos unsure (not saved yet)" in panel.summary.text()
    assert panel.save_button.isEnabled()
    qtbot.keyClick(panel.slider, Qt.Key.Key_Home)
    assert _row(panel, "red") == ["none", "0.667", "0.667", "0"]
    assert not panel.save_button.isEnabled()  # back to what the model holds


def test_save_writes_the_model_file_through_a_job_and_clear_all_removes_them(
        qtbot, panel: ThresholdsPanel, model: Path) -> None:
    panel.select_class("red")
    panel.slider.setValue(601)
    with qtbot.waitSignal(panel.save_finished, timeout=OPEN_TIMEOUT_MS):
        qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    assert read_metadata(model)["class_thresholds"] == {"red": 0.601}
    assert "saved" in panel.summary.text() and not panel.save_button.isEnabled()
    qtbot.mouseClick(panel.clear_button, Qt.MouseButton.LeftButton)
    assert _row(panel, "red")[0] == "none" and panel.slider.value() == 0
    qtbot.waitUntil(lambda: not panel.jobs.busy)  # the first save's thread has ended
    with qtbot.waitSignal(panel.save_finished, timeout=OPEN_TIMEOUT_MS):
        qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    assert "class_thresholds" not in read_metadata(model)  # the second save used the new hash


def test_a_model_file_changed_since_evaluation_is_not_overwritten(
        qtbot, panel: ThresholdsPanel, model: Path, messages) -> None:
    save_thresholds(model, (0.9, None))  # another program changed it meanwhile
    changed = model.read_bytes()
    panel.select_class("red")
    panel.slider.setValue(600)
    with qtbot.waitSignal(panel.save_finished, timeout=OPEN_TIMEOUT_MS):
        qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    assert model.read_bytes() == changed
    assert any("changed since it was evaluated" in text for _, text in messages)
    assert panel.save_button.isEnabled()  # still not saved: the user may evaluate again


def test_the_evaluate_step_shows_the_panel_for_the_evaluated_model(
        qtbot, window, tmp_path: Path) -> None:
    train_small_model(window, tmp_path / "colours")
    page = window.evaluate_page
    with qtbot.waitSignal(page.evaluation_finished, timeout=OPEN_TIMEOUT_MS):
        window.sidebar.setCurrentRow(2)
    panel = page.thresholds
    assert page.below.isTabVisible(page.below.indexOf(panel)) and panel.points.rowCount() == 2
    assert panel.model_path == window.session.model_path
    assert panel.digest == file_digest(Path(panel.model_path))


def test_the_gallery_shows_a_photo_below_its_class_threshold_unsure(qtbot, tmp_path) -> None:
    cache = ThumbnailCache(size=48)
    gallery = GalleryModel(cache)
    gallery.set_unsure_threshold(0.5)  # the gallery's own slider: not what marks these
    gallery.set_paths(["a.png", "b.png", "c.png", "d.png"])
    gallery.apply_predictions([
        Prediction("a.png", "red", 0.7, (0.3, 0.7), threshold=0.8),
        Prediction("b.png", "red", 0.9, (0.1, 0.9), threshold=0.8),
        Prediction("c.png", "blue", 0.6, (0.6, 0.4)),
        Prediction("d.png", "red", 0.9958, (0.0042, 0.9958), threshold=0.996),
    ], CLASSES)
    below, above, plain, close = (gallery.index(r) for r in range(4))
    assert below.data(UnsureRole) and "red 70%  · unsure" in below.data()
    assert "below red's threshold, 80%" in below.data(Qt.ItemDataRole.ToolTipRole)
    assert not above.data(UnsureRole) and not plain.data(UnsureRole)
    # just below a high threshold: never rounded up to "100%" (nor the threshold to 100 %)
    assert "red 99%  · unsure" in close.data()
    assert "threshold, 99.6%" in close.data(Qt.ItemDataRole.ToolTipRole)
    cache.shutdown()
