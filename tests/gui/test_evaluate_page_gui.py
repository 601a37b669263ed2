"""The Evaluate step as issue 20's user met it: the confusion matrix's class names whole for 2
and 8 classes, the worst mistakes' captions whole, a way back from a cell to the worst
mistakes, "none of these" counted out of a named whole, only the parts that exist offered,
and nothing evaluated while a run is still training."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from gui_steps import OPEN_TIMEOUT_MS, open_dataset, train_small_model
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QStyleOptionViewItem
from synthetic import make_dataset, textured_image

from cheetahlion_gui.jobs.evaluate import EvaluateOutcome
from training.records.calibration import reliability

BIG_CATS = ("cheetah", "lion", "snow leopard", "clouded leopard", "jaguar", "tiger",
            "leopard", "black panther")


def _report(tmp_path: Path, classes: tuple[str, ...], images: int = 150) -> SimpleNamespace:
    """An evaluation of `images` validation photos: each class mostly right, the rest taken
    for the next class, at 69 % (the captions issue 20 saw cut)."""
    count = len(classes)
    per_true = images // count
    confusion = tuple(tuple(per_true - 2 if t == p else 2 if p == (t + 1) % count else 0
                            for p in range(count)) for t in range(count))
    photo = tmp_path / "a-long-file-name-from-a-camera-0001.jpg"
    textured_image((200, 150, 40), 1, size=96).save(photo)
    outcomes = tuple(SimpleNamespace(path=str(photo), true_label=classes[t],
                                     predicted_label=classes[p], confidence=0.69,
                                     unfamiliar=False)
                     for t in range(count) for p in range(count)
                     for _ in range(confusion[t][p]))
    mistakes = tuple(o for o in outcomes if o.true_label != o.predicted_label)
    per_class = tuple(SimpleNamespace(name=name, precision=0.9, recall=0.9, f1=0.9,
                                      support=per_true) for name in classes)
    return SimpleNamespace(part="val", classes=classes, accuracy=0.9, loss=0.3,
                           confusion=confusion, per_class=per_class, mistakes=mistakes,
                           outcomes=outcomes, unreadable=(), images=sum(map(sum, confusion)),
                           unfamiliar_fraction=8 / sum(map(sum, confusion)),
                           unfamiliar_percentile=95.0, thresholds=(),
                           balanced_accuracy=0.9, calibration=None,
                           reliability=reliability([o.confidence for o in outcomes],
                                                   [o.true_label == o.predicted_label
                                                    for o in outcomes]))


def _show(window, qtbot, report: SimpleNamespace, size: tuple[int, int]):
    window.resize(*size)
    window.sidebar.setCurrentRow(2)
    page = window.evaluate_page
    page._evaluating_title = "run 1"
    page._succeeded(EvaluateOutcome(report, "model.safetensors"))
    page.evaluation_finished.emit()  # as the job controller does last
    qtbot.wait(50)  # layouts settle
    return page


def _names_fit(header) -> list[str]:
    """The class names the header cannot show whole (empty when all fit)."""
    metrics = header.fontMetrics()
    cut = []
    for section in range(header.count()):
        name = header.model().headerData(section, Qt.Orientation.Horizontal)
        along = header.height() if getattr(header, "upwards", False) \
            else header.sectionSize(section)
        if metrics.horizontalAdvance(name) + 4 > along:
            cut.append(name)
    return cut


@pytest.mark.parametrize("classes", [BIG_CATS[:2], BIG_CATS])
@pytest.mark.parametrize("size", [(1280, 800), (1600, 1000)])
def test_confusion_matrix_names_are_whole(window, qtbot, tmp_path: Path, classes, size) -> None:
    page = _show(window, qtbot, _report(tmp_path, classes), size)
    header = page.confusion_view.horizontalHeader()
    assert _names_fit(header) == []
    assert page.confusion_view.horizontalScrollBar().maximum() == 0, "no sideways scrolling"
    rows = page.confusion_view.verticalHeader()
    assert [rows.model().headerData(r, Qt.Orientation.Vertical) for r in range(rows.count())] \
        == list(classes), "rows named by the class alone; the panel says which side is which"
    assert any("rows true class, columns predicted" in box.title()
               for box in page.scores.findChildren(QGroupBox))


def test_worst_mistakes_captions_are_whole_and_cells_lead_back(window, qtbot,
                                                               tmp_path: Path) -> None:
    page = _show(window, qtbot, _report(tmp_path, BIG_CATS), (1280, 800))
    assert page.gallery_title.text().startswith("Worst mistakes")
    view = page.gallery_view
    delegate = view.itemDelegate()
    tile = view.gridSize()
    for row in range(page.gallery.rowCount()):
        index = page.gallery.index(row)
        option = QStyleOptionViewItem()
        option.initFrom(view)
        option.rect = view.visualRect(index)
        delegate.initStyleOption(option, index)
        lines = option.text.split("\u2028")  # the delegate's line separator
        outcome = page.shown_outcomes[row]
        assert lines[1] == f"{outcome.predicted_label} 69%", lines
        assert lines[2] == f"true: {outcome.true_label}", lines
        metrics = option.fontMetrics
        assert all(metrics.horizontalAdvance(line) <= tile.width() - 8 for line in lines), lines
        assert view.iconSize().height() + len(lines) * metrics.lineSpacing() <= tile.height()

    assert not page.mistakes_button.isVisible()
    cell = page.confusion.index(0, 1)
    page.confusion_view.clicked.emit(cell)
    assert page.gallery_title.text().startswith("True cheetah, predicted lion")
    assert page.mistakes_button.isVisible()
    qtbot.mouseClick(page.mistakes_button, Qt.MouseButton.LeftButton)
    assert page.gallery_title.text().startswith("Worst mistakes")
    assert page.gallery.rowCount() == min(len(page.report.mistakes), 24)
    assert not page.mistakes_button.isVisible()


def test_none_of_these_says_out_of_what(window, qtbot, tmp_path: Path) -> None:
    page = _show(window, qtbot, _report(tmp_path, BIG_CATS[:5]), (1280, 800))
    text = page.accuracy_label.text()
    assert "8 of the 150 validation photos (5%) look unlike the training photos" in text, text
    assert text.startswith("run 1: accuracy"), "it names the model it is about"


def test_only_the_parts_that_exist_are_offered(window, qtbot, tmp_path: Path) -> None:
    open_dataset(window, make_dataset(tmp_path / "colours", per_class=4))
    part = window.evaluate_page.part
    assert [part.itemData(i) for i in range(part.count())] == ["val"]
    assert not part.isVisibleTo(window.evaluate_page), "one part: nothing to choose"

    own = tmp_path / "own-split"
    for seed, name in enumerate(("train", "val", "test")):
        make_dataset(own / name, per_class=3, seed=seed)
    open_dataset(window, own)
    assert [part.itemText(i) for i in range(part.count())] == ["Validation images (6)",
                                                                "Test images (6)"]
    assert part.isVisibleTo(window.evaluate_page)


def test_a_run_still_training_is_not_evaluated(window, qtbot, tmp_path: Path) -> None:
    train_page = train_small_model(window, tmp_path / "colours")
    first = window.session.model_path
    train_page.form.epochs.setValue(6)
    assert train_page.start()
    window.sidebar.setCurrentRow(2)  # showing Evaluate evaluated the chosen model
    page = window.evaluate_page
    assert not page.runner.busy, "nothing evaluated while a run trains"
    assert window.session.training
    assert not page.evaluate_button.isEnabled()
    assert "is training" in page.accuracy_label.text(), "said where the accuracy will be"
    qtbot.waitUntil(lambda: not train_page.runner.busy, timeout=OPEN_TIMEOUT_MS)
    qtbot.waitUntil(lambda: page.report is not None and not page.runner.busy,
                    timeout=OPEN_TIMEOUT_MS)
    assert window.session.model_path != first
    assert page.report_model == window.session.model_path, "the new run, once it has finished"
    assert not page.training_note.isVisible() and page.evaluate_button.isEnabled()
    shown = window.session.model_title
    assert page.accuracy_label.text().startswith(f"{shown}: accuracy")

    window.sidebar.setCurrentRow(1)
    assert train_page.start()
    window.sidebar.setCurrentRow(2)
    assert not page.runner.busy and page.training_note.isVisible(), "a note above the last"
    assert page.accuracy_label.text().startswith(f"{shown}: accuracy"), "named, still shown"
    qtbot.waitUntil(lambda: not train_page.runner.busy and not page.runner.busy
                    and page.report_model == window.session.model_path,
                    timeout=OPEN_TIMEOUT_MS)
