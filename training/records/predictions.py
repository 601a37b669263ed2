"""What a model said about one photo, as plain data: `Prediction`.

Made by the `training.predict.inference.Predictor`; shown, filtered, sorted and written to
CSV by front ends and the CLI without torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from training.records.novelty_calibration import NoveltyCalibration


@dataclass(frozen=True)
class Prediction:
    path: str
    label: str | None
    confidence: float
    probabilities: tuple[float, ...]
    """One per class of the predictor, in `Predictor.classes` order; empty on error."""
    error: str | None = None
    novelty: float | None = None
    """How unlike the training images it looks (`training.models.novelty`); None when the model has
    no reference (the ImageNet model, files from before format 2) or the file is unreadable."""
    unfamiliar: bool = False
    """"None of these" at the predictor's percentile (`none_of_these`)."""
    threshold: float | None = None
    """The model's threshold for `label` (`training.records.operating_points`); None when the
    class has none."""

    @property
    def below_threshold(self) -> bool:
        """Unsure: `label` is the most probable class, but below its threshold, so the photo
        is not given it (nor any other class)."""
        return below_threshold(self.confidence, self.threshold, self.unfamiliar)


def none_of_these(novelty: float | None, calibration: NoveltyCalibration | None,
                  percentile: float) -> bool:
    """The one rule for "none of these", wherever a photo is flagged (the predictor, the
    gallery when its percentile moves): its novelty score is above the model's threshold at
    `percentile`. Never for a model without a reference or a photo without a score (an
    unreadable one)."""
    return calibration is not None and calibration.is_unfamiliar(novelty, percentile)


def below_threshold(confidence: float | None, threshold: float | None, unfamiliar: bool) -> bool:
    """The one rule for "unsure: below its class's threshold", wherever a photo is marked (the
    predictor, the gallery, the CLI). "None of these" is decided first: a photo flagged by it
    is never also below a threshold."""
    return (not unfamiliar and threshold is not None and confidence is not None
            and confidence < threshold)
