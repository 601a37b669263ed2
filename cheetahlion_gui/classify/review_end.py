"""The review's last page: how many photos went into the dataset, and "train again?".

While copies are still running it says so and holds its buttons back, so the dialog never
closes with photos half added and "train again" never starts before the last one is in.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class ReviewEnd(QWidget):
    """The count, where the photos went, and Close / Train again (the dialog wires them)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = QLabel()
        self.text.setObjectName("heading")
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.train_button = QPushButton("Train again")
        self.train_button.setObjectName("primary")
        self.close_button = QPushButton("Close")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        buttons.addWidget(self.train_button)
        column = QVBoxLayout(self)
        column.addStretch(1)
        column.addWidget(self.text, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addWidget(self.detail)
        column.addLayout(buttons)
        column.addStretch(1)

    def show_outcome(self, per_class: dict[str, int], busy: bool, reviewed: int,
                     total: int, photos: int | None = None) -> None:
        """`per_class`: photos now in the dataset per class; `busy`: copies still running.
        A multi-label review gives `photos` (a photo counts once per label it went in
        with, so the counts per label add up to more) and its counts are per label."""
        added = sum(per_class.values()) if photos is None else photos
        photos = "1 photo" if added == 1 else f"{added} photos"
        if busy:
            self.text.setText(f"Copying the last photos… {photos} added so far")
        elif added:
            self.text.setText(f"{photos} added — train again?")
        else:
            self.text.setText("No photos added.")
        into = ", ".join(f"{name} +{count}" for name, count in per_class.items())
        into = f"Into {into}. " if into and photos is None else f"Per label: {into}. " \
            if into else ""
        train = ("Train again starts a run with the current settings on the dataset as it is "
                 "now; the run history shows it beside the earlier ones. ") if added else ""
        self.detail.setText(
            into
            + f"Reviewed {reviewed} of {total}. {train}Backspace goes back to the last photo.")
        self.train_button.setVisible(added > 0)
        self.train_button.setEnabled(not busy)
        self.train_button.setDefault(added > 0)
        self.close_button.setEnabled(not busy)
