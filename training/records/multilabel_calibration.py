"""Calibrated confidence for a multi-label model: a temperature per label, without torch.

A multi-label head gives each label its own sigmoid, so "is 80 % right 8 times in 10?" is
asked of each label's probability p: among the photos given p ≈ 0.8 for a label, does the
label sit on about 80 % of them? The reliability bins and ECE are single-label's
(`records.calibration.reliability`), fed each (photo, label) pair's p and whether the photo
has the label: per label, and pooled over every label (the one figure and diagram Evaluate
shows). Most pairs of a set with a few labels per photo are clear "no"s near 0, which the
pooled figure counts as they come: it is the calibration of every probability the model
gives, the rare label's included.

Training (`training.fitting.multilabel_calibration`) fits one temperature T per label on
validation and folds 1/T into that label's row of the head; the model file's header keeps
the temperatures and the validation ECE before and after under "label_calibration"
(`MultiLabelCalibration`). A file without it (older ones) was not calibrated: every T = 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.records.calibration import (
    CALIBRATED,
    FITTED,
    NO_MISTAKES,
    RULES,
    Reliability,
    reliability,
)

HEADER_KEY = "label_calibration"
"""Where a multi-label model file's header keeps its `MultiLabelCalibration`."""


@dataclass(frozen=True)
class LabelCalibration:
    """One label's temperature and its validation ECE before and after (0 and 0 when the
    rule left it unmeasured)."""

    name: str
    temperature: float
    ece_before: float
    ece_after: float
    positives: int
    """Validation photos with the label (T = 1 below `MIN_EACH` of either kind)."""
    negatives: int
    rule: str = FITTED

    @property
    def measured(self) -> bool:
        return self.rule in (FITTED, CALIBRATED, NO_MISTAKES)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "temperature": self.temperature,
                "ece_before": self.ece_before, "ece_after": self.ece_after,
                "positives": self.positives, "negatives": self.negatives, "rule": self.rule}

    @classmethod
    def from_dict(cls, data: Any) -> LabelCalibration:
        if not isinstance(data, dict):
            raise ValueError("a label's entry is not an object")
        name, temperature = data.get("name"), data.get("temperature")
        if not isinstance(name, str):
            raise ValueError(f"a label's name is {name!r}, not text")
        if type(temperature) not in (int, float) or not 0.0 < temperature < math.inf:
            raise ValueError(f"{name}: temperature is {temperature!r}, not a positive number")
        eces = [data.get("ece_before"), data.get("ece_after")]
        if not all(type(v) in (int, float) and 0.0 <= v <= 1.0 for v in eces):
            raise ValueError(f"{name}: ece_before/ece_after are {eces!r}, not numbers from 0 "
                             "to 1")
        counts = [data.get("positives"), data.get("negatives")]
        if not all(type(v) is int and v >= 0 for v in counts):
            raise ValueError(f"{name}: positives/negatives are {counts!r}, not counts")
        rule = data.get("rule", FITTED)
        if rule not in RULES:
            raise ValueError(f"{name}: rule is {rule!r}, not one of {', '.join(RULES)}")
        return cls(name, float(temperature), float(eces[0]), float(eces[1]), counts[0],
                   counts[1], rule)


@dataclass(frozen=True)
class MultiLabelCalibration:
    """What a multi-label model file says about its calibration: each label's T, and the
    validation ECE pooled over every label, before and after."""

    labels: tuple[LabelCalibration, ...]
    ece_before: float
    ece_after: float
    images: int

    @property
    def temperatures(self) -> tuple[float, ...]:
        return tuple(label.temperature for label in self.labels)

    def to_dict(self) -> dict[str, Any]:
        return {"labels": [label.to_dict() for label in self.labels],
                "ece_before": self.ece_before, "ece_after": self.ece_after,
                "images": self.images}

    @classmethod
    def from_dict(cls, data: Any, names: Sequence[str] | None = None) -> MultiLabelCalibration:
        """From a header's "label_calibration"; ValueError naming the bad field. With
        `names` (the file's labels), one entry per label, in their order."""
        if not isinstance(data, dict) or not isinstance(data.get("labels"), list):
            raise ValueError("is not an object with a list of labels")
        labels = tuple(LabelCalibration.from_dict(entry) for entry in data["labels"])
        if names is not None and tuple(label.name for label in labels) != tuple(names):
            raise ValueError("does not name the model's labels in their order")
        eces = [data.get("ece_before"), data.get("ece_after")]
        if not all(type(v) in (int, float) and 0.0 <= v <= 1.0 for v in eces):
            raise ValueError(f"ece_before/ece_after are {eces!r}, not numbers from 0 to 1")
        images = data.get("images")
        if type(images) is not int or images < 0:
            raise ValueError(f"images is {images!r}, not a count")
        return cls(labels, float(eces[0]), float(eces[1]), images)

    @classmethod
    def of_header(cls, header: dict[str, Any]) -> MultiLabelCalibration | None:
        """A checked header's calibration; None for a file trained before it."""
        data = header.get(HEADER_KEY)
        return None if data is None else cls.from_dict(data, header.get("classes"))

    def describe(self) -> str:
        """One line: the temperatures and the pooled validation ECE before and after."""
        fitted = [f"{label.name} {label.temperature:.2f}" for label in self.labels
                  if label.measured]
        kept = [label.name for label in self.labels if not label.measured]
        few = f"; left as trained (too few photos with or without it): {', '.join(kept)}" \
            if kept else ""
        return (f"temperature per label: {', '.join(fitted) or 'none fitted'}{few}; "
                f"validation ECE {self.ece_before:.3f} before, {self.ece_after:.3f} after "
                f"(all labels pooled, {self.images} photos)")


def pooled_reliability(probabilities: np.ndarray | Sequence, targets: np.ndarray | Sequence
                       ) -> Reliability:
    """The reliability bins and ECE of every (photo, label) probability against whether the
    photo has the label (an (N, L) array each)."""
    scores = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    truth = np.asarray(targets).astype(bool).reshape(-1)
    return reliability(scores, truth)


def uncalibrated(probabilities: np.ndarray | Sequence, temperatures: Sequence[float]
                 ) -> np.ndarray:
    """Calibrated (N, L) probabilities as the model gave them before its temperatures:
    sigmoid(T · logit p) (folding divided the logits by T exactly; a p rounded to 0 or 1
    stays so)."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1 - 1e-12)
    logits = np.log(p) - np.log1p(-p)
    return 1.0 / (1.0 + np.exp(-logits * np.asarray(temperatures, dtype=np.float64)))


def chance_wrong(probability: float, threshold: float) -> float:
    """A label's chance that its side of the threshold is wrong, with calibrated p: 1 − p
    when it is given (p ≥ threshold), p when it is not."""
    return 1.0 - probability if probability >= threshold else probability


def unsure_labels(probabilities: Sequence[float], thresholds: Sequence[float],
                  chance: float) -> tuple[int, ...]:
    """The labels (indices) whose chance of being on the wrong side of their threshold
    (`chance_wrong`) is over `chance` (0 to 1)."""
    return tuple(j for j, (p, t) in enumerate(zip(probabilities, thresholds, strict=True))
                 if chance_wrong(p, t) > chance + 1e-12)
