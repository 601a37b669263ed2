"""The Classify step's preview: one image large, every class's probability, and why.

The first tab shows where the model looked (a Grad-CAM heatmap over the crop it saw, see
`explain_view`); the second the whole photo, since the model sees only its centre crop.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QStringListModel, Qt, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.widgets.explain_view import ExplainView, release_when_idle
from cheetahlion_gui.widgets.gallery_model import GalleryItem
from cheetahlion_gui.widgets.thumbnails import ThumbnailCache

PREVIEW_SIZE = 560
TOP_CLASSES = 20


class PreviewDialog(QDialog):
    """A large view of one image with every class's probability and its explanation.

    `model` is the model file that classified the image, or None for the built-in ImageNet
    model; the explanation is computed with it in the background as the dialog opens.
    `novelty` says in words how unlike the training photos the image is, when known.
    """

    def __init__(self, item: GalleryItem, classes: tuple[str, ...], thumbnails: ThumbnailCache,
                 model: str | None, novelty: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(Path(item.path).name)
        self.item = item
        self.thumbnails = thumbnails
        self.picture = QLabel("Loading…")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(PREVIEW_SIZE, PREVIEW_SIZE * 3 // 4)
        self.explanation = ExplainView(self)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.explanation, "Where the model looked")
        self.tabs.addTab(self.picture, "Whole photo")
        ranked = sorted(zip(classes, item.probabilities, strict=False), key=lambda p: -p[1])
        lines = [f"{name}: {probability:.1%}" for name, probability in ranked[:TOP_CLASSES]]
        if item.error:
            lines = [item.error]
        self.probabilities = QStringListModel(lines, self)
        probabilities_view = QListView()
        probabilities_view.setModel(self.probabilities)
        probabilities_view.setMaximumHeight(160)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(QLabel(item.path))
        self.novelty = QLabel(novelty[:1].upper() + novelty[1:] if novelty else "")
        self.novelty.setObjectName("unfamiliar" if item.unfamiliar else "")
        self.novelty.setVisible(bool(novelty))
        layout.addWidget(self.novelty)
        if item.unfamiliar:  # its shares are among classes it is unlike: no suggestion
            layout.addWidget(QLabel("Shares among the trained classes only; the photo is "
                                    "unlike all of them."))
        layout.addWidget(probabilities_view)
        layout.addWidget(buttons)
        thumbnails.changed.connect(self._thumbnail_changed)
        self._thumbnail_changed(item.path)
        if item.error:
            self.tabs.setCurrentWidget(self.picture)
            self.tabs.setTabEnabled(0, False)
        else:
            self.explanation.explain(model, item.path)

    def done(self, result: int) -> None:
        super().done(result)
        release_when_idle(self, self.explanation)

    @Slot(str)
    def _thumbnail_changed(self, path: str) -> None:
        if path != self.item.path:
            return
        self.thumbnails.show_in(self.picture, path, PREVIEW_SIZE)
