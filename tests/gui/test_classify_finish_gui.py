"""The Classify step and Review unsure as issue 20's user met them: the page fits a 13-inch
laptop's 1280x800 with its counts on screen (so no wider size is saved for the next start
either), the counts say what each one counts, a "none of these" photo gets no confident
suggestion, Backspace says what it really undoes, a class made and undone goes away, and the
end page offers training only when there is something new to train on."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from gui_steps import OPEN_TIMEOUT_MS, open_dataset
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QAbstractButton
from synthetic import make_dataset, textured_image

from cheetahlion_gui.classify.review_dialog import ReviewDialog
from cheetahlion_gui.jobs.classify import GalleryFiles, PredictionBatch
from cheetahlion_gui.widgets.gallery_model import GalleryItem
from training.records.novelty_calibration import NoveltyCalibration

CALIBRATION = NoveltyCalibration(quantiles=tuple(i / 100 for i in range(101)), k=1,
                                 reference_size=20, validation_size=20)
"""Novelty scores 0..1 at percentiles 0..100: above 0.95 is "none of these" at 95 %."""


def _classified(window, qtbot, folder: Path, long_names: bool = False):
    """Twenty photos classified as the job would report them: 12 ordinary and sure, 4 unsure,
    4 unlike the training photos (3 of them also below the unsure threshold), 3 skipped."""
    folder.mkdir(parents=True)
    paths = []
    for i in range(20):
        name = f"a-rather-long-camera-file-name-{i:04d}.png" if long_names else f"{i}.png"
        textured_image((200, 40, 40), i, size=48).save(folder / name)
        paths.append(str(folder / name))
    page = window.classify_page
    window.sidebar.setCurrentRow(3)
    page.open_sources([folder], classify=False)
    page.generation += 1
    skipped = tuple((str(folder / f"notes-{i}.txt"), "is not an image") for i in range(3))
    page._progressed(GalleryFiles(page.generation, tuple(paths), skipped))
    confidence = [0.95] * 12 + [0.55] * 4 + [0.5, 0.6, 0.65, 0.9]
    novelty = [0.2] * 16 + [0.99] * 4
    predictions = tuple(SimpleNamespace(path=p, label="red", confidence=c,
                                        probabilities=(c, 1 - c), error=None, novelty=n,
                                        threshold=None)
                        for p, c, n in zip(paths, confidence, novelty, strict=True))
    page._progressed(PredictionBatch(page.generation, predictions, ("red", "blue"),
                                     CALIBRATION))
    page._done = len(paths)
    page._succeeded(len(paths))
    page.classification_finished.emit()  # the job controller's last word
    return page


def test_the_counts_say_what_they_count_and_add_up_to_the_review(window, qtbot,
                                                                 tmp_path: Path) -> None:
    open_dataset(window, make_dataset(tmp_path / "colours", per_class=4))
    page = _classified(window, qtbot, tmp_path / "new")
    text = page.file_actions.summary.text()
    assert "4 none of these, 4 unsure (8 to review)" in text, text
    assert text.endswith(", 3 skipped (not images)")
    assert page.review_button.text() == "Review unsure (8)…"
    assert len(page.review_items()) == 8


@pytest.mark.parametrize("size", [(1280, 800), (1600, 1000)])
def test_classify_fits_the_screen_with_its_counts(window, qtbot, tmp_path: Path, size) -> None:
    open_dataset(window, make_dataset(tmp_path / "a-dataset-of-big-cats", per_class=4))
    window.resize(*size)
    page = _classified(window, qtbot, tmp_path / "photos-from-the-summer-holiday-2026",
                       long_names=True)
    qtbot.wait(50)  # layouts settle
    assert window.minimumSizeHint().width() <= 1280
    assert window.width() == size[0], "the window did not widen itself"
    summary = page.file_actions.summary
    whole = summary.width() >= summary.fontMetrics().horizontalAdvance(summary.text()) or (
        summary.wordWrap() and summary.height() >= summary.heightForWidth(summary.width()))
    assert whole and summary.mapTo(page, QPoint(summary.width(), 0)).x() <= page.width(), \
        "the counts are on screen, whole"
    for button in page.findChildren(QAbstractButton):
        if button.isVisible():
            assert button.width() >= button.sizeHint().width(), button.text()
            right = button.mapTo(page, QPoint(button.width(), 0)).x()
            assert right <= page.width(), button.text()


def _photos(folder: Path, count: int) -> list[str]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        textured_image((40, 200, 40), 100 + i, size=48).save(folder / f"photo-{i}.png")
        paths.append(str(folder / f"photo-{i}.png"))
    return paths


def _review(qtbot, tmp_path: Path, items: list[GalleryItem]) -> ReviewDialog:
    root = make_dataset(tmp_path / "dataset", per_class=2)
    dialog = ReviewDialog(items, ("red", "blue"), ("blue", "red"), root)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def _buttons(dialog: ReviewDialog) -> list[QAbstractButton]:
    return [dialog.class_buttons.button(i) for i in range(len(dialog.classes))]


def test_none_of_these_gets_no_suggestion(qtbot, tmp_path: Path) -> None:
    ants, unsure = _photos(tmp_path / "new", 2)
    dialog = _review(qtbot, tmp_path, [
        GalleryItem(ants, label="red", confidence=0.92, probabilities=(0.92, 0.08),
                    novelty=0.99, unfamiliar=True),
        GalleryItem(unsure, label="red", confidence=0.55, probabilities=(0.55, 0.45)),
    ])
    assert not any(button.property("guess") for button in _buttons(dialog))
    assert not any("%" in button.text() for button in _buttons(dialog)), \
        [b.text() for b in _buttons(dialog)]
    assert "suggests no class" in dialog.reason.text()
    qtbot.keyClick(dialog, Qt.Key.Key_Space)
    guessed = [b.text() for b in _buttons(dialog) if b.property("guess")]
    assert guessed == ["2   red   55%"], "an unsure photo keeps the model's guess"
    dialog.reject()
    dialog.reject()


def test_undo_says_what_it_undoes_and_takes_a_made_class_back(qtbot, tmp_path: Path) -> None:
    gone, first, second = _photos(tmp_path / "new", 3)
    dialog = _review(qtbot, tmp_path, [GalleryItem(p, label="red", confidence=0.6,
                                                   probabilities=(0.6, 0.4))
                                       for p in (gone, first, second)])
    Path(gone).unlink()  # the copy will fail: nothing is taken out again
    qtbot.keyClick(dialog, Qt.Key.Key_1)
    qtbot.waitUntil(lambda: dialog.queue.idle, timeout=OPEN_TIMEOUT_MS)
    assert dialog.queue.failed
    qtbot.keyClick(dialog, Qt.Key.Key_Backspace)
    assert dialog.status.text() == "Back to photo-0.png (it was not copied into 'blue')"
    qtbot.keyClick(dialog, Qt.Key.Key_Space)

    qtbot.keyClick(dialog, Qt.Key.Key_N)
    qtbot.keyClicks(dialog.new_class_edit, "ants")
    qtbot.keyClick(dialog.new_class_edit, Qt.Key.Key_Return)
    assert dialog.classes == ["blue", "red", "ants"] and len(_buttons(dialog)) == 3
    qtbot.waitUntil(lambda: dialog.queue.idle, timeout=OPEN_TIMEOUT_MS)
    ants = dialog.queue.root / "ants"
    assert ants.is_dir()
    qtbot.keyClick(dialog, Qt.Key.Key_Backspace)
    assert dialog.status.text() == "Taking photo-1.png out of 'ants' again"
    assert dialog.classes == ["blue", "red"]
    assert len(dialog.class_buttons.buttons()) == 2, "no key left for the class undone"
    shown = [b.text() for b in dialog.findChildren(QAbstractButton) if b.isVisible()]
    assert not any("ants" in text for text in shown), shown
    qtbot.waitUntil(lambda: dialog.queue.idle, timeout=OPEN_TIMEOUT_MS)
    assert not ants.exists()
    dialog.reject()
    dialog.reject()


def test_the_end_offers_training_only_after_adding(qtbot, tmp_path: Path) -> None:
    [photo] = _photos(tmp_path / "new", 1)
    dialog = _review(qtbot, tmp_path, [GalleryItem(photo, label="red", confidence=0.6,
                                                   probabilities=(0.6, 0.4))])
    qtbot.keyClick(dialog, Qt.Key.Key_Space)
    assert dialog.stack.currentWidget() is dialog.end
    assert dialog.end_text.text() == "No photos added."
    assert "Train again" not in dialog.end.detail.text()
    assert not dialog.train_button.isVisibleTo(dialog)
    dialog.reject()
