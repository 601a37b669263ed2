"""A multi-label gallery's filters and its review of unsure photos (issue 23), as a user works
them: "All of…"/"Any of…" the ticked labels, "Unsure" (some label near its threshold, the
engine's own rule, most unsure first), and a review dialog whose number keys toggle labels,
whose Enter appends the photo's row to labels.csv, and whose Backspace takes it back to the
file's exact bytes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from layout_audit import audit
from multilabel_synthetic import COLOURS, LABELS, make_patch_dataset, patch_image, patch_split
from PIL import Image
from PySide6.QtCore import Qt

from cheetahlion_gui.classify.multilabel_review import MultiLabelReviewDialog
from cheetahlion_gui.resources import style_sheet
from cheetahlion_gui.widgets.gallery_model import PathRole
from training.data.labels_csv import read_labels_csv
from training.fitting.multilabel import fit_multilabel
from training.predict.multilabel import MultiLabelPredictor
from training.records.config import TrainConfig
from training.records.multilabel import MultiLabelPrediction, is_unsure, label_doubt

TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(model file, a gallery): eight photos of the training set (every mix of red and
    blue) and squares of red or blue too small or too faint to be sure of. Trains in a
    second."""
    dataset = make_patch_dataset(tmp_path_factory.mktemp("mlr") / "photos")
    model = tmp_path_factory.mktemp("mlr-model") / "patches.safetensors"
    fit_multilabel(TrainConfig.quick(), dataset, patch_split(), output=model)
    gallery = tmp_path_factory.mktemp("mlr-new") / "new"
    gallery.mkdir()
    for image in dataset.images[:8]:
        shutil.copy(image.path, gallery / image.path.name)
    for name in ("red", "blue"):
        for side in (14, 16, 18, 20):
            for mix in (0.6, 0.8, 1.0):
                pixels = np.array(patch_image((), 2000 + side * 10 + int(mix * 10)), float)
                pixels[20:20 + side, 20:20 + side] = \
                    np.array(COLOURS[name]) * mix + 128 * (1 - mix)
                Image.fromarray(pixels.astype(np.uint8)).save(gallery / f"{name}-{side}-{mix}.png")
    return model, gallery


@pytest.fixture(scope="module")
def engine_says(trained: tuple[Path, Path]) -> tuple[dict[str, MultiLabelPrediction],
                                                     tuple[float, ...]]:
    model, gallery = trained
    predictor = MultiLabelPredictor.from_file(model)
    found = {p.path: p for p in predictor.predict(sorted(str(p) for p in gallery.iterdir()))}
    return found, predictor.thresholds


@pytest.fixture
def styled(qapp):
    """The app's style sheet, as the app applies it (its fonts decide what fits)."""
    before = qapp.styleSheet()
    qapp.setStyleSheet(style_sheet())
    yield
    qapp.setStyleSheet(before)


def _classified(window, qtbot, trained: tuple[Path, Path]):
    model, gallery = trained
    page = window.classify_page
    window.sidebar.setCurrentRow(3)
    page.use_model_file(str(model))
    with qtbot.waitSignal(page.classification_finished, timeout=TIMEOUT_MS):
        page.open_sources([gallery])
    return page


def _shown(page) -> list[str]:
    proxy = page.proxy
    return [proxy.data(proxy.index(row, 0), PathRole) for row in range(proxy.rowCount())]


def test_all_of_shows_only_photos_with_every_ticked_label(styled, window, qtbot, trained,
                                                          engine_says) -> None:
    page = _classified(window, qtbot, trained)
    found, _ = engine_says
    filters = page.filters
    entries = [filters.show_filter.itemText(i) for i in range(filters.show_filter.count())]
    assert entries == ["All", "With blue", "With green", "With red", "Any of…", "All of…",
                       "Unsure", "No label", "Broken"]
    assert not filters.labels_button.isEnabled(), "ticks matter only for Any of / All of"
    filters.show_filter.setCurrentIndex(entries.index("All of…"))
    assert filters.labels_button.isEnabled() and filters.labels_button.text() == "Tick labels"
    for action in filters.labels_menu.actions():
        if action.data() in ("red", "blue"):
            action.trigger()  # what a click in the menu does
    assert filters.labels_button.text() == "blue, red"
    both = {path for path, p in found.items() if {"red", "blue"} <= set(p.labels)}
    either = {path for path, p in found.items() if {"red", "blue"} & set(p.labels)}
    assert both and either - both, "the gallery has photos with both and with one"
    assert set(_shown(page)) == both
    qtbot.wait(50)  # layouts settle
    assert window.width() == 1280 and audit(window) == [], "reads whole at 1280 × 800"
    filters.show_filter.setCurrentIndex(entries.index("Any of…"))
    assert set(_shown(page)) == either


def test_unsure_shows_exactly_the_photos_near_a_threshold_most_unsure_first(
        window, qtbot, trained, engine_says) -> None:
    page = _classified(window, qtbot, trained)
    found, thresholds = engine_says
    unsure = [path for path, p in found.items() if is_unsure(p.probabilities, thresholds)]
    assert 2 <= len(unsure) < len(found), "some photos unsure, some not"
    filters = page.filters
    filters.show_filter.setCurrentIndex(filters.show_filter.findText("Unsure"))
    assert filters.sort.currentData() == "doubt"
    shown = _shown(page)
    assert set(shown) == set(unsure)
    assert shown == sorted(unsure, key=lambda p: label_doubt(found[p].probabilities,
                                                             thresholds))
    assert f", {len(unsure)} unsure, 0 broken" in page.file_actions.summary.text()


def _labelled_dataset(window, qtbot, root: Path) -> bytes:
    """A labels.csv folder of 24 patch photos (every label among them), opened on the Data
    step."""
    dataset = make_patch_dataset(root, count=24, seed=3)
    rows = ["path,labels"] + [f"{image.relpath},{';'.join(LABELS[j] for j in image.labels)}"
                              for image in dataset.images]
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    with qtbot.waitSignal(window.data_page.scan_finished, timeout=TIMEOUT_MS):
        assert window.data_page.open_folder(root)
    assert window.session.multilabel is not None
    return (root / "labels.csv").read_bytes()


def test_review_toggles_labels_by_key_enter_appends_the_row_and_back_undoes_it(
        styled, window, qtbot, trained, engine_says, tmp_path: Path) -> None:
    root = tmp_path / "tagged"
    original = _labelled_dataset(window, qtbot, root)
    page = _classified(window, qtbot, trained)
    found, thresholds = engine_says
    items = page.review_items()
    assert len(items) >= 2 and page.review_button.isEnabled()
    assert items[0].path == min(
        (p for p in found if is_unsure(found[p].probabilities, thresholds)),
        key=lambda p: label_doubt(found[p].probabilities, thresholds)), "most unsure first"
    qtbot.mouseClick(page.review_button, Qt.MouseButton.LeftButton)
    # ordered by what a label would teach first (review_order), then open
    qtbot.waitUntil(lambda: page.review_dialog is not None, timeout=TIMEOUT_MS)
    dialog = page.review_dialog
    assert isinstance(dialog, MultiLabelReviewDialog) and dialog.isVisible()
    assert {item.path for item in dialog.items} == {item.path for item in items}
    assert dialog.teaches.text().startswith("Why now: unsure whether it shows ")
    first = dialog.items[0].path
    predicted = set(found[first].labels)
    assert set(dialog.ticked()) == predicted, "pre-ticked with the model's labels"
    assert dialog.toggles[1].text().startswith("2   green   ")
    qtbot.waitUntil(lambda: dialog.picture.pixmap() is not None
                    and not dialog.picture.pixmap().isNull(), timeout=TIMEOUT_MS)
    assert audit(dialog) == []

    qtbot.keyClick(dialog, Qt.Key.Key_2)                # toggle "green"
    wanted = tuple(sorted(predicted ^ {"green"}))
    assert dialog.ticked() == wanted
    qtbot.keyClick(dialog, Qt.Key.Key_Return)           # add it, on to the next photo
    assert dialog.counter.text().startswith(f"2 of {len(items)}")
    qtbot.waitUntil(lambda: dialog.queue.idle, timeout=TIMEOUT_MS)
    rows = dict(read_labels_csv(root).rows)
    name = Path(first).name
    assert rows[name] == wanted and (root / name).read_bytes() == Path(first).read_bytes()
    added = (root / "labels.csv").read_bytes()
    assert added.startswith(original) and added.count(b"\n") == original.count(b"\n") + 1

    qtbot.keyClick(dialog, Qt.Key.Key_Backspace)        # back: the row and the copy go
    assert dialog.counter.text().startswith(f"1 of {len(items)}")
    assert dialog.ticked() == wanted, "its ticks as they were"
    qtbot.waitUntil(lambda: dialog.queue.idle, timeout=TIMEOUT_MS)
    assert (root / "labels.csv").read_bytes() == original
    assert not (root / name).exists()

    qtbot.keyClick(dialog, Qt.Key.Key_Return)
    qtbot.keyClick(dialog, Qt.Key.Key_Space)            # skip the second
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.stack.currentWidget() is dialog.end
    qtbot.waitUntil(lambda: dialog.queue.idle and dialog.train_button.isEnabled(),
                    timeout=TIMEOUT_MS)
    assert dialog.end_text.text() == "1 photo labelled, 1 skipped — train again?"
    per_label = ", ".join(f"{label} +1" for label in wanted) or "no label +1"
    assert dialog.end.detail.text().startswith(f"Per label: {per_label}. Reviewed 2 of ")
    qtbot.mouseClick(dialog.close_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: not window.data_page.runner.busy, timeout=TIMEOUT_MS)
