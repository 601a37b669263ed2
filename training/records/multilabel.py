"""Multi-label datasets and what a multi-label model says, as plain data.

A photo of a beach at sunset with people in it is "beach", "sunset" and "people" at once:
each image carries a set of labels (possibly empty: "none of the labels", a valid negative).
Two layouts are read (`training.data.multilabel_scan`): a folder holding `labels.csv`
(`path,labels`, labels joined by ";") and class folders where the same photo sits in
several folders. Splits are the single-label `Split` (indices into `images`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from training.records.calibration import Reliability
from training.records.dataset import HealthReport
from training.records.multilabel_calibration import (
    MultiLabelCalibration,
    pooled_reliability,
    uncalibrated,
)

LABELS_FILE = "labels.csv"
LABEL_SEPARATOR = ";"


@dataclass(frozen=True)
class LabelledImage:
    """One usable image and the indices (into `MultiLabelDataset.labels`) of its labels."""

    path: Path
    relpath: str
    labels: tuple[int, ...]
    width: int
    height: int
    content_hash: str


@dataclass(frozen=True)
class MultiLabelDataset:
    root: Path
    labels: tuple[str, ...]
    """The label names, sorted; index = position in every target vector."""
    images: tuple[LabelledImage, ...]
    report: HealthReport
    fingerprint: str
    source: Literal["labels.csv", "folders"]

    @property
    def label_counts(self) -> dict[str, int]:
        """Positives per label."""
        counts = [0] * len(self.labels)
        for image in self.images:
            for label in image.labels:
                counts[label] += 1
        return dict(zip(self.labels, counts, strict=True))

    @property
    def targets(self) -> tuple[tuple[int, ...], ...]:
        """Per image, 1/0 per label (the model's target vectors)."""
        return tuple(tuple(int(i in image.labels) for i in range(len(self.labels)))
                     for image in self.images)

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(image.path for image in self.images)


@dataclass(frozen=True)
class LabelScores:
    """One label's figures on an evaluated split, at its threshold."""

    name: str
    precision: float
    recall: float
    f1: float
    average_precision: float
    """Area under the precision-recall curve (scikit-learn's step-wise AP); NaN without
    positives."""
    threshold: float
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int
    ece: float = 0.0
    """The label's calibration error on these photos (its probability against whether each
    photo has it, 15 bins); 0 without photos."""

    @property
    def positives(self) -> int:
        return self.true_positives + self.false_negatives


@dataclass(frozen=True)
class MultiLabelOutcome:
    """What the model said about one image: its labels, the labels it gave, per-label
    probabilities in `labels` order."""

    path: str
    true_labels: tuple[str, ...]
    predicted_labels: tuple[str, ...]
    probabilities: tuple[float, ...]

    @property
    def missed(self) -> tuple[str, ...]:
        return tuple(label for label in self.true_labels if label not in self.predicted_labels)

    @property
    def spurious(self) -> tuple[str, ...]:
        return tuple(label for label in self.predicted_labels if label not in self.true_labels)

    @property
    def exact(self) -> bool:
        return set(self.true_labels) == set(self.predicted_labels)


@dataclass(frozen=True)
class MultiLabelReport:
    part: str
    labels: tuple[str, ...]
    per_label: tuple[LabelScores, ...]
    macro_f1: float
    micro_f1: float
    mean_average_precision: float
    """Mean of the labels' AP over labels with at least one positive."""
    exact_match: float
    """Share of images whose predicted label set is exactly their label set."""
    outcomes: tuple[MultiLabelOutcome, ...]
    unreadable: tuple[str, ...] = ()
    calibration: MultiLabelCalibration | None = None
    """What the model file says of its calibration (None: trained before it)."""

    @property
    def mistakes(self) -> tuple[MultiLabelOutcome, ...]:
        return tuple(outcome for outcome in self.outcomes if not outcome.exact)

    def reliability(self, calibrated: bool = True) -> Reliability:
        """Every (photo, label) probability of the evaluated photos against whether the
        photo has the label, pooled (`pooled_reliability`); `calibrated=False`: as the
        model would have said before its temperatures."""
        truth = [[label in outcome.true_labels for label in self.labels]
                 for outcome in self.outcomes]
        probabilities = [outcome.probabilities for outcome in self.outcomes]
        if not calibrated and self.calibration is not None:
            probabilities = uncalibrated(probabilities, self.calibration.temperatures)
        return pooled_reliability(probabilities, truth)


@dataclass(frozen=True)
class MultiLabelPrediction:
    """A multi-label model's answer for one photo: every label at or above its threshold."""

    path: str
    labels: tuple[str, ...]
    probabilities: tuple[float, ...]
    """One per label of the model, in its `labels` order; empty on error."""
    error: str | None = None


UNSURE_BAND = math.log(7 / 3)
"""How close to its threshold a label's probability is "unsure", in log-odds: the label's
odds within a factor of 7/3 of its threshold's. For a threshold of 0.5 that is exactly
0.3 < p < 0.7, the band of the single-label gallery's default "unsure below 70 %" between
two classes. Log-odds (the head's own output, before the sigmoid) and not probability, so
that a rare label's low threshold gets a band as narrow as its scale: around 0.1 it is
0.045–0.21, where ±0.2 in probability would call every ordinary "no" unsure."""
_EDGE = 1e-6


def label_doubt(probabilities: Sequence[float], thresholds: Sequence[float]) -> float | None:
    """How far the photo's least certain label is from its threshold, in log-odds (0: on
    it); None without probabilities (an unreadable photo). Smaller is more unsure."""
    if not probabilities or len(probabilities) != len(thresholds):
        return None
    return min(abs(_logit(p) - _logit(t)) for p, t in zip(probabilities, thresholds,
                                                          strict=True))


def is_unsure(probabilities: Sequence[float], thresholds: Sequence[float]) -> bool:
    """Whether some label's probability is within `UNSURE_BAND` of its threshold: a little
    more (or less) of what the model saw would give the photo another set of labels."""
    doubt = label_doubt(probabilities, thresholds)
    return doubt is not None and doubt < UNSURE_BAND


def _logit(p: float) -> float:
    p = min(max(p, _EDGE), 1 - _EDGE)
    return math.log(p / (1 - p))
