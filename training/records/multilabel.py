"""Multi-label datasets and what a multi-label model says, as plain data.

A photo of a beach at sunset with people in it is "beach", "sunset" and "people" at once:
each image carries a set of labels (possibly empty: "none of the labels", a valid negative).
Two layouts are read (`training.data.multilabel_scan`): a folder holding `labels.csv`
(`path,labels`, labels joined by ";") and class folders where the same photo sits in
several folders. Splits are the single-label `Split` (indices into `images`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from training.records.dataset import HealthReport

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

    @property
    def mistakes(self) -> tuple[MultiLabelOutcome, ...]:
        return tuple(outcome for outcome in self.outcomes if not outcome.exact)


@dataclass(frozen=True)
class MultiLabelPrediction:
    """A multi-label model's answer for one photo: every label at or above its threshold."""

    path: str
    labels: tuple[str, ...]
    probabilities: tuple[float, ...]
    """One per label of the model, in its `labels` order; empty on error."""
    error: str | None = None
