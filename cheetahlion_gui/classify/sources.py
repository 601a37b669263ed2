"""The Classify step's top bar: which images (a folder, or dropped files) and which model.

The model is the run chosen on the Train step, a model file, or the built-in ImageNet
classifier, which needs no training; a model file chosen here is remembered among the
recent models.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QWidget,
)

from cheetahlion_gui.dialogs import start_folder
from cheetahlion_gui.session import Session

MODEL_CHOSEN_RUN = "run"
MODEL_FILE = "file"
MODEL_IMAGENET = "imagenet"


class SourcesBar(QWidget):
    """Choose folder…, what is shown, the model chooser, Classify and Stop (the page wires
    the buttons)."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.model_file: str | None = None
        self.folder_button = QPushButton("Choose folder…")
        self.source_label = QLabel("Choose a folder of images, or drop files and folders here.")
        self.source_label.setWordWrap(True)  # else its text sets the window's least width
        self.model_source = QComboBox()
        self.model_source.addItem("The chosen run's model", MODEL_CHOSEN_RUN)
        self.model_source.addItem("A model file…", MODEL_FILE)
        self.model_source.addItem("Built-in ImageNet model", MODEL_IMAGENET)
        self.model_source.setItemData(
            2, "ImageNet's 1,000 everyday classes: works before any training",
            Qt.ItemDataRole.ToolTipRole)
        self.model_source.activated.connect(self._model_source_chosen)
        # As wide as its longest entry, which shows whole when chosen: the entries are short
        # enough for the 1280-px window.
        self.model_source.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.classify_button = QPushButton("Classify")
        self.classify_button.setObjectName("primary")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.folder_button)
        layout.addWidget(self.source_label, 1)
        layout.addWidget(QLabel("Model:"))
        layout.addWidget(self.model_source)
        layout.addWidget(self.classify_button)
        layout.addWidget(self.stop_button)

    def show_sources(self, sources: list[Path]) -> None:
        names = ", ".join(p.name for p in sources[:3]) + ("…" if len(sources) > 3 else "")
        self.source_label.setText(names)

    @Slot(int)
    def _model_source_chosen(self, _index: int) -> None:
        if self.model_source.currentData() == MODEL_FILE:
            path, _ = QFileDialog.getOpenFileName(self, "Open a model file",
                                                  start_folder(self.session.settings),
                                                  "CheetahLion models (*.safetensors)")
            if path:
                self.use_model_file(path)
            else:
                self.model_source.setCurrentIndex(0)

    def use_model_file(self, path: str) -> None:
        self.model_file = path
        self.model_source.setCurrentIndex(self.model_source.findData(MODEL_FILE))
        self.model_source.setItemText(1, f"Model file: {Path(path).name}")
        self.session.settings.remember_model(path)
        self.session.settings.save()

    def chosen_model(self) -> tuple[bool, str | None]:
        """(ok, model path or None for ImageNet); not ok, with a message, when none is set."""
        source = self.model_source.currentData()
        if source == MODEL_IMAGENET:
            return True, None
        if source == MODEL_FILE and self.model_file:
            return True, self.model_file
        if source == MODEL_CHOSEN_RUN and self.session.model_path:
            return True, self.session.model_path
        QMessageBox.information(
            self, "No model yet",
            "Train a model (or pick a run on the Train step), open a model file, or choose the "
            "built-in ImageNet model.")
        return False, None
