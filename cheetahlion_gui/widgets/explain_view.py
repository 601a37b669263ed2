"""Where did the model look? A Grad-CAM heatmap over the photo, with a class and opacity.

The explanation is computed in a worker thread (`jobs.explain.ExplainJob`), which also turns
the engine's arrays into two QImages: the crop the model saw and the heatmap's colours. The
GUI thread only composes them with QPainter, so moving the opacity slider is instant and
never recomputes. The engine keeps one long-lived explainer per model file with a cache of
its explanations, so reopening an image, or going back to a class already shown, comes
straight from memory.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, Signal, Slot
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.jobs.controller import JobController, Lifecycle
from cheetahlion_gui.jobs.explain import ExplainedImage, ExplainJob, ExplainRequest

PICTURE_SIZE = 448
"""Shown size of the crop (224 px for the default model, so every pixel is 2×2)."""
DEFAULT_OPACITY = 50
QUIT_TIMEOUT_MS = 10_000
"""An explanation takes well under a second once its model is loaded."""
FAINT_EVIDENCE = 0.1
"""Below this probability the caption warns that the (self-scaled) map shows faint evidence."""


def percent(probability: float) -> str:
    return "<1 %" if probability < 0.005 else f"{probability:.0%}".replace("%", " %")


class ExplainView(QWidget):
    """The photo the model saw with its heatmap, a class chooser, an opacity slider."""

    explained = Signal()
    """A new explanation is on screen (or its error is)."""

    def __init__(self, parent: QWidget | None = None, size: int = PICTURE_SIZE) -> None:
        super().__init__(parent)
        self.picture_size = size
        self.jobs = JobController(self)
        self.runner = self.jobs.runner
        self.jobs.runner.finished.connect(self._start_pending)
        self._explaining = Lifecycle(succeeded=self._succeeded, failed=self._failed)
        self.request: ExplainRequest | None = None
        self.shown: ExplainedImage | None = None
        self.error: str | None = None
        self._pending: ExplainRequest | None = None

        self.picture = QLabel("Choose an image to explain.")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(size, size)
        self.caption = QLabel()
        self.caption.setObjectName("subheading")
        self.caption.setWordWrap(True)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumHeight(8)
        self.busy.setTextVisible(False)
        self.busy.setVisible(False)
        self.classes = QComboBox()
        self.classes.setToolTip("The class whose evidence is shown")
        self.classes.activated.connect(self._class_chosen)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(DEFAULT_OPACITY)
        self.opacity.setToolTip("How strongly the heatmap covers the photo")
        self.opacity.valueChanged.connect(self._compose)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Explain class"))
        controls.addWidget(self.classes, 1)
        controls.addWidget(QLabel("Heatmap opacity"))
        controls.addWidget(self.opacity)
        layout = QVBoxLayout(self)
        layout.addWidget(self.picture, 1)
        layout.addWidget(self.busy)
        layout.addWidget(self.caption)
        layout.addLayout(controls)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._quitting)

    @property
    def computing(self) -> bool:
        return self.jobs.busy

    def explain(self, model: str | None, path: str, class_index: int | None = None) -> None:
        """Explain `path` with `model` (None: ImageNet) for a class (None: the predicted one)."""
        if self.request is None or (model, path) != (self.request.model, self.request.path):
            self.classes.clear()
            self.shown = None
        self.request = ExplainRequest(model, path, class_index)
        self.error = None
        self.busy.setVisible(True)
        self.caption.setText("Working out where the model looked…")
        if self.jobs.busy:  # the newest request wins; it starts when this one has ended
            self._pending = self.request
            self.jobs.cancel()
            return
        self._start(self.request)

    @Slot()
    def stop(self) -> None:
        """Drop queued work and let a running explanation end without being shown."""
        self._pending = None
        self.request = None
        self.jobs.cancel()

    def _start(self, request: ExplainRequest) -> None:
        self.jobs.start(ExplainJob(request), self._explaining)

    @Slot()
    def _start_pending(self) -> None:
        if self._pending is not None:
            request, self._pending = self._pending, None
            self._start(request)

    @Slot()
    def _quitting(self) -> None:
        """The application is quitting: a running QThread must end before it is destroyed."""
        self.stop()
        self.runner.stop_and_wait(QUIT_TIMEOUT_MS)

    @Slot(object)
    def _succeeded(self, result: ExplainedImage | None) -> None:
        if result is None or result.request != self.request:
            return  # cancelled, or superseded by a newer request
        self.shown = result
        self.busy.setVisible(False)
        explanation = result.explanation
        if self.classes.count() != len(explanation.classes):
            self._fill_classes(explanation.classes, explanation.probabilities)
        self.classes.setCurrentIndex(self.classes.findData(explanation.class_index))
        text = f"Where the model looked for '{explanation.class_name}' " \
               f"({percent(explanation.probability)})"
        if explanation.class_index != explanation.predicted_index:
            text += f"; it predicted '{explanation.predicted}' " \
                    f"({percent(max(explanation.probabilities))})"
        if explanation.probability < FAINT_EVIDENCE:
            # Each map is scaled to its own peak, so faint evidence looks as bright as strong.
            text += ". It sees little of this class here: the colours show where it sees most"
        self.caption.setText(text)
        self._compose()
        self.explained.emit()

    @Slot(str, str)
    def _failed(self, message: str, _details: str) -> None:
        if self._pending is not None or self.request is None:
            return
        self.busy.setVisible(False)
        self.shown = None
        self.error = message
        self.picture.setPixmap(QPixmap())
        self.picture.setText("No explanation")
        self.caption.setText(message)
        self.explained.emit()

    def _fill_classes(self, classes: tuple[str, ...], probabilities: tuple[float, ...]) -> None:
        """Most probable first, so the likely alternatives are at hand even among 1000."""
        self.classes.clear()
        ranked = sorted(range(len(classes)), key=lambda i: -probabilities[i])
        for index in ranked:
            self.classes.addItem(f"{classes[index]} ({percent(probabilities[index])})", index)

    @Slot(int)
    def _class_chosen(self, row: int) -> None:
        index = self.classes.itemData(row)
        if self.request is not None and index is not None and \
                (self.shown is None or index != self.shown.explanation.class_index):
            self.explain(self.request.model, self.request.path, index)

    @Slot()
    def _compose(self) -> None:
        """The heat over the photo at the slider's opacity: two QImages, one QPainter."""
        if self.shown is None:
            return
        photo, heat = self.shown.photo, self.shown.heat
        pixmap = QPixmap(photo.size())
        painter = QPainter(pixmap)
        painter.drawImage(0, 0, photo)
        painter.setOpacity(self.opacity.value() / 100)
        painter.drawImage(0, 0, heat)
        painter.end()
        self.picture.setPixmap(pixmap.scaled(
            self.picture_size, self.picture_size, Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation))


class ExplainDialog(QDialog):
    """One image's explanation in its own window, e.g. for a mistake on the Evaluate page."""

    def __init__(self, model: str | None, path: str, heading: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Why? {Path(path).name}")
        self.heading = QLabel(heading)
        self.heading.setObjectName("heading")
        self.view = ExplainView(self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.view, 1)
        layout.addWidget(QLabel(path))
        layout.addWidget(buttons)
        self.view.explain(model, path)

    def done(self, result: int) -> None:
        super().done(result)
        release_when_idle(self, self.view)


def release_when_idle(dialog: QDialog, view: ExplainView) -> None:
    """Delete a closed dialog now, or once its explanation thread has ended.

    A running QThread must never be destroyed; deleting the dialog right away would
    destroy its view's runner, so the deletion waits for the runner's `finished`.
    """
    view.stop()
    if view.computing:
        view.runner.finished.connect(dialog.deleteLater)
    else:
        dialog.deleteLater()
