"""How a model did on a split, as plain data: `EvaluationReport` and its parts.

Computed by `training.predict.evaluation`; the Evaluate step and the CLI show it. Also the
figures that weigh every class the same (`BalancedScores`, a run's on validation) and the
one rule for a class too small to trust (`too_few_to_trust`, `small_class_note`), and how
well the confidences are calibrated on the evaluated images (`reliability`) beside what the
model file says of its calibration at training time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from training.records.calibration import ModelCalibration, Reliability
from training.records.runtime_words import FrozenRun

TOO_FEW_TO_TRUST = 10
"""A class with fewer photos than this in the part scored has a recall too coarse to trust:
each photo moves it by more than 10 points (on 5 photos it can only be 0, 20, 40, … %), and a
single mistake swings the balanced accuracy by more than 10 / (number of classes) points."""


@dataclass(frozen=True)
class BalancedScores:
    """A run's validation figures that weigh every class the same, on the model as saved."""

    balanced_accuracy: float
    """The mean of the per-class recalls (of the classes with validation photos)."""
    recall: dict[str, float] = field(default_factory=dict)
    """Each class's share of its validation photos predicted right (classes with any)."""
    support: dict[str, int] = field(default_factory=dict)
    """Each class's validation photos."""
    logit_adjustment: float = 0.0
    """The τ of the adjustment for rare classes folded into the saved classifier
    (`training.fitting.rare_classes`; 0: none)."""


def too_few_to_trust(support: Mapping[str, int]) -> list[tuple[str, int]]:
    """The (class, photos) with fewer than `TOO_FEW_TO_TRUST` photos, fewest first."""
    return sorted(((name, count) for name, count in support.items()
                   if count < TOO_FEW_TO_TRUST), key=lambda item: (item[1], item[0]))


def small_class_note(support: Mapping[str, int], part: str = "validation") -> str | None:
    """One line naming the classes too small to trust, e.g. "Too few validation photos to
    trust the recall of jaguar (3 photos: one photo moves it by 33 %). Add photos of it.";
    None when there is none."""
    small = too_few_to_trust(support)
    if not small:
        return None
    named = ", ".join(
        f"{name} ({count} photo{'s' if count != 1 else ''}"
        + (f": one photo moves it by {100 / count:.0f} %)" if count else ")")
        for name, count in small)
    them = "them" if len(small) > 1 else "it"
    return (f"Too few {part} photos to trust the recall of {named}. Add photos of {them} "
            f"(at least {TOO_FEW_TO_TRUST} each in {part}).")



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
    thresholds: tuple[float | None, ...] = ()
    """The model's per-class thresholds when it was evaluated, in `classes` order (None: a
    class without one); empty when it has none. The confusion matrix and per-class scores
    are the top class's; `training.records.operating_points` gives the figures at these."""
    balanced_accuracy: float = 0.0
    """The mean of the per-class recalls, over the classes with images in this part: what
    accuracy hides when a class is rare."""
    reliability: Reliability | None = None
    """The reliability bins and ECE of the top-1 confidences on the evaluated images."""
    calibration: ModelCalibration | None = None
    """The model file's calibration (T, validation ECE before and after); None for a file
    trained before calibration."""
    frozen: FrozenRun | None = None
    """What ran the frozen network, against the precision the model was trained on."""

    @property
    def support(self) -> dict[str, int]:
        """Each class's images in this part."""
        return {scores.name: scores.support for scores in self.per_class}
