"""How a model did on a split, as plain data: `EvaluationReport` and its parts.

Computed by `training.predict.evaluation`; the Evaluate step and the CLI show it, with
how well its confidences are calibrated on the evaluated images (`reliability`) beside what
the model file says of its calibration at training time.
"""

from __future__ import annotations

from dataclasses import dataclass

from training.records.calibration import ModelCalibration, Reliability


@dataclass(frozen=True)
class ClassScores:
    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class ImageOutcome:
    """What the model said about one image of the evaluated split."""

    path: str
    true_label: str
    predicted_label: str
    confidence: float
    novelty: float | None = None
    unfamiliar: bool = False
    """Flagged as "none of these" at the evaluation's percentile."""

    @property
    def correct(self) -> bool:
        return self.true_label == self.predicted_label


@dataclass(frozen=True)
class EvaluationReport:
    part: str
    classes: tuple[str, ...]
    accuracy: float
    loss: float
    confusion: tuple[tuple[int, ...], ...]
    """confusion[true][predicted] image counts, in `classes` order."""
    per_class: tuple[ClassScores, ...]
    mistakes: tuple[ImageOutcome, ...]
    """Wrong predictions, most confident first."""
    outcomes: tuple[ImageOutcome, ...]
    """Every scored image, in split order (e.g. to show the images of a confusion cell)."""
    unreadable: tuple[str, ...]
    images: int
    unfamiliar_fraction: float | None = None
    """Share of the scored images flagged "none of these"; None when the model has no
    reference. About 1 - percentile/100 on validation by construction; on a test split it is
    a real check of the calibration."""
    unfamiliar_percentile: float | None = None
    reliability: Reliability | None = None
    """The reliability bins and ECE of the top-1 confidences on the evaluated images."""
    calibration: ModelCalibration | None = None
    """The model file's calibration (T, validation ECE before and after); None for a file
    trained before calibration."""
