"""The Data step's map, driven with the mouse: points, hover, click, lasso, and clean-up.

Mouse events go to the plot's viewport as a user's would (press, moves with the button held,
release); pyqtgraph turns them into clicks and drags. It ignores moves less than 10 ms apart,
so the drags wait between moves.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from gui_steps import answer_quarantine_dialog, open_dataset, wait_for_data_page
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QCursor, QMouseEvent, QTextDocument
from PySide6.QtWidgets import QApplication
from synthetic import CLASS_COLOURS, make_dataset, textured_image

from cheetahlion_gui.data.map_plot import class_colour
from cheetahlion_gui.data.photo_dialog import PhotoDialog

LEFT = Qt.MouseButton.LeftButton
NO_BUTTON = Qt.MouseButton.NoButton


@pytest.fixture
def colours(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "colours", per_class=8)


def _send(widget, kind: QEvent.Type, pos: QPoint, button, buttons,
          modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    local = QPointF(pos)
    event = QMouseEvent(kind, local, QPointF(widget.mapToGlobal(pos)), button, buttons,
                        modifiers)
    QApplication.sendEvent(widget, event)


def _drag(qtbot, widget, path: list[QPoint], modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    _send(widget, QEvent.Type.MouseButtonPress, path[0], LEFT, LEFT, modifiers)
    for pos in path[1:]:
        qtbot.wait(25)
        _send(widget, QEvent.Type.MouseMove, pos, NO_BUTTON, LEFT, modifiers)
    qtbot.wait(25)
    _send(widget, QEvent.Type.MouseButtonRelease, path[-1], LEFT, NO_BUTTON, modifiers)


def _draw(window, qtbot):
    page = window.data_page
    view = page.map_view
    page.tabs.setCurrentWidget(view)
    qtbot.mouseClick(view.draw_button, LEFT)
    qtbot.waitUntil(lambda: view.job is None and not page.runner.busy, timeout=120_000)
    qtbot.wait(50)  # the layout settles: points are found where they are drawn
    return view


def _pixels(view) -> np.ndarray:
    """Where each point is drawn, in the viewport's pixels."""
    plot = view.plot
    spots = [plot.mapFromScene(plot.scene_position(i)) for i in range(len(plot.xy))]
    return np.array([(p.x(), p.y()) for p in spots])


def _rightmost(view, at_least: int) -> tuple[list[QPoint], set[int]]:
    """A lasso (a rectangle the plot's height) around the rightmost points, its left edge in
    the middle of a gap of at least 12 pixels; and the indices of the points it holds."""
    pixels = _pixels(view)
    order = np.argsort(-pixels[:, 0])
    xs = pixels[order, 0]
    cut = next(k for k in range(at_least, len(xs)) if xs[k - 1] - xs[k] >= 12)
    edge = int((xs[cut - 1] + xs[cut]) / 2)
    area = view.plot.viewport().rect()
    top, bottom, right = area.top() + 3, area.bottom() - 3, area.right() - 3
    lasso = [QPoint(edge, top), QPoint(right, top), QPoint(right, bottom),
             QPoint(edge, bottom), QPoint(edge, top + 1)]
    return lasso, {int(i) for i in order[:cut]}


def test_the_map_shows_every_photo_hovers_and_opens_one(window, qtbot, messages,
                                                        colours: Path) -> None:
    open_dataset(window, colours)
    view = _draw(window, qtbot)
    shown = view.shown
    assert shown is not None and len(shown) == 16 and not messages
    spots = view.plot.points.data
    assert len(spots) == 16
    colours_drawn = [QColor(brush.color()).name() for brush in spots["brush"]]
    assert colours_drawn == [class_colour(label) for label in shown.labels]
    assert set(shown.labels) == {0, 1} and "blue (8)" in view.status.text()

    viewport = view.plot.viewport()
    spot = QPoint(*map(int, _pixels(view)[5]))
    QCursor.setPos(viewport.mapToGlobal(spot))  # else Qt may send the plot a Leave event
    qtbot.wait(25)
    _send(viewport, QEvent.Type.MouseMove, spot, NO_BUTTON, NO_BUTTON)
    qtbot.waitUntil(view.card.isVisible)
    assert shown.paths[5].relative_to(colours).as_posix() in view.card.caption.text()

    qtbot.mouseClick(viewport, LEFT, pos=spot)
    qtbot.waitUntil(lambda: view.photo is not None and view.photo.isVisible())
    assert isinstance(view.photo, PhotoDialog) and view.photo.path == str(shown.paths[5])
    assert view.plot.selected_indices() == [5]
    qtbot.waitUntil(lambda: view.photo.picture.pixmap() is not None
                    and not view.photo.picture.pixmap().isNull())
    view.photo.close()


def test_a_lassoed_region_goes_to_quarantine_and_comes_back(window, qtbot, messages,
                                                            monkeypatch, colours: Path,
                                                            tmp_path: Path) -> None:
    quarantine = tmp_path / "quarantine"
    answer_quarantine_dialog(monkeypatch, quarantine)
    open_dataset(window, colours)
    view = _draw(window, qtbot)
    before = {p: (x, y) for p, x, y in zip(view.shown.paths, view.shown.x, view.shown.y,
                                           strict=True)}
    qtbot.mouseClick(view.select_tool, LEFT)
    lasso, inside = _rightmost(view, at_least=3)
    _drag(qtbot, view.plot.viewport(), lasso)
    assert set(view.plot.selected_indices()) == inside
    chosen = {view.shown.paths[i] for i in inside}
    assert view.quarantine_button.isEnabled() and f"{len(inside)} photos selected" in \
        view.details.text()
    strip = view.selection  # which photos, before anything moves
    assert strip.view.isVisible()
    assert {strip.model.index(row).data() for row in range(strip.model.rowCount())} == \
        {p.name for p in chosen}

    qtbot.mouseClick(view.quarantine_button, LEFT)
    wait_for_data_page(window.data_page, qtbot)
    moved = {p for p in quarantine.rglob("*.png")}
    assert {p.relative_to(quarantine) for p in moved} == \
        {p.relative_to(colours) for p in chosen}
    assert len(view.plot.points.data) == 16 - len(inside)
    assert set(view.shown.paths) == set(before) - chosen
    assert all((x, y) == before[p] for p, x, y in zip(view.shown.paths, view.shown.x,
                                                       view.shown.y, strict=True))

    panel = window.data_page.moves_panel
    assert panel.model.rowCount() == len(inside)  # one undoable move per photo
    qtbot.mouseClick(panel.undo_last_button, LEFT)
    wait_for_data_page(window.data_page, qtbot)
    assert len(view.plot.points.data) == 16 - len(inside) + 1
    back = set(view.shown.paths) - (set(before) - chosen)
    assert len(back) == 1 and back <= chosen  # the photo is back, in its old place
    assert all((x, y) == before[p] for p, x, y in zip(view.shown.paths, view.shown.x,
                                                       view.shown.y, strict=True))
    assert not messages


def test_flagged_photos_are_ringed_moved_by_shift_lasso_and_kept(window, qtbot, messages,
                                                                 tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "colours", per_class=10)
    textured_image(CLASS_COLOURS["red"], 777).save(data / "blue" / "planted.png")
    open_dataset(window, data)
    page = window.data_page
    finder = page.suspects_view
    page.tabs.setCurrentWidget(finder)
    finder.find()
    qtbot.waitUntil(lambda: finder.job is None and not page.runner.busy, timeout=120_000)
    flagged = {s.path for s in finder.report.flagged}
    assert data / "blue" / "planted.png" in flagged

    view = page.map_view
    page.tabs.setCurrentWidget(view)  # the finder has looked: the map draws by itself
    qtbot.waitUntil(lambda: view.shown is not None and not page.runner.busy, timeout=60_000)
    ringed = {view.shown.paths[i] for i in range(len(view.shown)) if view.shown.flag(i)}
    assert ringed == flagged and len(view.plot.rings.data) == len(flagged) == view.ringed

    planted = view.shown.paths.index(data / "blue" / "planted.png")
    pixels = _pixels(view)
    spot = QPoint(*map(int, pixels[planted]))
    box = [spot + QPoint(-9, -9), spot + QPoint(9, -9), spot + QPoint(9, 9),
           spot + QPoint(-9, 9), spot + QPoint(-9, -8)]
    _drag(qtbot, view.plot.viewport(), box, Qt.KeyboardModifier.ShiftModifier)
    near = np.abs(pixels - (spot.x(), spot.y())).max(axis=1) < 8.5
    assert view.plot.selected_indices() == np.flatnonzero(near).tolist()
    assert planted in view.plot.selected_indices()
    qtbot.mouseClick(view.keep_button, LEFT)  # reviewed: no more ring
    wait_for_data_page(page, qtbot)
    assert view.ringed == len(flagged) - 1 and len(view.plot.rings.data) == view.ringed

    view.plot.select(np.arange(len(view.shown)) == planted)
    actions = {action.data(): action for action in view.class_menu.actions()}
    assert not actions["blue"].isEnabled()
    actions["red"].trigger()
    wait_for_data_page(page, qtbot)
    assert (data / "red" / "planted.png").is_file()
    moved = view.shown.paths.index(data / "red" / "planted.png")
    assert view.shown.classes[view.shown.labels[moved]] == "red" and not view.shown.flag(moved)
    assert QColor(view.plot.points.data["brush"][moved].color()).name() == class_colour(
        view.shown.classes.index("red"))
    assert not messages


def _lines_of(html: str, width: int, font) -> list[list[int]]:
    """For each legend entry (the text between its mark and the next), the lines its
    characters land on when the legend is laid out `width` pixels wide."""
    document = QTextDocument()
    document.setDefaultFont(font)
    document.setHtml(html)
    document.setTextWidth(width)
    document.size()  # lays it out
    block = document.firstBlock()
    layout, text = block.layout(), block.text()
    starts = [i for i, char in enumerate(text) if char in "●○□"] + [len(text)]
    return [sorted({layout.lineForTextPosition(i).lineNumber()
                    for i in range(start, end) if not text[i].isspace()})
            for start, end in itertools.pairwise(starts)]


def test_copies_are_marked_and_no_legend_entry_breaks_across_lines(window, qtbot, messages,
                                                                    tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "colours", per_class=6)
    (data / "red" / "3.png").write_bytes((data / "blue" / "3.png").read_bytes())
    open_dataset(window, data)
    view = _draw(window, qtbot)
    assert view.shown.links, "the copy across classes is linked"
    linked = {i for pair in view.shown.links for i in pair}
    assert len(view.plot.copies.data) == len(linked), "each copy marked, however close"
    pen = view.plot.links.opts["pen"]
    assert pen.widthF() >= 2 and QColor(pen.color()).lightness() < 80, "dark enough to see"

    legend = view.status.text()
    assert "copies" in legend
    for width in range(120, 700, 4):  # however narrow the tab, an entry stays whole
        for lines in _lines_of(legend.split("<br>")[0], width, view.status.font()):
            assert len(lines) == 1, (width, lines)
    assert not messages


def test_the_selection_model_is_a_well_behaved_model(qtmodeltester, qapp,
                                                     tmp_path: Path) -> None:
    from cheetahlion_gui.data.map_selection import Chosen, SelectionModel
    from cheetahlion_gui.widgets.thumbnails import ThumbnailCache

    cache = ThumbnailCache()
    model = SelectionModel(cache)
    folder = make_dataset(tmp_path / "colours", per_class=2)
    model.set_chosen([Chosen(i, path, path.name, path.parent.name)
                      for i, path in enumerate(sorted(folder.rglob("*.png")))])
    qtmodeltester.check(model)
    assert model.rowCount() == 4 and model.index(0).data() == "0.png"
    cache.shutdown()
