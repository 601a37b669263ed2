"""Message boxes shared by the pages."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


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
