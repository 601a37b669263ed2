"""Message boxes and the folder dialog shared by the pages."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from cheetahlion_gui.settings import Settings


def show_error(parent: QWidget | None, title: str, message: str, details: str = "") -> None:
    """An error the user can act on; technical details folded away under "Show Details…"."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok,
                      parent)
    if details:
        box.setDetailedText(details)
    box.setObjectName("errorDialog")
    box.open()


def show_message(parent: QWidget | None, title: str, message: str) -> None:
    """A result worth reading that needs no answer: window-modal, so nothing waits on it."""
    box = QMessageBox(QMessageBox.Icon.Information, title, message,
                      QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("messageDialog")
    box.open()


def ask_yes_no(parent: QWidget | None, title: str, question: str) -> bool:
    answer = QMessageBox.question(parent, title, question)
    return answer == QMessageBox.StandardButton.Yes


def start_folder(settings: Settings) -> str:
    """Where a folder dialog opens: beside the last opened dataset, else where the last folder
    dialog was left, else the user's Pictures folder, else home. Never the working directory
    (Qt's default without one), which for a user is the program's own folder."""
    candidates = [str(Path(settings.recent_datasets[0]).parent)] \
        if settings.recent_datasets else []
    candidates += [settings.last_folder, QStandardPaths.writableLocation(
        QStandardPaths.StandardLocation.PicturesLocation)]
    return next((folder for folder in candidates if folder and Path(folder).is_dir()),
                str(Path.home()))


def choose_folder(parent: QWidget | None, title: str, settings: Settings) -> Path | None:
    """Ask for a folder, starting at `start_folder`; the choice is remembered (and saved) so
    the next dialog opens beside it. None when the user cancels."""
    chosen = QFileDialog.getExistingDirectory(parent, title, start_folder(settings))
    if not chosen:
        return None
    settings.remember_folder(chosen)
    settings.save()
    return Path(chosen)
