"""Review unsure in the order a label teaches most (classify/review_order.py): the ordering
job runs in its own thread, the review shows each photo's reason, a near-copy of a photo
already shown comes last, a failed ordering falls back to listing order with a note, and
the end counts labels and skips."""

from __future__ import annotations

from pathlib import Path

from gui_steps import OPEN_TIMEOUT_MS
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QWidget
from synthetic import make_dataset, make_near_copy_gallery

from cheetahlion_gui.classify.review_dialog import ReviewDialog
from cheetahlion_gui.classify.review_order import ORDERED, ReviewOrdering, ReviewPlan
from cheetahlion_gui.widgets.gallery_model import GalleryItem

CLASSES = ("red", "blue")


def _plan(qtbot, tmp_path: Path, model: Path, paths: list[str]) -> tuple[ReviewPlan, Path]:
    """Order unsure gallery items of `paths` against a small dataset, in the job's thread."""
    dataset = make_dataset(tmp_path / "dataset", classes=("green", "yellow"), per_class=2)
    parent = QWidget()
    qtbot.addWidget(parent)
    button = QPushButton("Review unsure (3)…", parent)
    ordering = ReviewOrdering(button, parent)
    items = [GalleryItem(path, label="red", confidence=0.5, probabilities=(0.5, 0.5))
             for path in paths]
    with qtbot.waitSignal(ordering.planned, timeout=OPEN_TIMEOUT_MS) as planned:
        assert ordering.start(items, CLASSES, sorted(dataset.rglob("*.png")), str(model), 1)
        assert ordering.busy and button.text().startswith("Ordering by what a label")
    qtbot.waitUntil(lambda: not ordering.busy, timeout=OPEN_TIMEOUT_MS)
    return planned.args[0], dataset


def _dialog(qtbot, plan: ReviewPlan, root: Path) -> ReviewDialog:
    dialog = ReviewDialog(plan.items, CLASSES, CLASSES, root, reasons=plan.reasons,
                          note=plan.note)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def test_the_review_walks_the_photos_in_the_order_a_label_teaches(
        qtbot, tmp_path: Path, colours_model: Path) -> None:
    plan, dataset = _plan(qtbot, tmp_path, colours_model,
                          make_near_copy_gallery(tmp_path / "gallery"))
    names = [Path(item.path).name for item in plan.items]
    assert names == ["a-red.png", "c-blue.png", "b-red-again.png"], "the near-copy last"
    dialog = _dialog(qtbot, plan, dataset)
    assert dialog.status.text() == ORDERED
    assert dialog.file_name.text() == "a-red.png"
    assert dialog.teaches.isVisible()
    assert dialog.teaches.text() == ("Why now: unsure between red (50%) and blue (50%); "
                                     "unlike the photos labelled so far")
    qtbot.keyClick(dialog, Qt.Key.Key_Space)
    assert dialog.file_name.text() == "c-blue.png"
    assert dialog.teaches.text().startswith("Why now: unsure between")
    qtbot.keyClick(dialog, Qt.Key.Key_2)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: dialog.queue.idle and dialog.train_button.isEnabled(),
                    timeout=OPEN_TIMEOUT_MS)
    assert dialog.end_text.text() == "1 photo labelled, 1 skipped — train again?"
    assert (dataset / "blue" / "c-blue.png").is_file()
    dialog.reject()
    dialog.reject()


def test_a_failed_ordering_falls_back_to_listing_order(
        qtbot, tmp_path: Path, colours_model: Path) -> None:
    paths = make_near_copy_gallery(tmp_path / "gallery")
    Path(paths[1]).write_bytes(b"not an image")
    plan, dataset = _plan(qtbot, tmp_path, colours_model, paths)
    assert [item.path for item in plan.items] == paths and plan.reasons == ()
    assert plan.note.startswith("Listing order: could not order by what a label would teach")
    assert "b-red-again.png" in plan.note
    dialog = _dialog(qtbot, plan, dataset)
    assert dialog.status.text() == plan.note
    assert not dialog.teaches.isVisible()
    assert dialog.file_name.text() == "a-red.png"
    dialog.reject()
    dialog.reject()


def test_a_second_click_stops_ordering_and_reviews_in_listing_order(
        qtbot, tmp_path: Path, colours_model: Path) -> None:
    paths = make_near_copy_gallery(tmp_path / "gallery")
    parent = QWidget()
    qtbot.addWidget(parent)
    ordering = ReviewOrdering(QPushButton(parent), parent)
    items = [GalleryItem(path, label="red", confidence=0.5, probabilities=(0.5, 0.5))
             for path in paths]
    with qtbot.waitSignal(ordering.planned, timeout=OPEN_TIMEOUT_MS) as planned:
        assert ordering.start(items, CLASSES, [], str(colours_model), 1)
        ordering.stop()
    qtbot.waitUntil(lambda: not ordering.busy, timeout=OPEN_TIMEOUT_MS)
    plan = planned.args[0]
    assert [item.path for item in plan.items] == paths and plan.reasons == ()
    assert plan.note == "Listing order: ordering by what a label would teach was stopped."
