"""Folder dialogs open where the user's photos are, not in the program's own folder.

With nothing opened yet: the Pictures folder (else home). After a dataset was opened: the
folder around it, so a sibling dataset is one click away. The choice is saved in Settings.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gui_steps import open_dataset
from PySide6.QtWidgets import QFileDialog
from synthetic import make_dataset

from cheetahlion_gui.settings import Settings


@pytest.fixture
def dialog_starts(monkeypatch, tmp_path: Path) -> list[str]:
    """Every folder dialog's starting folder; each dialog is cancelled. HOME is a fresh
    folder, so "Pictures" is under the test's control."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    starts: list[str] = []

    def cancelled(_parent, _title: str, start: str = "") -> str:
        starts.append(start)
        return ""

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(cancelled))
    return starts


def test_first_dialogs_open_in_pictures_else_home(window, dialog_starts, tmp_path) -> None:
    window.data_page.choose_folder()
    window.classify_page.choose_folder()
    (tmp_path / "home" / "Pictures").mkdir()
    window.data_page.choose_folder()
    assert dialog_starts == [str(tmp_path / "home")] * 2 + [str(tmp_path / "home" / "Pictures")]


def test_after_a_dataset_the_dialogs_open_beside_it(window, qtbot, dialog_starts,
                                                    tmp_path) -> None:
    open_dataset(window, make_dataset(tmp_path / "photos" / "colours", per_class=3))
    window.data_page.choose_folder()
    window.classify_page.choose_folder()
    assert dialog_starts == [str((tmp_path / "photos").resolve())] * 2


def test_a_chosen_folder_is_remembered_in_settings(window, qtbot, monkeypatch,
                                                   tmp_path) -> None:
    chosen = make_dataset(tmp_path / "elsewhere" / "cats", per_class=3)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *_args: str(chosen)))
    window.data_page.choose_folder()
    qtbot.waitUntil(lambda: window.session.dataset is not None
                    and not window.data_page.runner.busy, timeout=60_000)
    assert Settings.load().last_folder == str(tmp_path / "elsewhere")


def test_the_classify_steps_model_file_dialog_opens_beside_the_dataset(
        window, qtbot, monkeypatch, dialog_starts, tmp_path) -> None:
    open_dataset(window, make_dataset(tmp_path / "photos" / "colours", per_class=3))
    asked: list[str] = []

    def cancelled(_parent, _title: str, start: str = "", _filter: str = "") -> tuple[str, str]:
        asked.append(start)
        return "", ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(cancelled))
    sources = window.classify_page.sources_bar
    sources.model_source.setCurrentIndex(sources.model_source.findText("A model file…"))
    sources.model_source.activated.emit(sources.model_source.currentIndex())
    assert asked == [str((tmp_path / "photos").resolve())]
