"""The Evaluate step for a multi-label model, issue 23: each label's TP, FP, FN and TN counts
are a confusion matrix whose cells show their photos (by click and by Enter), and the worst
mistakes say which labels were missed and which spurious, the most wrong first.

The report is built by hand with known outcomes (no training): six photos, three labels."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from synthetic import textured_image

from cheetahlion_gui.evaluate.multilabel_cells import CELL_OF
from cheetahlion_gui.evaluate.multilabel_scores import PerLabelModel
from cheetahlion_gui.jobs.evaluate_multilabel import MultiLabelEvaluated, worst_first
from cheetahlion_gui.widgets.preview_dialog import PreviewDialog
from training.records.multilabel import LabelScores, MultiLabelOutcome, MultiLabelReport

LABELS = ("cheetah", "lion", "zebra")
THRESHOLD = 0.5
# name: (labels, probabilities for cheetah, lion, zebra); predicted = at or above 0.5
PHOTOS = {
    "a-right.png": (("lion",), (0.10, 0.90, 0.05)),
    "b-spurious-lion.png": (("cheetah",), (0.80, 0.70, 0.10)),
    "c-spurious-lion-sure.png": ((), (0.20, 0.95, 0.30)),
    "d-three-wrong.png": (("lion", "zebra"), (0.60, 0.20, 0.10)),
    "e-missed-zebra.png": (("zebra",), (0.10, 0.10, 0.45)),
    "f-right.png": (("cheetah",), (0.90, 0.40, 0.20)),
    "g-missed-cheetah-hesitant.png": (("cheetah",), (0.40, 0.45, 0.45)),
}
WORST_ORDER = ["d-three-wrong.png", "c-spurious-lion-sure.png", "b-spurious-lion.png",
               "g-missed-cheetah-hesitant.png", "e-missed-zebra.png"]
"""By the sum over the wrong labels of |truth − probability|: d 0.8 + 0.9 + 0.6, c 0.95,
b 0.7, g 0.6, e 0.55. Counting wrong labels would tie c, b, g and e; summing over every
label would put g (0.6 + 0.45 + 0.45) second."""


def _report(folder: Path) -> MultiLabelReport:
    outcomes = []
    for seed, (name, (truth, chances)) in enumerate(PHOTOS.items()):
        textured_image((120, 110, 90), seed, size=48).save(folder / name)
        predicted = tuple(label for label, p in zip(LABELS, chances, strict=True)
                          if p >= THRESHOLD)
        outcomes.append(MultiLabelOutcome(str(folder / name), truth, predicted, chances))
    per_label = []
    for label in LABELS:
        counts = {cell: sum(CELL_OF[cell].holds(o, label) for o in outcomes)
                  for cell in CELL_OF}
        per_label.append(LabelScores(label, 0.5, 0.5, 0.5, 0.5, THRESHOLD, counts["TP"],
                                     counts["FP"], counts["FN"], counts["TN"]))
    return MultiLabelReport("val", LABELS, tuple(per_label), 0.5, 0.5, 0.6, 2 / 7,
                            tuple(outcomes))


@pytest.fixture
def page(window, qtbot, tmp_path: Path):
    window.sidebar.setCurrentRow(2)
    page = window.evaluate_page
    page._evaluating_title = "run 1"
    report = _report(tmp_path)
    page._succeeded(MultiLabelEvaluated(report, str(tmp_path / "model.safetensors"),
                                        worst_first(report)))
    qtbot.wait(50)  # layouts settle
    return page


def _names(page) -> list[str]:
    return [Path(page.gallery.item(row).path).name for row in range(page.gallery.rowCount())]


def _lines(page, row: int) -> list[str]:
    return page.gallery.data(page.gallery.index(row), Qt.ItemDataRole.DisplayRole).split("\n")


def _click_count(qtbot, page, label: str, column: str) -> None:
    view = page.multilabel_scores.per_label_view
    model: PerLabelModel = page.multilabel_scores.per_label
    index = model.index(LABELS.index(label), model.HEADERS.index(column))
    view.scrollTo(index)
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, view.visualRect(index).center())
    qtbot.wait(10)


def test_clicking_a_labels_false_positives_shows_exactly_those_photos(page, qtbot) -> None:
    table = page.multilabel_scores.per_label
    assert "TN" in table.HEADERS
    assert table.data(table.index(1, table.HEADERS.index("FP"))) == "2"
    assert table.data(table.index(1, table.HEADERS.index("TN"))) == "3"

    _click_count(qtbot, page, "lion", "FP")
    assert page.gallery_title.text() == ("lion — false positives (2): the model said lion, "
                                         "the labels do not")
    # Predicted lion, not labelled lion; the most confident first, each with lion's chance.
    assert _names(page) == ["c-spurious-lion-sure.png", "b-spurious-lion.png"]
    assert _lines(page, 0)[1:] == ["lion 95%", "labels: none"]
    assert _lines(page, 1)[1:] == ["lion 70%", "labels: cheetah"]
    assert page.mistakes_button.isVisible()

    _click_count(qtbot, page, "zebra", "FN")
    assert page.gallery_title.text().startswith("zebra — false negatives (2): labelled zebra")
    assert _names(page) == ["d-three-wrong.png", "e-missed-zebra.png"]  # lowest chance first

    qtbot.mouseClick(page.mistakes_button, Qt.MouseButton.LeftButton)
    assert page.gallery_title.text().startswith("Worst mistakes")
    assert not page.mistakes_button.isVisible()


def test_enter_on_the_selected_count_shows_its_photos(page, qtbot) -> None:
    view = page.multilabel_scores.per_label_view
    table = page.multilabel_scores.per_label
    _click_count(qtbot, page, "cheetah", "Precision")  # not a count: nothing changes
    assert page.gallery_title.text().startswith("Worst mistakes")
    view.setFocus()
    view.setCurrentIndex(table.index(0, table.HEADERS.index("TP")))
    QTest.keyClick(view, Qt.Key.Key_Right)  # TP → FP
    QTest.keyClick(view, Qt.Key.Key_Right)  # FP → FN
    QTest.keyClick(view, Qt.Key.Key_Return)
    assert page.gallery_title.text().startswith("cheetah — false negatives (1)")
    assert _names(page) == ["g-missed-cheetah-hesitant.png"]


def test_worst_mistakes_say_what_was_missed_and_spurious_most_wrong_first(page,
                                                                         qtbot) -> None:
    assert _names(page) == WORST_ORDER
    assert page.gallery_title.text() == "Worst mistakes (most wrong first)"
    assert _lines(page, 0)[1:] == ["missed: lion, zebra", "spurious: cheetah"]
    assert _lines(page, 1)[1:] == ["spurious: lion"]
    assert _lines(page, 4)[1:] == ["missed: zebra"]
    tooltip = page.gallery.data(page.gallery.index(0), Qt.ItemDataRole.ToolTipRole)
    assert "missed: lion, zebra\nspurious: cheetah" in tooltip
    # Whole on the tile (the delegate elides only what is wider than the widest tile).
    view = page.gallery_view
    metrics = view.fontMetrics()
    assert all(metrics.horizontalAdvance(line) <= view.gridSize().width() - 8
               for row in range(page.gallery.rowCount()) for line in _lines(page, row)[1:])


def test_a_photo_opens_in_the_preview_with_its_labels(page, qtbot, monkeypatch) -> None:
    monkeypatch.setattr("cheetahlion_gui.widgets.explain_view.ExplainView.explain",
                        lambda *_args: None)  # no model file here to explain with
    view = page.gallery_view
    centre = view.visualRect(page.gallery.index(0)).center()
    assert not page.explain_button.isEnabled()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert page.explain_button.isEnabled(), "Why? opens it too"
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    dialog = page.findChild(PreviewDialog)
    assert dialog is not None and dialog.isVisible()
    lines = dialog.probabilities.stringList()
    assert lines == ["zebra: 10.0%", "lion: 20.0%", "cheetah: 60.0%"][::-1]
    assert any(label.text() == "Labels: lion, zebra · the model said: cheetah"
               for label in dialog.findChildren(type(page.gallery_title)))
    dialog.reject()


def test_worst_first_ignores_right_labels_and_breaks_ties_by_name(tmp_path: Path) -> None:
    report = _report(tmp_path)
    assert [Path(o.path).name for o in worst_first(report)] == WORST_ORDER
    tied = tuple(MultiLabelOutcome(name, ("lion",), (), (0.1, 0.3, 0.1))
                 for name in ("z.png", "y.png"))
    right = MultiLabelOutcome("x.png", ("lion",), ("lion",), (0.1, 0.9, 0.1))
    tied_report = MultiLabelReport("val", LABELS, (), 0, 0, 0, 0, (*tied, right))
    assert [o.path for o in worst_first(tied_report)] == ["y.png", "z.png"]


def test_the_per_label_table_is_a_sound_model(page, qtmodeltester) -> None:
    qtmodeltester.check(page.multilabel_scores.per_label)
