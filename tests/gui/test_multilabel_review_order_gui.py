"""A multi-label gallery's Review unsure in the order a label teaches most (issue 24): the
ordering job (classify/review_order.py with the model's thresholds) puts a near-copy of a
photo already shown last, the dialog says "Why now" naming the unsure labels, keys 1–9,
Enter and Space work as before, and the end page counts labels and skips; a failed ordering
falls back to most unsure first with a note."""

from __future__ import annotations

from pathlib import Path

from gui_steps import OPEN_TIMEOUT_MS
from multilabel_synthetic import LABELS, make_patch_dataset
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QWidget
from synthetic import make_near_copy_gallery

from cheetahlion_gui.classify.multilabel_review import MultiLabelReviewDialog
from cheetahlion_gui.classify.review_order import ORDERED, ReviewOrdering, ReviewPlan
from cheetahlion_gui.widgets.gallery_model import GalleryItem
from training.data.labels_csv import read_labels_csv

MODEL_LABELS = ("red", "blue")
THRESHOLDS = (0.5, 0.4)
PROBABILITIES = ((0.5, 0.9), (0.5, 0.9), (0.35, 0.9))
"""a-red and its near-copy b-red-again right on red's threshold, c-blue a little off it."""


def _labelled_root(root: Path) -> Path:
    """A small labels.csv dataset (labels blue, green, red) the review adds to."""
    dataset = make_patch_dataset(root, count=6)
    rows = ["path,labels"] + [f"{image.relpath},{';'.join(LABELS[j] for j in image.labels)}"
                              for image in dataset.images]
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def _plan(qtbot, paths: list[str], model: Path, dataset: list[Path]) -> ReviewPlan:
    parent = QWidget()
    qtbot.addWidget(parent)
    button = QPushButton("Review unsure (3)…", parent)
    ordering = ReviewOrdering(button, parent)
    items = [GalleryItem(path, labels=("blue",), confidence=0.9, probabilities=p)
             for path, p in zip(paths, PROBABILITIES, strict=True)]
    with qtbot.waitSignal(ordering.planned, timeout=OPEN_TIMEOUT_MS) as planned:
        assert ordering.start(items, MODEL_LABELS, dataset, str(model), 1, THRESHOLDS)
        assert button.toolTip() == "Click to stop ordering and review most unsure first"
    qtbot.waitUntil(lambda: not ordering.busy, timeout=OPEN_TIMEOUT_MS)
    return planned.args[0]


def _dialog(qtbot, plan: ReviewPlan, root: Path) -> MultiLabelReviewDialog:
    dialog = MultiLabelReviewDialog(plan.items, MODEL_LABELS, THRESHOLDS, LABELS, root,
                                    reasons=plan.reasons, note=plan.note)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def test_the_review_walks_the_photos_in_the_order_a_label_teaches(
        qtbot, tmp_path: Path, colours_model: Path) -> None:
    root = _labelled_root(tmp_path / "tagged")
    plan = _plan(qtbot, make_near_copy_gallery(tmp_path / "gallery"), colours_model,
                 sorted(root.glob("*.png")))
    names = [Path(item.path).name for item in plan.items]
    assert names == ["a-red.png", "c-blue.png", "b-red-again.png"], "the near-copy last"
    dialog = _dialog(qtbot, plan, root)
    assert dialog.status.text() == ORDERED
    assert dialog.file_name.text() == "a-red.png"
    assert dialog.teaches.isVisible() and not dialog.reason.isVisible(), "said once"
    assert dialog.teaches.text() == ("Why now: unsure whether it shows red (50%, threshold "
                                     "50%); unlike the photos labelled so far")
    qtbot.keyClick(dialog, Qt.Key.Key_Space)            # skip a-red
    assert dialog.file_name.text() == "c-blue.png"
    assert dialog.teaches.text().startswith("Why now: unsure whether it shows red (35%, "
                                            "threshold 50%)")
    assert dialog.ticked() == ("blue",)
    qtbot.keyClick(dialog, Qt.Key.Key_1)                # untick blue (label 1)
    qtbot.keyClick(dialog, Qt.Key.Key_3)                # tick red (label 3)
    qtbot.keyClick(dialog, Qt.Key.Key_Return)           # add c-blue as red
    assert dialog.file_name.text() == "b-red-again.png"
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: dialog.queue.idle and dialog.train_button.isEnabled(),
                    timeout=OPEN_TIMEOUT_MS)
    assert dialog.end_text.text() == "1 photo labelled, 1 skipped — train again?"
    assert dialog.end.detail.text().startswith("Per label: red +1. Reviewed 2 of 3.")
    assert dict(read_labels_csv(root).rows)["c-blue.png"] == ("red",)
    dialog.reject()
    dialog.reject()


def test_a_failed_ordering_falls_back_to_most_unsure_first(
        qtbot, tmp_path: Path, colours_model: Path) -> None:
    root = _labelled_root(tmp_path / "tagged")
    paths = make_near_copy_gallery(tmp_path / "gallery")
    Path(paths[1]).write_bytes(b"not an image")
    plan = _plan(qtbot, paths, colours_model, [])
    assert [item.path for item in plan.items] == paths and plan.reasons == ()
    assert plan.note.startswith("Most unsure first: could not order by what a label would "
                                "teach (")
    assert "b-red-again.png" in plan.note
    dialog = _dialog(qtbot, plan, root)
    assert dialog.status.text() == plan.note
    assert not dialog.teaches.isVisible()
    assert dialog.reason.isVisible() and dialog.reason.text().startswith("Unsure: 'red' ")
    assert dialog.file_name.text() == "a-red.png"
    dialog.reject()
    dialog.reject()
