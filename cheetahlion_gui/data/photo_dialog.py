"""One photo of the dataset, large: what a click on the dataset map opens.

Lighter than the Classify step's preview (no model runs): the map is for looking through a
folder quickly, so the photo shows as soon as its large thumbnail is decoded (on the
thumbnail pool, never on the GUI thread), with where it sits and, when the finder flagged
it, why.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from cheetahlion_gui.widgets.preview_dialog import PREVIEW_SIZE
from cheetahlion_gui.widgets.thumbnails import ThumbnailCache


class PhotoDialog(QDialog):
    """`path` as large as `thumbnails` makes it, with a line naming its class and flag."""

    def __init__(self, path: Path, class_name: str, flag: str, thumbnails: ThumbnailCache,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(path.name)
        self.path = str(path)
        self.thumbnails = thumbnails
        self.picture = QLabel("Loading…")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(PREVIEW_SIZE, PREVIEW_SIZE * 3 // 4)
        about = f"In <b>{escape(class_name)}</b>: {escape(self.path)}"
        if flag:
            about += f"<br><span style='color:#d62728'>Likely mislabelled: {escape(flag)}</span>"
        self.about = QLabel(about)
        self.about.setTextFormat(Qt.TextFormat.RichText)
        self.about.setWordWrap(True)
        self.about.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.picture, 1)
        layout.addWidget(self.about)
        layout.addWidget(buttons)
        thumbnails.changed.connect(self._thumbnail_changed)
        self._thumbnail_changed(self.path)

    @Slot(str)
    def _thumbnail_changed(self, path: str) -> None:
        if path != self.path:
            return
        self.thumbnails.show_in(self.picture, path, PREVIEW_SIZE)
