"""Explanations in the window: the Classify preview and the Evaluate page's mistakes.

Real widgets, real worker threads: the heatmap appears, the opacity slider changes the picture
without recomputing, another class recomputes, reopening comes from the cache. The model is
the session's red-vs-blue `colours_model` (tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

from layout_audit import audit
from PySide6.QtCore import QCoreApplication, QEvent, Qt
from synthetic import make_dataset

from cheetahlion_gui.widgets.explain_view import ExplainDialog, ExplainView
from cheetahlion_gui.widgets.preview_dialog import PreviewDialog


def _shown(view: ExplainView):
    return view.picture.pixmap().toImage()


def _wait_explained(qtbot, view: ExplainView, class_name: str) -> None:
    qtbot.waitUntil(lambda: view.shown is not None and not view.computing
                    and view.shown.explanation.class_name == class_name, timeout=60_000)


def _close(qtbot, dialog, view: ExplainView) -> None:
    """Close, and see the dialog released once its thread has ended."""
    parent, kind = dialog.parent(), type(dialog)
    dialog.close()
    qtbot.waitUntil(lambda: not view.computing, timeout=30_000)
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert parent.findChild(kind) is None


def test_the_preview_explains_with_an_opacity_slider_and_a_class_choice(
        window, qtbot, colours_model: Path, tmp_path: Path) -> None:
    images = make_dataset(tmp_path / "new", per_class=1, seed=7)  # red/0.png, blue/0.png
    window.sidebar.setCurrentRow(3)
    page = window.classify_page
    page.use_model_file(str(colours_model))
    page.open_sources([images / "red"])
    qtbot.waitUntil(lambda: not page.runner.busy and page.model.rowCount() == 1
                    and page.model.item(0).label == "red", timeout=60_000)

    page.view.doubleClicked.emit(page.proxy.index(0, 0))
    dialog = page.findChild(PreviewDialog)
    view = dialog.explanation
    assert dialog.tabs.currentWidget() is view
    _wait_explained(qtbot, view, "red")
    assert not view.busy.isVisible()
    assert view.caption.text().startswith("Where the model looked for 'red' (")
    assert "sees little" not in view.caption.text()
    assert view.classes.currentData() == view.shown.explanation.class_index
    assert [view.classes.itemText(i).split(" (")[0] for i in range(2)] == ["red", "blue"]

    half = _shown(view)
    assert not half.isNull() and half.width() == view.picture_size
    view.opacity.setValue(0)
    plain = _shown(view)
    view.opacity.setValue(100)
    full = _shown(view)
    assert plain != half and full != half and plain != full

    red = view.shown
    view.classes.setCurrentIndex(1)
    view.classes.activated.emit(1)  # what choosing "blue" in the combo box does
    assert view.busy.isVisible(), "busy while the new class is computed"
    _wait_explained(qtbot, view, "blue")
    assert "'blue'" in view.caption.text() and "it predicted 'red'" in view.caption.text()
    assert view.shown.explanation.probability < 0.1
    assert "sees little of this class" in view.caption.text()
    assert _shown(view) != full, "another class, another heatmap"
    _close(qtbot, dialog, view)

    page.view.doubleClicked.emit(page.proxy.index(0, 0))  # reopening comes from the cache
    qtbot.waitUntil(lambda: page.findChild(PreviewDialog) is not None
                    and page.findChild(PreviewDialog).explanation.shown is not None,
                    timeout=30_000)
    again = page.findChild(PreviewDialog)
    assert again.explanation.shown.explanation is red.explanation
    _close(qtbot, again, again.explanation)


def test_a_mistake_on_the_evaluate_page_opens_its_explanation(
        window, qtbot, colours_model: Path, tmp_path: Path) -> None:
    # The folders' names swapped: every photo is "wrong" for a model trained on the colours.
    data = make_dataset(tmp_path / "swapped", per_class=6, seed=3)
    (data / "red").rename(data / "was-red")
    (data / "blue").rename(data / "red")
    (data / "was-red").rename(data / "blue")
    window.open_dataset(data)
    qtbot.waitUntil(lambda: not window.data_page.runner.busy and window.session.dataset
                    is not None and window.session.dataset.root == data.resolve(),
                    timeout=30_000)
    window.session.set_model(str(colours_model), "colours")
    window.sidebar.setCurrentRow(2)
    page = window.evaluate_page
    qtbot.waitUntil(lambda: not page.runner.busy and page.report is not None, timeout=60_000)
    assert page.report.accuracy == 0.0 and page.gallery.rowCount() > 0
    assert not page.explain_button.isEnabled()

    index = page.gallery.index(0)
    page.gallery_view.scrollTo(index)
    centre = page.gallery_view.visualRect(index).center()
    qtbot.mouseClick(page.gallery_view.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert page.explain_button.isEnabled()
    qtbot.mouseDClick(page.gallery_view.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    qtbot.waitUntil(lambda: page.findChild(ExplainDialog) is not None, timeout=60_000)
    dialog = page.findChild(ExplainDialog)
    outcome = page.shown_outcomes[0]
    assert f"True class: {outcome.true_label} · predicted: {outcome.predicted_label}" \
        in dialog.heading.text()
    _wait_explained(qtbot, dialog.view, outcome.predicted_label)
    assert not dialog.view.picture.pixmap().isNull()
    assert dialog.view.caption.text().startswith(
        f"Where the model looked for '{outcome.predicted_label}'")
    _close(qtbot, dialog, dialog.view)


def test_a_broken_image_says_why_instead_of_explaining(qtbot, tmp_path: Path,
                                                       colours_model: Path) -> None:
    view = ExplainView()
    qtbot.addWidget(view)
    broken = tmp_path / "broken.jpg"
    broken.write_text("not a photo")
    view.explain(str(colours_model), str(broken))
    qtbot.waitUntil(lambda: view.error is not None and not view.computing, timeout=30_000)
    assert "broken.jpg" in view.caption.text() and view.shown is None
    assert view.picture.text() == "No explanation" and not view.busy.isVisible()


def test_the_view_keeps_qwidget_size_so_the_layout_audit_can_walk_it(qtbot) -> None:
    """`ExplainView.size` once held the picture's side, hiding `QWidget.size()`: the layout
    audit (and anything else asking a widget its size) crashed on the preview dialog."""
    view = ExplainView()
    qtbot.addWidget(view)
    view.resize(500, 400)
    assert view.size().width() == 500
    assert isinstance(audit(view), list)
