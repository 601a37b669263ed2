"""Class folders as multi-label on the Data step (issue 23): the switch scans them again as
one multi-label dataset (a photo in several folders has each of their labels) and back, the
choice is remembered for the folder, and a single-label scan with many cross-folder copies
offers the switch in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from gui_steps import OPEN_TIMEOUT_MS, open_dataset
from PySide6.QtCore import Qt
from synthetic import make_dataset

from cheetahlion_gui.data.multilabel_switch import offers_multilabel
from training.data.multilabel_scan import scan_multilabel

SHARED = 6
"""Red photos also filed under blue/: 6 of 18 photos, an offer."""


@pytest.fixture
def shared_folders(tmp_path: Path) -> Path:
    """red/, blue/, green/ with six photos each, the red ones also copied into blue/."""
    root = make_dataset(tmp_path / "tags", classes=("red", "blue", "green"), per_class=SHARED)
    for photo in sorted((root / "red").iterdir()):
        shutil.copy(photo, root / "blue" / f"also-{photo.name}")
    return root


def _click_and_wait_for_scan(window, qtbot, button) -> None:
    with qtbot.waitSignal(window.data_page.scan_finished, timeout=OPEN_TIMEOUT_MS):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _issue_texts(page) -> list[str]:
    issues = page.health.issues
    return [issues.data(issues.index(row, 0)) for row in range(issues.rowCount())]


def test_the_switch_scans_as_multilabel_and_back(window, qtbot, messages,
                                                 shared_folders: Path) -> None:
    open_dataset(window, shared_folders)
    page, session = window.data_page, window.session
    switch = page.multilabel_switch
    assert session.multilabel is None and switch.isVisible() and not switch.check.isChecked()

    _click_and_wait_for_scan(window, qtbot, switch.check)
    dataset = session.multilabel
    assert dataset is not None and dataset.source == "folders" and not messages
    engine = scan_multilabel(shared_folders, from_folders=True)
    counts = engine.label_counts
    assert counts == {"blue": 2 * SHARED, "green": SHARED, "red": SHARED}
    summary = page.overview.summary.text()
    assert f"<b>{3 * SHARED}</b> usable images with <b>3</b> labels (from folders)" in summary
    assert ", ".join(f"{name} ({count})" for name, count in counts.items()) in summary
    assert page.overview.chart.plotItem.titleLabel.text == "Images per label"
    assert switch.check.isChecked() and not switch.offer.isVisible()
    tabs = page.tabs
    finder = tabs.indexOf(page.label_suspects_view)
    assert tabs.isTabVisible(finder) and tabs.isTabEnabled(finder)
    assert not tabs.isTabVisible(tabs.indexOf(page.suspects_view))
    assert session.settings.scans_as_multilabel(dataset.root)

    page.rescan()  # remembered: "Scan again" stays multi-label
    qtbot.waitUntil(lambda: not page.runner.busy, timeout=OPEN_TIMEOUT_MS)
    assert session.multilabel is not None and switch.check.isChecked()

    _click_and_wait_for_scan(window, qtbot, switch.check)
    assert session.multilabel is None and session.dataset is not None
    assert session.dataset.class_counts == {"blue": 2 * SHARED, "green": SHARED, "red": SHARED}
    assert page.overview.chart.plotItem.titleLabel.text == "Images per class"
    assert not session.settings.scans_as_multilabel(dataset.root)
    assert tabs.isTabVisible(tabs.indexOf(page.suspects_view))
    assert not tabs.isTabVisible(finder)


def test_many_cross_folder_copies_offer_the_switch(window, qtbot, messages,
                                                   shared_folders: Path) -> None:
    open_dataset(window, shared_folders)
    page = window.data_page
    switch = page.multilabel_switch
    assert switch.offer.isVisible() and switch.offer_button.isVisible()
    assert switch.offer.text() == (f"{SHARED} of {3 * SHARED} photos sit in several class "
                                   "folders: this looks like a multi-label dataset.")
    assert any("sit in different classes" in text for text in _issue_texts(page)), \
        "the health report still names the copies"

    _click_and_wait_for_scan(window, qtbot, switch.offer_button)
    assert window.session.multilabel is not None and not messages
    assert switch.check.isChecked() and not switch.offer.isVisible()


def test_a_plain_folder_gets_no_offer(window, qtbot, tmp_path: Path) -> None:
    open_dataset(window, make_dataset(tmp_path / "plain", per_class=6))
    switch = window.data_page.multilabel_switch
    assert switch.isVisible() and not switch.check.isChecked()
    assert not switch.offer.isVisible() and not switch.offer_button.isVisible()


def test_the_offer_needs_five_photos_and_five_percent() -> None:
    assert not offers_multilabel(4, 10)  # 40 %, but four slips
    assert offers_multilabel(5, 100)
    assert not offers_multilabel(5, 101)  # five scattered among many
    assert offers_multilabel(50, 1000)


def test_class_folders_switched_to_multilabel_train_and_evaluate(window, qtbot, messages,
                                                                 shared_folders: Path) -> None:
    """The switch's dataset goes on through Train and Evaluate like a labels.csv folder: a
    multi-label model, evaluated on the folders' own validation photos, whose blue
    positives are the 12 blue photos of which 6 are red photos' copies."""
    from training.fitting.modelfile import read_metadata
    from training.predict.multilabel import is_multilabel

    open_dataset(window, shared_folders)
    _click_and_wait_for_scan(window, qtbot, window.data_page.multilabel_switch.check)
    assert window.session.multilabel is not None
    train = window.train_page
    window.sidebar.setCurrentRow(1)
    with qtbot.waitSignal(train.training_finished, timeout=OPEN_TIMEOUT_MS * 6):
        assert train.start()
    model = window.session.model_path
    assert model is not None and is_multilabel(read_metadata(model)) and not messages
    evaluate = window.evaluate_page
    with qtbot.waitSignal(evaluate.evaluation_finished, timeout=OPEN_TIMEOUT_MS * 6):
        window.sidebar.setCurrentRow(2)
    report = evaluate.multilabel_report
    assert report is not None and report.labels == ("blue", "green", "red") and not messages
    validation = window.session.multilabel_split.val
    blue = sum(1 for i in validation
               if 0 in window.session.multilabel.images[i].labels)
    (scores,) = [s for s in report.per_label if s.name == "blue"]
    assert scores.true_positives + scores.false_negatives == blue
