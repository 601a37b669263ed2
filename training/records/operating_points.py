"""Per-class thresholds of a single-label model, and what they give on validation photos.

A threshold t for class c means: a photo whose most probable class is c is given c only
when that probability is at least t; below it the photo is "unsure" (below c's threshold),
never given another class. "None of these" is decided first: a photo flagged by it is given
no class whatever its probability, and is not counted unsure either.

The figures a threshold gives (precision, recall, photos left unsure) come from what an
evaluation already holds: each photo's true class, most probable class, that probability and
its "none of these" flag. Plain NumPy over those arrays, O(photos) per class, so the Evaluate
step moves a slider live on its GUI thread and the CLI prints the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from training.core.errors import ConfigError

if TYPE_CHECKING:
    from training.records.evaluation import EvaluationReport

Thresholds = tuple[float | None, ...]
"""One entry per class, in the model's class order; None: no threshold (the top class wins)."""


@dataclass(frozen=True)
class OperatingPoint:
    """What class `name` gets at `threshold` on the evaluated photos."""

    name: str
    threshold: float | None
    given: int
    """Photos given this class: most probable, not "none of these", at or above threshold."""
    correct: int
    """Of those, the ones truly of this class."""
    unsure: int
    """Photos whose most probable class this is, left unsure by the threshold."""
    support: int
    """Photos truly of this class (every scored one, "none of these" included)."""

    @property
    def precision(self) -> float | None:
        """Correct among given; None when no photo is given the class."""
        return self.correct / self.given if self.given else None

    @property
    def recall(self) -> float | None:
        """Correct among the class's photos; None when there are none."""
        return self.correct / self.support if self.support else None


class ValidationOutcomes:
    """An evaluation's photos as arrays, ready to score any threshold of any class."""

    def __init__(self, classes: Sequence[str], true: Sequence[int], predicted: Sequence[int],
                 confidence: Sequence[float], unfamiliar: Sequence[bool]) -> None:
        self.classes = tuple(classes)
        self.true = np.asarray(true, dtype=np.int64)
        self.predicted = np.asarray(predicted, dtype=np.int64)
        self.confidence = np.asarray(confidence, dtype=np.float64)
        self.unfamiliar = np.asarray(unfamiliar, dtype=bool)

    @classmethod
    def of_report(cls, report: EvaluationReport) -> ValidationOutcomes:
        """The scored photos of a single-label `EvaluationReport`."""
        index = {name: i for i, name in enumerate(report.classes)}
        outcomes = report.outcomes
        return cls(report.classes, [index[o.true_label] for o in outcomes],
                   [index[o.predicted_label] for o in outcomes],
                   [o.confidence for o in outcomes], [o.unfamiliar for o in outcomes])

    def point(self, class_index: int, threshold: float | None) -> OperatingPoint:
        """Class `class_index`'s figures at `threshold` (None: no threshold)."""
        top = (self.predicted == class_index) & ~self.unfamiliar
        below = top & (self.confidence < threshold) if threshold is not None \
            else np.zeros_like(top)
        given = top & ~below
        truly = self.true == class_index
        return OperatingPoint(
            name=self.classes[class_index], threshold=threshold, given=int(given.sum()),
            correct=int((given & truly).sum()), unsure=int(below.sum()),
            support=int(truly.sum()))

    def points(self, thresholds: Thresholds) -> tuple[OperatingPoint, ...]:
        """Every class's figures at its threshold."""
        return tuple(self.point(i, t) for i, t in enumerate(thresholds))


def no_thresholds(classes: Sequence[str]) -> Thresholds:
    return (None,) * len(classes)


def thresholds_from_header(value: Any, classes: Sequence[str]) -> Thresholds:
    """The thresholds a checked model header holds under "class_thresholds" (a mapping of
    class name to threshold), in class order; every class None when there is none."""
    if not isinstance(value, Mapping):
        return no_thresholds(classes)
    return tuple(float(value[name]) if name in value else None for name in classes)


def thresholds_to_header(thresholds: Thresholds, classes: Sequence[str]) -> dict[str, float]:
    """The header's "class_thresholds": only the classes that have one."""
    return {name: float(t) for name, t in zip(classes, thresholds, strict=True) if t is not None}


def parse_threshold_settings(settings: Sequence[str], classes: Sequence[str],
                             start: Thresholds) -> Thresholds:
    """`start` with each "CLASS=VALUE" of `settings` applied (VALUE 0 to 1, or "none");
    a `ConfigError` names a setting that is not one of those or a class the model lacks."""
    result = list(start)
    for setting in settings:
        name, equals, text = setting.rpartition("=")
        if not equals or not name:
            raise ConfigError(f"'{setting}' is not CLASS=VALUE (for example cheetah=0.8).")
        if name not in classes:
            raise ConfigError(f"The model has no class '{name}'; its classes are "
                              f"{', '.join(classes)}.")
        result[list(classes).index(name)] = _value(setting, text)
    return tuple(result)


def _value(setting: str, text: str) -> float | None:
    if text.strip().lower() in ("none", "off", ""):
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise ConfigError(f"'{setting}': a threshold is a probability from 0 to 1 (or 'none').")
    return value


@dataclass(frozen=True)
class SavedThresholds:
    """What `training.fitting.model_thresholds.save_thresholds` wrote."""

    path: str
    digest: str
    """The model file's content hash now (`training.core.file_ops.file_digest`): the next
    save checks the file against it."""
    thresholds: Thresholds
    runs_followed: int = 0
    """Run-history records that now note the rewritten file (they still open it)."""
