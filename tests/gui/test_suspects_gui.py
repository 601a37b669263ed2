"""The likely-mislabelled view: a planted wrong image is ranked first and can be cleaned up."""

from __future__ import annotations

from pathlib import Path

import pytest
from gui_steps import answer_quarantine_dialog, open_dataset, wait_for_data_page
from PySide6.QtCore import QItemSelectionModel, Qt
from pytestqt.modeltest import ModelTester
from synthetic import CLASS_COLOURS, make_dataset, textured_image

from cheetahlion_gui.data.suspects_model import SuspectRole

PLANTED = "planted.png"


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """red/ and blue/ photos, plus one red photo filed under blue/."""
    data = make_dataset(tmp_path / "colours", per_class=10)
    textured_image(CLASS_COLOURS["red"], 777).save(data / "blue" / PLANTED)
    return data






def _find(window, qtbot):
    page = window.data_page
    view = page.suspects_view
    page.tabs.setCurrentWidget(view)
    qtbot.mouseClick(view.find_button, Qt.MouseButton.LeftButton)
    assert view.cancel_button.isVisible() and not view.find_button.isEnabled()
    qtbot.waitUntil(lambda: view.job is None and not page.runner.busy, timeout=120_000)
    return view


def _select(view, row: int) -> None:
    view.view.selectionModel().select(view.model.index(row),
                                      QItemSelectionModel.SelectionFlag.ClearAndSelect)


def _names(view) -> list[str]:
    return [view.model.index(row).data(Qt.ItemDataRole.ToolTipRole).split("\n")[0]
            for row in range(view.model.rowCount())]


def test_planted_image_is_first_moved_and_undone(window, qtbot, messages,
                                                  planted: Path) -> None:
    open_dataset(window, planted)
    view = _find(window, qtbot)
    ModelTester(None).check(view.model)
    assert view.model.rowCount() == 21 and not messages
    assert _names(view)[0] == f"blue/{PLANTED}"
    tile, first = view.model.index(0).data(), view.model.index(0).data(SuspectRole)
    assert tile == f"{first.score:.2f} · in blue\nmodel says red"
    assert "of 21 images look like they are in the wrong folder" in view.status.text()

    _select(view, 0)
    assert "may belong in <b>red</b>" in view.details.text()
    assert "ImageNet model: looks like" in view.details.text()
    actions = {action.data(): action for action in view.class_menu.actions()}
    assert not actions["blue"].isEnabled() and actions["red"].isEnabled()
    actions["red"].trigger()
    wait_for_data_page(window.data_page, qtbot)
    assert (planted / "red" / PLANTED).is_file() and not (planted / "blue" / PLANTED).exists()
    assert f"blue/{PLANTED}" not in _names(view) and view.model.rowCount() == 20
    assert window.session.dataset.class_counts == {"blue": 10, "red": 11}

    panel = window.data_page.moves_panel
    assert panel.model.rowCount() == 1
    qtbot.mouseClick(panel.undo_last_button, Qt.MouseButton.LeftButton)
    wait_for_data_page(window.data_page, qtbot)
    assert (planted / "blue" / PLANTED).is_file() and not (planted / "red" / PLANTED).exists()
    assert _names(view)[0] == f"blue/{PLANTED}"
    assert window.session.dataset.class_counts == {"blue": 11, "red": 10}


def test_quarantine_keep_and_show_kept(window, qtbot, messages, monkeypatch, planted: Path,
                                       tmp_path: Path) -> None:
    quarantine = tmp_path / "not-animals"
    asked = answer_quarantine_dialog(monkeypatch, quarantine)
    open_dataset(window, planted)
    view = _find(window, qtbot)
    _select(view, 0)
    qtbot.mouseClick(view.quarantine_button, Qt.MouseButton.LeftButton)
    wait_for_data_page(window.data_page, qtbot)
    assert (quarantine / "blue" / PLANTED).is_file() and len(asked) == 1
    assert f"blue/{PLANTED}" not in _names(view)
    assert window.session.dataset.class_counts == {"blue": 10, "red": 10}

    second = _names(view)[0]
    _select(view, 0)
    qtbot.mouseClick(view.keep_button, Qt.MouseButton.LeftButton)
    wait_for_data_page(window.data_page, qtbot)
    assert second not in _names(view) and (planted / second).is_file()
    view.show_kept.setChecked(True)
    assert second in _names(view)
    row = _names(view).index(second)
    assert "kept" in view.model.index(row).data()
    _select(view, row)
    assert view.unkeep_button.isEnabled()
    qtbot.mouseClick(view.unkeep_button, Qt.MouseButton.LeftButton)
    wait_for_data_page(window.data_page, qtbot)
    view.show_kept.setChecked(False)
    assert second in _names(view) and not messages


def test_the_finder_can_be_cancelled(window, qtbot, messages, planted: Path) -> None:
    open_dataset(window, planted)
    view = window.data_page.suspects_view
    assert view.find()
    view.cancel()
    qtbot.waitUntil(lambda: view.job is None and not window.data_page.runner.busy,
                    timeout=60_000)
    assert view.status.text() == "Cancelled." and view.model.rowCount() == 0
    assert not messages
