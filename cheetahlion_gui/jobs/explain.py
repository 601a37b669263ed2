"""A Grad-CAM explanation of one image, turned into QImages in the worker thread.

The job turns the engine's arrays into two QImages, the crop the model saw and the
heatmap's colours (QImage, not QPixmap: only the GUI thread may make pixmaps), so the view
only composes them. The engine keeps one long-lived explainer per model file with a cache
of its explanations (`training.insight.explain.explainer_for`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtGui import QImage

from cheetahlion_gui.jobs.runner import Job
from training.records.explanation import Explanation


@dataclass(frozen=True)
class ExplainRequest:
    model: str | None
    """A model file, or None for the built-in ImageNet model."""
    path: str
    class_index: int | None
    """None: the class the model predicts."""


@dataclass(frozen=True)
class ExplainedImage:
    request: ExplainRequest
    explanation: Explanation
    """Its scalars are read on the GUI thread, not its arrays."""
    photo: QImage
    heat: QImage


class ExplainJob(Job):
    """Explain one image for one class; result: ExplainedImage, or None if cancelled first."""

    def __init__(self, request: ExplainRequest) -> None:
        super().__init__()
        self.request = request

    def work(self) -> ExplainedImage | None:
        from training.insight.explain import explainer_for, heat_colours

        if self.cancel.is_set():
            return None
        explainer = explainer_for(self.request.model)
        explanation = explainer.explain(self.request.path, self.request.class_index)
        return ExplainedImage(self.request, explanation, _qimage(explanation.image),
                              _qimage(heat_colours(explanation.heatmap)))


def _qimage(pixels: np.ndarray) -> QImage:
    """A uint8 (H, W, 3) array as a QImage that owns its pixels (made in the worker)."""
    height, width = pixels.shape[:2]
    data = np.ascontiguousarray(pixels).tobytes()
    return QImage(data, width, height, width * 3, QImage.Format.Format_RGB888).copy()
