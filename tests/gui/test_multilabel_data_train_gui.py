"""A multi-label folder (labels.csv) in the app, issue 23: the Data step shows its labels
with their counts and its health findings, the Train step's Start trains it in quick mode
or fine-tunes it (live curves, Stop) with an honest accuracy plot title, and the model
becomes the one Classify uses."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from multilabel_synthetic import LABELS, make_patch_dataset
from synthetic import make_dataset

from cheetahlion_gui.evaluate.multilabel_cells import CELLS
from cheetahlion_gui.train.page import MULTILABEL_ACCURACY_TITLE, MULTILABEL_MAP_TITLE
from training.data.multilabel_scan import scan_multilabel
from training.fitting.modelfile import read_metadata
from training.predict.multilabel import evaluate_multilabel, is_multilabel
from training.records.multilabel import MultiLabelDataset

RUN_TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def labelled_folder(tmp_path_factory: pytest.TempPathFactory) -> MultiLabelDataset:
    """The 120 patch photos with their labels.csv, and one photo the CSV does not list."""
    dataset = make_patch_dataset(tmp_path_factory.mktemp("ml-data") / "patches")
    rows = ["path,labels"] + [f"{image.relpath},{';'.join(LABELS[j] for j in image.labels)}"
                              for image in dataset.images]
    (dataset.root / "labels.csv").write_text("\n".join(rows) + "\n")
    shutil.copy(dataset.images[0].path, dataset.root / "not-listed.png")
    return dataset


def _scanned(window, qtbot, folder: Path) -> MultiLabelDataset:
    with qtbot.waitSignal(window.data_page.scan_finished, timeout=RUN_TIMEOUT_MS):
        assert window.data_page.open_folder(folder)
    assert window.session.multilabel is not None
    return window.session.multilabel


def test_data_shows_labels_and_findings_then_train_gives_the_model_in_use(
        window, qtbot, labelled_folder: MultiLabelDataset, messages) -> None:
    dataset = _scanned(window, qtbot, labelled_folder.root)
    engine = scan_multilabel(labelled_folder.root)
    counts = engine.label_counts
    summary = window.data_page.overview.summary.text()
    assert f"<b>{len(engine.images)}</b> usable images with <b>3</b> labels" in summary
    assert ", ".join(f"{name} ({counts[name]})" for name in LABELS) in summary
    unlabelled = sum(1 for image in engine.images if not image.labels)
    assert f"<b>{unlabelled}</b> with no label" in summary
    issues = window.data_page.health.issues
    shown = [issues.data(issues.index(r, 0)) for r in range(issues.rowCount())]
    assert len(shown) == len(engine.report.issues) >= 1
    assert any("not-listed.png" in text for text in shown), shown
    tabs, page = window.data_page.tabs, window.data_page
    assert not tabs.isTabVisible(tabs.indexOf(page.suspects_view)), "single-label finder"
    assert tabs.isTabVisible(tabs.indexOf(page.label_suspects_view)), "label finder"
    assert window.windowTitle() == f"CheetahLion — {dataset.root.name}"

    page = window.train_page
    window.sidebar.setCurrentRow(1)
    assert page.progress_panel.phase_label.text().startswith(
        f"Ready to train on {dataset.root.name} (multi-label: blue, green, red)")
    with qtbot.waitSignal(page.training_finished, timeout=RUN_TIMEOUT_MS):
        assert page.start()
    assert messages == []
    assert page.progress_panel.plots.accuracy_plot.plotItem.titleLabel.text \
        == MULTILABEL_ACCURACY_TITLE
    model = window.session.model_path
    assert model is not None and is_multilabel(read_metadata(model))
    assert "validation mAP" in page.progress_panel.phase_label.text()
    (row,) = page.history_panel.model.records  # the run joins the folder's history
    assert row.is_multilabel and row.model_path == model and row.val_map is not None

    evaluate = window.evaluate_page
    with qtbot.waitSignal(evaluate.evaluation_finished, timeout=RUN_TIMEOUT_MS):
        window.sidebar.setCurrentRow(2)  # the page evaluates the model in use when shown
    _the_table_is_the_engines(evaluate, evaluate_multilabel(
        model, dataset, window.session.multilabel_split.val))

    classify = window.classify_page
    window.sidebar.setCurrentRow(3)
    with qtbot.waitSignal(classify.classification_finished, timeout=RUN_TIMEOUT_MS):
        classify.open_sources([labelled_folder.root])  # "The chosen run's model"
    assert classify.model.multilabel and classify.model.classes == LABELS
    # the photos it was trained on: every feature was stored by training, and it says so
    assert classify.file_actions.summary.text().startswith(
        "121 of 121 classified with stored float features: blue ")


def _the_table_is_the_engines(page, report) -> None:
    """Every cell of the per-label table and the summary's figures, as the engine gives them."""
    table = page.multilabel_scores.per_label
    cells = [[table.data(table.index(r, c)) for c in range(table.columnCount())]
             for r in range(table.rowCount())]
    assert cells == [[s.name, f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}",
                      f"{s.average_precision:.3f}", f"{s.ece:.3f}", f"{s.threshold:.2f}",
                      str(s.true_positives), str(s.false_positives), str(s.false_negatives),
                      str(s.true_negatives), str(s.positives)] for s in report.per_label]
    summary = page.multilabel_scores.summary.text()
    for figure in (f"mAP <b>{report.mean_average_precision:.3f}</b>",
                   f"macro-F1 <b>{report.macro_f1:.3f}</b>",
                   f"micro-F1 {report.micro_f1:.3f}", f"exact match {report.exact_match:.1%}",
                   f"on {len(report.outcomes)} validation images"):
        assert figure in summary, (figure, summary)
    assert page.gallery.rowCount() == min(len(report.mistakes), 24)
    for scores in report.per_label:  # each count's photos are the ones the engine counted
        for cell, count in zip(CELLS, (scores.true_positives, scores.false_positives,
                                       scores.false_negatives, scores.true_negatives),
                               strict=True):
            page.show_label_cell(scores.name, cell)
            assert page.gallery.rowCount() == count, (scores.name, cell.column)
            assert page.gallery_title.text().startswith(f"{scores.name} — {cell.name} ({count})")


def test_finetune_draws_live_curves_and_stop_keeps_a_model(window, qtbot, labelled_folder,
                                                           messages) -> None:
    """Fine-tune mode trains the whole network: its epochs reach the plots while it runs
    (the "accuracy" curve titled as the validation mAP it is), Stop ends it at the next
    batch, and the best model so far becomes the one in use, its run in the history."""
    _scanned(window, qtbot, labelled_folder.root)
    page, form = window.train_page, window.train_page.form
    form.mode.setCurrentIndex(form.mode.findData("finetune"))
    form.epochs.setValue(6)
    form.image_size.setValue(64)
    plots = page.progress_panel.plots
    with qtbot.waitSignal(page.training_finished, timeout=RUN_TIMEOUT_MS):
        assert page.start()
        qtbot.waitUntil(lambda: len(plots.history.epochs) >= 1, timeout=RUN_TIMEOUT_MS)
        page.stop()
    history = plots.history  # the run's, which Start put on the plots
    assert messages == []
    assert plots.accuracy_plot.plotItem.titleLabel.text == MULTILABEL_MAP_TITLE
    assert history.step_losses and all(0 <= value <= 1 for value in history.val_accuracy)
    model = window.session.model_path
    assert model is not None and read_metadata(model)["config"]["mode"] == "finetune"
    text = page.progress_panel.phase_label.text()
    assert ", stopped: validation mAP" in text, text
    (row,) = page.history_panel.model.records
    assert row.config["mode"] == "finetune" and row.stopped == "cancelled"
    assert row.val_map is not None and row.model_path == model


def test_a_class_folder_dataset_opened_next_is_single_label_again(
        window, qtbot, labelled_folder, tmp_path: Path, messages) -> None:
    _scanned(window, qtbot, labelled_folder.root)
    assert not window.train_page.compare(), "comparing networks needs class folders"
    assert messages[-1][0] == "Not for multi-label datasets yet"
    folder = make_dataset(tmp_path / "colours", per_class=4)
    page = window.data_page
    qtbot.waitUntil(lambda: not page.runner.busy, timeout=RUN_TIMEOUT_MS)  # as a user would
    with qtbot.waitSignal(page.scan_finished, timeout=RUN_TIMEOUT_MS):
        assert page.open_folder(folder), "refused: a scan was still running"
    assert window.session.multilabel is None and window.session.dataset is not None
    assert window.data_page.tabs.isTabEnabled(1)
    assert window.data_page.overview.chart.plotItem.titleLabel.text == "Images per class"
    assert window.windowTitle() == "CheetahLion — colours"
