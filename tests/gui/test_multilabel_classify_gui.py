"""Classify with a multi-label model (issue 23) as a user sees it: each tile names every
label its photo passed, with its probability ("no label" when none did); Show offers
"With <label>"; sort by confidence orders by the highest probability; Export CSV writes
`path,labels,<one column per label>`; an unreadable file is a broken tile. The numbers are
the engine's own (`MultiLabelPredictor` on the same files)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from layout_audit import audit
from multilabel_synthetic import make_patch_dataset, patch_split

from cheetahlion_gui.resources import style_sheet
from cheetahlion_gui.widgets.gallery_model import PathRole
from training.fitting.multilabel import fit_multilabel
from training.predict.multilabel import MultiLabelPredictor
from training.records.config import TrainConfig
from training.records.multilabel import MultiLabelPrediction
from training.records.runtime_words import frozen_words

CLASSIFY_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(model file, a folder of 24 of its photos and one unreadable file); trained once."""
    dataset = make_patch_dataset(tmp_path_factory.mktemp("ml") / "photos")
    model = tmp_path_factory.mktemp("ml-model") / "patches.safetensors"
    fit_multilabel(TrainConfig.quick(), dataset, patch_split(), output=model)
    folder = tmp_path_factory.mktemp("ml-new") / "new"
    folder.mkdir()
    for image in dataset.images[:24]:
        shutil.copy(image.path, folder / image.path.name)
    (folder / "zz-broken.png").write_bytes(b"not a png at all")
    return model, folder


@pytest.fixture(scope="module")
def engine_says(trained_model: tuple[Path, Path]) -> dict[str, MultiLabelPrediction]:
    model, folder = trained_model
    predictor = MultiLabelPredictor.from_file(model)
    paths = sorted(str(p) for p in folder.iterdir())
    return {p.path: p for p in predictor.predict(paths)}


def _classified(window, qtbot, trained_model: tuple[Path, Path]):
    model, folder = trained_model
    page = window.classify_page
    window.sidebar.setCurrentRow(3)
    page.use_model_file(str(model))
    with qtbot.waitSignal(page.classification_finished, timeout=CLASSIFY_TIMEOUT_MS):
        page.open_sources([folder])
    return page


def _tile_texts(page) -> dict[str, str]:
    """Path → the text of each tile shown, in the order shown."""
    proxy = page.proxy
    return {proxy.data(proxy.index(r, 0), PathRole): proxy.data(proxy.index(r, 0))
            for r in range(proxy.rowCount())}


def _expected_line(prediction: MultiLabelPrediction, labels: tuple[str, ...]) -> str:
    chances = dict(zip(labels, prediction.probabilities, strict=True))
    if not prediction.labels:
        return "no label"
    return " · ".join(f"{name} {chances[name]:.0%}"
                      for name in sorted(prediction.labels, key=lambda n: -chances[n]))


def test_each_tile_shows_every_label_with_its_probability(
        window, qtbot, trained_model, engine_says) -> None:
    page = _classified(window, qtbot, trained_model)
    labels = page.model.classes
    assert labels == ("blue", "green", "red")
    texts = _tile_texts(page)
    assert set(texts) == set(engine_says)
    for path, prediction in engine_says.items():
        name = Path(path).name
        if prediction.error is not None:
            assert texts[path] == f"{name}\nbroken"
        else:
            assert texts[path] == f"{name}\n{_expected_line(prediction, labels)}"
    assert any(" · " in text for text in texts.values()), "some photo has two labels"
    assert any(text.endswith("\nno label") for text in texts.values())
    summary = page.file_actions.summary.text()
    red = sum(1 for p in engine_says.values() if "red" in p.labels)
    none = sum(1 for p in engine_says.values() if p.error is None and not p.labels)
    assert page.runtime in ("onnxruntime", "pytorch") and page.precision == "float"
    ran = frozen_words(page.runtime, page.precision)  # "onnxruntime · float": what ran
    assert summary.startswith(f"25 of 25 classified with {ran}: blue "), summary
    assert f"red {red}; {none} with no label, " in summary, summary
    assert summary.endswith(" unsure, 1 broken"), summary


def test_show_offers_each_label_and_sort_follows_the_highest_probability(
        window, qtbot, trained_model, engine_says) -> None:
    page = _classified(window, qtbot, trained_model)
    combo = page.filters.show_filter
    entries = [combo.itemText(i) for i in range(combo.count())]
    assert entries == ["All", "With blue", "With green", "With red", "Any of…", "All of…",
                       "Unsure", "No label", "Broken"]
    combo.setCurrentIndex(entries.index("With red"))
    shown = set(_tile_texts(page))
    assert shown == {p for p, pr in engine_says.items() if "red" in pr.labels}
    assert all(" red " in f" {text.split(chr(10))[1]} " for text in _tile_texts(page).values())
    combo.setCurrentIndex(entries.index("No label"))
    assert set(_tile_texts(page)) == {p for p, pr in engine_says.items()
                                      if pr.error is None and not pr.labels}
    combo.setCurrentIndex(entries.index("All"))
    page.filters.sort.setCurrentIndex(page.filters.sort.findData("confidence"))
    order = list(_tile_texts(page))
    highest = sorted((p for p, pr in engine_says.items() if pr.error is None),
                     key=lambda p: max(engine_says[p].probabilities))
    assert order[:len(highest)] == highest
    assert not page.filters.threshold.isEnabled(), "each label has its own threshold"
    assert not page.file_actions.move_button.isEnabled()


def test_export_csv_has_a_column_per_label(window, qtbot, trained_model, engine_says,
                                           tmp_path: Path) -> None:
    page = _classified(window, qtbot, trained_model)
    target = tmp_path / "results.csv"
    with qtbot.waitSignal(page.file_actions.files_sorted, timeout=CLASSIFY_TIMEOUT_MS):
        assert page.export_csv_to(target, page.chosen_items())
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["path", "labels", "blue", "green", "red"]
    by_path = {row[0]: row for row in rows[1:]}
    assert set(by_path) == set(engine_says)
    for path, prediction in engine_says.items():
        row = by_path[path]
        if prediction.error is not None:
            assert row[1:] == ["", "", "", ""]
            continue
        assert row[1] == ";".join(prediction.labels)
        assert [float(x) for x in row[2:]] == pytest.approx(prediction.probabilities, abs=1e-5)


def test_copy_puts_each_photo_into_every_labels_folder(window, qtbot, trained_model,
                                                       engine_says, tmp_path: Path) -> None:
    page = _classified(window, qtbot, trained_model)
    assert page.file_actions.copy_button.isEnabled() and not page.file_actions.move_button \
        .isEnabled()
    target = tmp_path / "sorted"
    with qtbot.waitSignal(page.file_actions.files_sorted, timeout=CLASSIFY_TIMEOUT_MS):
        assert page.sort_files_into(target, page.chosen_items(), move=False)
    for folder in ("blue", "green", "red", "none of these"):
        label = None if folder == "none of these" else folder
        wanted = {Path(p).name for p, pr in engine_says.items() if pr.error is None
                  and (label in pr.labels if label else not pr.labels)}
        found = {f.name for f in (target / folder).iterdir()} if (target / folder).exists() \
            else set()
        assert found == wanted, folder
    assert all(Path(p).exists() for p in engine_says), "copied, not moved"


@pytest.fixture
def styled(qapp):
    """The app's style sheet, as the app applies it (its fonts decide what fits)."""
    before = qapp.styleSheet()
    qapp.setStyleSheet(style_sheet())
    yield
    qapp.setStyleSheet(before)


def test_the_classified_gallery_reads_whole_at_1280_by_800(styled, window, qtbot,
                                                            trained_model) -> None:
    page = _classified(window, qtbot, trained_model)
    page.filters.show_filter.setCurrentIndex(page.filters.show_filter.findText("With green"))
    qtbot.wait(50)  # layouts settle
    assert window.width() == 1280
    assert audit(window) == []
    assert page.proxy.rowCount() == 1, "021.png: green and red"
    assert " · " in page.proxy.data(page.proxy.index(0, 0))
    delegate, metrics = page.view.itemDelegate(), page.view.fontMetrics()
    for row in range(page.proxy.rowCount()):
        text = page.proxy.data(page.proxy.index(row, 0))
        assert delegate.lines(metrics, text)[1:] == text.split("\n")[1:], "labels shown whole"


def test_the_preview_explains_with_each_labels_own_probability(trained_model, engine_says
                                                               ) -> None:
    """Grad-CAM's caption ("Where the model looked for 'red' (92 %)") and its list of labels
    give the sigmoid probabilities the tile shows, not softmax shares among the labels."""
    from training.insight.explain import explainer_for

    model, _folder = trained_model
    path, prediction = next((p, pr) for p, pr in engine_says.items() if len(pr.labels) == 2)
    explanation = explainer_for(str(model)).explain(path, None)
    assert explanation.probabilities == pytest.approx(prediction.probabilities, abs=1e-4)
