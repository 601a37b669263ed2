"""The layout audit itself (tests/layout_audit.py): each kind of problem it looks for is
caught on a widget made to have it, and a widget laid out with room to spare passes."""

from __future__ import annotations

import pyqtgraph as pg
import pytest
from layout_audit import audit
from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QMenu,
    QPushButton,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.widgets.icon_view import (
    MAX_TILE_WIDTH,
    TILE_GAP,
    fit_tiles_to_classes,
    make_icon_view,
)

LONG = "IMG_20240613_171522_serengeti_cheetah.jpg"


@pytest.fixture
def shown(qtbot):
    """Show a widget (offscreen) at a size and return it, laid out."""
    def show(widget: QWidget, width: int = 500, height: int = 300) -> QWidget:
        qtbot.addWidget(widget)
        widget.resize(width, height)
        widget.show()
        qtbot.waitExposed(widget)
        qtbot.wait(20)
        return widget
    return show


def _table(texts: list[str], headers: list[str]) -> QTableView:
    model = QStandardItemModel(len(texts), len(headers))
    model.setHorizontalHeaderLabels(headers)
    for row, text in enumerate(texts):
        model.setItem(row, 0, QStandardItem(text))
    view = QTableView()
    view.setObjectName("runs")
    view.setModel(model)
    view.model_ = model  # keep it alive
    return view


def _clean_window() -> QWidget:
    window = QWidget()
    layout = QVBoxLayout(window)
    layout.addWidget(QLabel("Ready to train on wildlife_camera_trap_2024."))
    wrapped = QLabel("A long explanation that wraps over several lines when the window is "
                     "narrow, as the Train step's phase line does. " * 2)
    wrapped.setWordWrap(True)
    layout.addWidget(wrapped)
    row = QHBoxLayout()
    row.addWidget(QPushButton("Start training"))
    combo = QComboBox()
    combo.addItems(["Quick — train only the last layer (seconds)", "Fine-tune"])
    row.addWidget(combo)
    layout.addLayout(row)
    table = _table(["completed", "cancelled"], ["Ended", "Images"])
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    layout.addWidget(table)
    plot = pg.PlotWidget(title="Loss")
    plot.setLabel("bottom", "epoch")
    plot.plot([1, 2, 3], [0.9, 0.5, 0.3])
    layout.addWidget(plot)
    return window


def test_a_window_with_room_to_spare_passes(shown) -> None:
    assert audit(shown(_clean_window(), 700, 600)) == []


def test_a_clipped_label_is_caught(shown) -> None:
    window = QWidget()
    label = QLabel(LONG, window)
    label.setObjectName("folderLabel")
    label.setGeometry(10, 10, 120, 30)
    problems = audit(shown(window, 300, 100))
    assert any(p.startswith(f"QLabel#folderLabel '{LONG}': text needs") for p in problems), \
        problems


def test_a_wrapped_label_too_short_for_its_lines_is_caught(shown) -> None:
    window = QWidget()
    label = QLabel("one two three four five six seven eight nine ten eleven twelve", window)
    label.setWordWrap(True)
    label.setGeometry(10, 10, 80, 20)
    problems = audit(shown(window, 300, 100))
    assert any("wrapped text needs" in p for p in problems), problems


def test_an_elided_table_cell_and_a_clipped_header_are_caught(shown) -> None:
    table = _table([LONG, "ok"], ["Predicted serengeti_cheetah", "x"])
    table.setColumnWidth(0, 90)
    problems = audit(shown(table, 400, 200))
    assert any(p.startswith(f"QTableView#runs: cell row 0, column 0 '{LONG}'") for p in problems)
    assert not any("cell row 1, column 0" in p for p in problems), problems
    assert any("section 'Predicted serengeti_cheetah' needs" in p for p in problems), problems


def test_a_column_cut_by_the_views_edge_is_caught(shown) -> None:
    table = _table(["completed"], ["Ended", "Overlay", "Backbone"])
    for column in range(3):
        table.setColumnWidth(column, 160)
    problems = audit(shown(table, 300, 150))
    assert any("section 'Overlay' is cut by the header's right edge" in p for p in problems), \
        problems


def test_a_cut_combo_box_and_a_tool_button_under_its_menu_arrow_are_caught(shown) -> None:
    window = QWidget()
    combo = QComboBox(window)
    combo.addItems(["Quick", "Fine-tune — train the whole network (minutes)"])
    combo.setGeometry(5, 5, 150, 30)
    button = QToolButton(window)
    button.setText("Add to dataset as")
    button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
    button.setMenu(QMenu(button))
    button.setGeometry(5, 40, button.sizeHint().width(), 30)
    problems = audit(shown(window, 300, 100))
    assert any("item 'Fine-tune — train the whole network (minutes)'" in p
               and "cut when chosen" in p for p in problems), problems
    combo.setCurrentIndex(1)
    problems = audit(window)
    assert any("current text needs" in p for p in problems), problems
    assert any(p.startswith("QToolButton 'Add to dataset as': text and menu arrow")
               for p in problems), problems


def test_a_widget_outside_its_window_is_caught(shown) -> None:
    window = QWidget()
    button = QPushButton("Export…", window)
    button.setObjectName("exportButton")
    button.setGeometry(250, 70, 100, 40)
    problems = audit(shown(window, 300, 100))
    assert any(p.startswith("QPushButton#exportButton 'Export…': at (250,70 100x40), outside "
                            "the window (300x100)") for p in problems), problems


def test_a_child_cut_by_its_parent_is_caught(shown) -> None:
    window = QWidget()
    panel = QWidget(window)
    panel.setGeometry(0, 0, 200, 50)
    QLabel("inside", panel).setGeometry(150, 30, 100, 40)
    problems = audit(shown(window, 300, 100))
    assert any("outside its parent" in p for p in problems), problems


def _plot(shown, xs, ys) -> pg.PlotWidget:
    plot = pg.PlotWidget(title="Validation accuracy")
    plot.setLabel("bottom", "epoch")
    plot.plot(xs, ys, name="validation")
    return shown(plot, 500, 300)


def test_a_plot_range_that_hides_its_data_is_caught(shown) -> None:
    plot = _plot(shown, [1, 2, 3, 4, 5], [0.5, 0.6, 0.7, 0.8, 0.9])
    plot.setXRange(2, 4, padding=0)
    problems = audit(plot)
    assert any("x range 2..4 does not hold 'validation' (x 1..5)" in p for p in problems), \
        problems


def test_negative_epochs_an_si_scale_and_a_legend_on_the_data_are_caught(shown) -> None:
    plot = _plot(shown, [1], [1.0])
    plot.setXRange(-30, 30)
    assert any("shows negative epochs" in p for p in audit(plot))

    plot = _plot(shown, [0.0001, 0.0002, 0.0003], [1, 2, 3])
    assert any("carries an automatic SI scale" in p for p in audit(plot)), audit(plot)

    plot = pg.PlotWidget(title="Loss")
    plot.addLegend(offset=(-10, 10))
    xs = [i / 10 for i in range(101)]
    plot.plot(xs, [1.0] * len(xs), name="a curve under the legend")
    plot.setYRange(0, 1.05, padding=0)
    shown(plot, 500, 300)
    assert any("the legend covers" in p for p in audit(plot)), audit(plot)


def test_hidden_and_collapsed_widgets_are_not_audited(shown) -> None:
    window = QWidget()
    hidden = QLabel(LONG, window)
    hidden.setGeometry(10, 10, 50, 20)
    hidden.hide()
    holder = QWidget(window)
    holder.setGeometry(0, 50, 300, 0)  # a collapsed splitter pane
    QLabel(LONG, holder).setGeometry(0, 0, 50, 20)
    assert audit(shown(window, 300, 100)) == []


def test_a_wrapped_label_that_needs_more_than_its_reserved_lines_is_caught(shown) -> None:
    window = QWidget()
    layout = QVBoxLayout(window)
    legend = QLabel("● african_lioness (8) ● serengeti_cheetah (9) ○ likely mislabelled (2) "
                    "— copies<br><small>25 photos on the map</small>")
    legend.setWordWrap(True)
    legend.setMinimumHeight(2 * legend.fontMetrics().lineSpacing() + 4)
    layout.addWidget(legend)
    layout.addStretch(1)
    problems = audit(shown(window, 260, 300))
    assert any("more than the" in p and "reserved for it" in p for p in problems), problems
    assert audit(shown(window, 900, 300)) == []


def test_a_label_with_a_word_wider_than_it_is_caught_even_when_wrapping(shown) -> None:
    window = QWidget()
    label = QLabel(f"Scanning {LONG} …", window)
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignLeft)
    label.setGeometry(10, 10, 120, 200)
    problems = audit(shown(window, 300, 250))
    assert any("a word needs" in p for p in problems), problems


def _gallery(captions: list[str]) -> QListView:
    """A thumbnail grid as the app makes it, tiles sized for a 64-px thumbnail, each tile's
    tooltip holding its lines whole (as the galleries' models do)."""
    model = QStandardItemModel()
    for caption in captions:
        item = QStandardItem(caption)
        item.setToolTip(caption)
        model.appendRow(item)
    view = make_icon_view(model, 64)
    view.model_ = model  # keep it alive
    return view


def test_a_tiles_file_name_may_be_shortened_but_not_its_label_line(shown) -> None:
    """A thumbnail's file name shortened in its middle is what every file manager shows
    (the tooltip holds it whole); a cut label line ("african_lioness 37% · u…") is a
    wrong number. Widening the tiles for the class names makes the label line whole."""
    view = _gallery([f"{LONG}\nafrican_lioness 37%  · unsure", f"{LONG}\nlion 99%"])
    problems = audit(shown(view, 600, 300))
    assert any("cell row 0" in p and "african_lioness" in p for p in problems), problems
    assert not any("cell row 1" in p for p in problems), problems

    fit_tiles_to_classes(view, ["african_lioness", "lion"])
    shown(view, 600, 300)
    assert audit(view) == []


def test_tiles_never_grow_past_the_widest_a_row_can_hold(shown) -> None:
    view = _gallery([f"{LONG}\nx 1%"])
    fit_tiles_to_classes(view, ["a" * 200])
    assert view.gridSize().width() == MAX_TILE_WIDTH + TILE_GAP
    fit_tiles_to_classes(view, ["a"])  # another model's short names: narrow again
    assert view.gridSize().width() < MAX_TILE_WIDTH + TILE_GAP
    assert view.gridSize().width() >= view.itemDelegate().base_width + TILE_GAP
