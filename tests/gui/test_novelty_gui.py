"""The Classify page shows images unlike the training data as "none of these", re-flags them
live when the threshold moves, filters and sorts by it, and exports it to CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from pytestqt.modeltest import ModelTester
from synthetic import make_dataset

from cheetahlion_gui.main_window import MainWindow
from cheetahlion_gui.settings import Settings
from cheetahlion_gui.widgets.gallery_model import UNFAMILIAR_COLOUR, PathRole
from cheetahlion_gui.widgets.gallery_proxy import GalleryProxy
from cheetahlion_gui.widgets.preview_dialog import PreviewDialog
from training.data.scanning import scan_dataset
from training.fitting.trainer import fit
from training.predict.sorting import NONE_OF_THESE_FOLDER
from training.records.config import TrainConfig


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_dataset(tmp_path_factory.mktemp("novelty-gui") / "colours", per_class=15)
    result = fit(TrainConfig.quick(epochs=10, image_size=64), scan_dataset(root),
                 output=root.parent / "model.safetensors")
    assert result.model_path is not None
    return result.model_path


def _gallery(folder: Path) -> Path:
    """Eight new red/blue images and one of a kind the model never saw: noise."""
    make_dataset(folder, per_class=4, seed=3)
    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "stranger.png")
    return folder


def _name(path: str) -> str:
    """"red/0.png", or "stranger.png" for the file at the gallery's top."""
    parent = Path(path).parent.name
    return Path(path).name if parent == "gallery" else f"{parent}/{Path(path).name}"


def _shown(page) -> list[str]:
    return [_name(page.proxy.index(r, 0).data(PathRole)) for r in range(page.proxy.rowCount())]


def _flagged(page) -> set[str]:
    return {_name(i.path) for i in page.model.items() if i.unfamiliar}


def test_a_stranger_is_none_of_these_and_the_threshold_reflags_live(
        window, qtbot, model_file: Path, tmp_path: Path) -> None:
    gallery = _gallery(tmp_path / "gallery")
    window.sidebar.setCurrentRow(3)
    page = window.classify_page
    percentile = page.filters.unfamiliar_percentile
    assert not percentile.isEnabled(), "nothing to flag before a classification"
    page.use_model_file(str(model_file))
    page.open_sources([gallery])
    qtbot.waitUntil(lambda: not page.runner.busy and page.model.rowCount() == 9
                    and all(i.label for i in page.model.items()), timeout=60_000)
    ModelTester(None).check(page.model)
    ModelTester(None).check(page.proxy)

    rows = {_name(i.path): row for row, i in enumerate(page.model.items())}
    stranger = page.model.index(rows["stranger.png"])
    text = stranger.data(Qt.ItemDataRole.DisplayRole)
    closest = page.model.items()[rows["stranger.png"]].label
    assert text.endswith(f"\nnone of these\nclosest: {closest}")
    assert stranger.data(Qt.ItemDataRole.ForegroundRole).name() == UNFAMILIAR_COLOUR
    assert "stranger than" in stranger.data(Qt.ItemDataRole.ToolTipRole)
    at_95 = _flagged(page)
    assert "stranger.png" in at_95 and len(at_95) <= 2, at_95
    assert percentile.isEnabled() and percentile.value() == 95
    assert f"{len(at_95)} none of these" in page.file_actions.summary.text()

    page.filters.show_filter.setCurrentText(GalleryProxy.NONE_OF_THESE)
    assert page.filters.show_filter.currentText() == GalleryProxy.NONE_OF_THESE
    assert set(_shown(page)) == at_95
    page.filters.show_filter.setCurrentText("red")
    assert _shown(page) and "stranger.png" not in _shown(page)
    page.filters.show_filter.setCurrentText(GalleryProxy.ALL)

    running = page.runner.busy
    page.filters.unfamiliar_percentile.setValue(50)  # a much lower bar: ordinary images get flagged
    assert page.runner.busy == running, "re-flagging does not run the model again"
    at_50 = _flagged(page)
    assert at_50 > at_95
    assert f"{len(at_50)} none of these" in page.file_actions.summary.text()
    page.filters.show_filter.setCurrentText(GalleryProxy.NONE_OF_THESE)
    assert set(_shown(page)) == at_50
    page.filters.unfamiliar_percentile.setValue(95)
    assert _flagged(page) == at_95 and set(_shown(page)) == at_95
    page.filters.show_filter.setCurrentText(GalleryProxy.ALL)

    page.filters.sort.setCurrentIndex(page.filters.sort.findData("novelty"))
    assert _shown(page)[0] == "stranger.png", "strangest first"
    page.view.doubleClicked.emit(page.proxy.index(0, 0))
    preview = page.findChild(PreviewDialog)
    assert preview.novelty.isVisibleTo(preview)
    assert preview.novelty.text().startswith("None of these: stranger than ")
    preview.reject()

    out_csv = tmp_path / "results.csv"
    assert page.export_csv_to(out_csv, page.chosen_items())
    qtbot.waitUntil(lambda: not page.file_actions.files.runner.busy, timeout=60_000)
    exported = {_name(r["path"]): r for r in csv.DictReader(out_csv.open(encoding="utf-8"))}
    assert len(exported) == 9
    assert {n for n, r in exported.items() if r["none_of_these"] == "1"} == at_95
    assert all(r["novelty"] for r in exported.values())

    sorted_into = tmp_path / "sorted"
    assert page.sort_files_into(sorted_into, page.chosen_items(), move=False)
    qtbot.waitUntil(lambda: not page.file_actions.files.runner.busy, timeout=60_000)
    assert (sorted_into / NONE_OF_THESE_FOLDER / "stranger.png").is_file(), \
        "a stranger is not sorted into one of the classes"
    sorted_names = {p.name for p in (sorted_into / "red").iterdir()} | \
        {p.name for p in (sorted_into / "blue").iterdir()}
    assert "stranger.png" not in sorted_names and (gallery / "stranger.png").is_file()


def test_the_none_of_these_percentile_is_remembered(window, qtbot) -> None:
    window.classify_page.filters.unfamiliar_percentile.setValue(90)
    window.close()
    reopened = MainWindow(Settings.load())
    qtbot.addWidget(reopened)
    assert reopened.classify_page.filters.unfamiliar_percentile.value() == 90
    assert reopened.classify_page.model.unfamiliar_percentile == 90.0
