"""Clean-up on the Data step: the conflicting-labels fix, the undo list, and a restart."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from gui_steps import answer_quarantine_dialog, open_dataset, wait_for_data_page
from PySide6.QtCore import Qt
from pytestqt.modeltest import ModelTester
from synthetic import make_dataset

from cheetahlion_gui.data.cleanup_actions import MoveRole, MovesModel
from cheetahlion_gui.data.health_report import CONFLICT, KindRole
from cheetahlion_gui.main_window import MainWindow
from cheetahlion_gui.settings import Settings
from cheetahlion_gui.train.run_history import RunHistoryModel
from training.insight.cleanup import move_to_class, move_to_quarantine, undo_move
from training.records.journal import read_journal
from training.records.run_record import RunRecord


@pytest.fixture
def conflicted(tmp_path: Path) -> Path:
    data = make_dataset(tmp_path / "colours", per_class=4)
    shutil.copy(data / "blue" / "0.png", data / "red" / "copy-of-blue.png")
    return data


def test_conflicting_labels_are_fixed_in_one_click_and_undone(
        window, qtbot, messages, monkeypatch, conflicted: Path, tmp_path: Path) -> None:
    quarantine = tmp_path / "quarantine"
    asked = answer_quarantine_dialog(monkeypatch, quarantine)
    open_dataset(window, conflicted)
    page = window.data_page
    assert window.session.dataset.class_counts == {"blue": 4, "red": 5}
    findings = page.health.issue_filter
    rows = [findings.index(r, 0) for r in range(findings.rowCount())]
    (conflict,) = [index for index in rows if index.data(KindRole) == CONFLICT]
    page.health.issues_view.setCurrentIndex(conflict)
    assert page.health.fix_button.isEnabled()
    texts = [action.text() for action in page.health.fix_menu.actions()]
    assert texts == ["Keep the copy in 'blue' (quarantine 1 other)",
                     "Keep the copy in 'red' (quarantine 1 other)"]
    page.health.fix_menu.actions()[0].trigger()  # keep the copy in 'blue'
    wait_for_data_page(page, qtbot)

    assert (quarantine / "red" / "copy-of-blue.png").is_file()
    assert not (conflicted / "red" / "copy-of-blue.png").exists()
    assert (conflicted / "blue" / "0.png").is_file()
    assert len(asked) == 1 and not messages
    assert window.session.dataset.class_counts == {"blue": 4, "red": 4}  # rescanned
    assert not window.session.dataset.report.of_kind(CONFLICT)
    assert Settings.load().quarantine_folder(conflicted.resolve()) == str(quarantine.resolve())

    panel = page.moves_panel
    assert panel.model.rowCount() == 1
    assert "copy-of-blue.png: 'red' → quarantine" in panel.model.index(0).data()
    assert panel.undo_last_button.isEnabled()
    qtbot.mouseClick(panel.undo_last_button, Qt.MouseButton.LeftButton)
    wait_for_data_page(page, qtbot)
    assert (conflicted / "red" / "copy-of-blue.png").is_file()
    assert window.session.dataset.class_counts == {"blue": 4, "red": 5}
    assert "(undone)" in panel.model.index(0).data()
    assert not panel.undo_last_button.isEnabled()


def test_the_undo_list_survives_a_restart(window, qtbot, messages, monkeypatch,
                                          conflicted: Path, tmp_path: Path) -> None:
    quarantine = tmp_path / "elsewhere"
    answer_quarantine_dialog(monkeypatch, quarantine)
    open_dataset(window, conflicted)
    page = window.data_page
    page.cleanup.move_to_class([conflicted / "red" / "1.png"], "blue")
    wait_for_data_page(page, qtbot)
    moved = conflicted / "blue" / "1 (2).png"  # blue/1.png exists: never overwritten
    assert moved.is_file() and (conflicted / "blue" / "1.png").is_file()
    window.close()

    again = MainWindow(Settings.load())  # a fresh start reading the same data folder
    qtbot.addWidget(again)
    again.show()
    open_dataset(again, conflicted)
    panel = again.data_page.moves_panel
    qtbot.waitUntil(lambda: panel.model.rowCount() == 1, timeout=60_000)
    assert "1.png: 'red' → class 'blue'" in panel.model.index(0).data()
    panel.view.setCurrentIndex(panel.model.index(0))
    assert panel.undo_selected_button.isEnabled()
    qtbot.mouseClick(panel.undo_selected_button, Qt.MouseButton.LeftButton)
    wait_for_data_page(again.data_page, qtbot)
    assert (conflicted / "red" / "1.png").is_file() and not moved.exists()
    assert again.session.dataset.class_counts == {"blue": 4, "red": 5}
    again.close()


def test_a_quarantine_inside_the_dataset_is_refused(window, qtbot, messages, monkeypatch,
                                                    conflicted: Path) -> None:
    answer_quarantine_dialog(monkeypatch, conflicted / "red")
    open_dataset(window, conflicted)
    page = window.data_page
    assert not page.cleanup.quarantine([conflicted / "red" / "0.png"])
    assert "inside the dataset folder" in messages[-1][1]
    assert (conflicted / "red" / "0.png").is_file()
    assert Settings.load().quarantine_folder(conflicted.resolve()) is None


def test_run_history_shows_the_data_before_and_after_a_clean_up(qtbot) -> None:
    base = dict(run_id="r", created="2025-01-01T10:00:00", dataset_root="/d",
                dataset_fingerprint="f", classes=("a", "b"),
                config={"mode": "quick", "backbone": "x", "epochs": 1, "batch_size": 8,
                        "learning_rate": 0.1, "seed": 0, "augment": False},
                device="cpu", split={}, epochs=(), step_losses=(), best_epoch=0,
                best_val_loss=None, best_val_accuracy=0.5, baseline_accuracy=None,
                stopped="completed", seconds=1.0, model_path=None, versions={})
    old = RunRecord(**base)
    before = RunRecord(**{**base, "run_id": "r1", "class_counts": {"a": 150, "b": 150},
                          "cleanup_moves": 0})
    after = RunRecord(**{**base, "run_id": "r2", "class_counts": {"a": 142, "b": 150},
                         "cleanup_moves": 8})
    model = RunHistoryModel()
    model.set_records([old, before, after])
    column = model.HEADERS.index("Images")
    assert [model.index(row, column).data() for row in range(3)] == \
        ["292 (8 moved)", "300", "—"]
    assert "after 8 clean-up move(s)" in model.index(0, 1).data(Qt.ItemDataRole.ToolTipRole)


def test_the_moves_model_passes_the_model_tester(qtbot, conflicted: Path,
                                                  tmp_path: Path) -> None:
    move_to_class(conflicted, [conflicted / "red" / "1.png"], "blue")
    move_to_quarantine(conflicted, [conflicted / "red" / "2.png"], tmp_path / "q")
    undo_move(conflicted, 1)
    model = MovesModel()
    ModelTester(None).check(model)  # empty
    model.set_journal(read_journal(conflicted))
    ModelTester(None).check(model)
    assert model.rowCount() == 2
    newest, oldest = (model.index(row).data(MoveRole) for row in range(2))
    assert (newest.move_id, oldest.move_id) == (2, 1)
    assert "2.png: 'red' → quarantine" in model.index(0).data()
    assert model.index(1).data().endswith("(undone)")
    model.set_journal(None)
    ModelTester(None).check(model)
    assert model.rowCount() == 0
