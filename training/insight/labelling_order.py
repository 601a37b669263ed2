"""The order in which to label unlabelled photos so that each label teaches the model most.

Walking unsure photos in listing order spends a person's labels on whatever comes first,
often ten near-copies of one confusing photo in a row. Two things make a label worth
giving (the standard pair of active learning, e.g. Settles, "Active Learning Literature
Survey", 2009; Ash et al., "BADGE", 2020):

- *uncertainty*: the model cannot tell the photo's class. Measured by the margin between
  the two most likely classes (1 − (p₁ − p₂)): a photo at 48 % / 46 % teaches more than one
  at 90 % / 5 %. A "none of these" photo is scored the same way: the novelty that flagged
  it already shows as distance, and a photo unlike every class the model is sure about is
  more often one no class fits (a label it cannot get) than one that teaches. Counted as
  fully uncertain, they all came before every unsure photo on real galleries.
- *not a near-copy*: the photo is not (nearly) the same as one labelled already or picked
  before it. Measured by its cosine distance, in the pretrained network's feature space,
  to the nearest labelled or already picked photo.

The order is greedy: each next photo has the largest uncertainty × min(1, distance /
`NEAR_COPY`), and once picked it counts as labelled, so its near-copies fall back. Distance
only ever discounts a near-copy; it does not reward being odd. The first version scored
uncertainty × distance (farthest-first diversity, as in core-set methods); simulated on the
shared photos (`benchmarks/labelling_order.py`, docs/benchmarks.md "Labelling order") it
needed 42.7 labels to reach 95 % of the all-labels accuracy against 39.3 for uncertainty
alone, and 163 against 66 to reach 99 %: it kept choosing odd crops far from everything,
which taught the least. Computation is plain NumPy: O(candidates × (labelled + candidates)
× dimensions) once for the distances to the labelled photos, then O(candidates ×
dimensions) per pick. A multi-label model measures uncertainty its own way
(`multilabel_labelling`) and shares the greedy order, `greedy_order`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

CHUNK = 1024
"""Labelled photos compared at once: bounds the memory of the distance matrix."""
NEAR_COPY = 0.1
"""Cosine distance under which a photo counts as a near-copy of another (a burst of shots, a
re-save, a small crop), its score discounted in proportion. Two different photos of the
shared set are at 0.37–0.75 (5th–95th percentile), a photo's nearest other one at 0.10–0.32
even when degraded to grey 48-px crops; an identical file is at 0."""


@dataclass(frozen=True)
class LabellingPick:
    """One photo's place in the order and why it is there."""

    index: int
    """Its row among the candidates."""
    uncertainty: float
    """How unsure the model is of it, 0 (sure) … 1 (a coin toss): 1 − (p₁ − p₂) for a
    class per photo; for labels, the mean over labels of each one's margin to its threshold
    (`multilabel_labelling`)."""
    distance: float
    """Cosine distance to the nearest photo labelled or picked before it (0 … 2)."""
    reason: str


def margin_uncertainty(probabilities: np.ndarray) -> np.ndarray:
    """1 − (p₁ − p₂) per row of class probabilities (N, C); 1 − p₁ with one class."""
    ranked = -np.sort(-np.asarray(probabilities, dtype=np.float64), axis=1)
    second = ranked[:, 1] if ranked.shape[1] > 1 else np.zeros(len(ranked))
    return np.clip(1.0 - (ranked[:, 0] - second), 0.0, 1.0)


def _unit(features: np.ndarray) -> np.ndarray:
    rows = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, 1e-12)


def _nearest_distance(points: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Per point, the cosine distance to its nearest anchor (unit rows); 1 with no
    anchors, as if each were unrelated to anything labelled."""
    nearest = np.ones(len(points), dtype=np.float32)
    best = np.full(len(points), -np.inf, dtype=np.float32)
    for start in range(0, len(anchors), CHUNK):
        best = np.maximum(best, (points @ anchors[start:start + CHUNK].T).max(axis=1))
    if len(anchors):
        nearest = 1.0 - best
    return np.clip(nearest, 0.0, 2.0)


def labelling_order(features: np.ndarray, probabilities: np.ndarray,
                    labelled_features: np.ndarray | None = None,
                    class_names: Sequence[str] = (), unfamiliar: Sequence[bool] = (),
                    limit: int | None = None) -> tuple[LabellingPick, ...]:
    """The candidates (rows of `features`, (N, D), with their class `probabilities`,
    (N, C)) in the order to label them, at most `limit`; `labelled_features` (M, D) are
    the photos labelled already (the training photos); `unfamiliar[i]` marks a "none of
    these" photo (for its reason; it is ordered like the others). Ties keep the
    candidates' own order, so the order is deterministic."""
    uncertainty = margin_uncertainty(probabilities)

    def unsure(index: int) -> str:
        return _unsure_between(index, probabilities, uncertainty, class_names, unfamiliar)

    return greedy_order(features, uncertainty, unsure, labelled_features, limit)


def greedy_order(features: np.ndarray, uncertainty: np.ndarray, unsure: Callable[[int], str],
                 labelled_features: np.ndarray | None = None, limit: int | None = None
                 ) -> tuple[LabellingPick, ...]:
    """The greedy order both kinds of model share: each next candidate (a row of
    `features`, (N, D)) has the largest `uncertainty` (N,) × min(1, distance / NEAR_COPY),
    the distance to the nearest of `labelled_features` (M, D) and the candidates picked
    before it. `unsure(i)` says in words what the model is unsure of about candidate i;
    the reason adds how like the photos labelled so far it is."""
    points = _unit(features)
    count = len(points)
    if count == 0:
        return ()
    uncertainty = np.asarray(uncertainty, dtype=np.float64)
    anchors = (_unit(labelled_features) if labelled_features is not None
               else np.zeros((0, points.shape[1]), dtype=np.float32))
    distance = _nearest_distance(points, anchors)
    far = float(np.quantile(distance, 0.75))
    left = np.ones(count, dtype=bool)
    picks: list[LabellingPick] = []
    for _ in range(min(limit if limit is not None else count, count)):
        score = np.where(left, uncertainty * np.minimum(1.0, distance / NEAR_COPY), -np.inf)
        chosen = int(np.argmax(score))
        picks.append(LabellingPick(chosen, float(uncertainty[chosen]), float(distance[chosen]),
                                   f"{unsure(chosen)}; {_likeness(distance[chosen], far)}"))
        left[chosen] = False
        distance = np.minimum(distance, np.clip(1.0 - points @ points[chosen], 0.0, 2.0))
    return tuple(picks)


def _likeness(distance: float, far: float) -> str:
    """How like the photos labelled (or ranked before it) a photo is, in words; `far` is
    the distance most candidates are within."""
    if distance < NEAR_COPY:
        return "nearly the same as a photo labelled or ranked before it"
    return ("unlike the photos labelled so far" if distance >= far
            else "like some photos labelled already")


def _unsure_between(index: int, probabilities: np.ndarray, uncertainty: np.ndarray,
                    class_names: Sequence[str], unfamiliar: Sequence[bool]) -> str:
    """"unsure between lion (48 %) and cheetah (41 %)", "fairly sure: lion (90 %)"."""
    if len(unfamiliar) and unfamiliar[index]:
        return "unlike every class the model knows"
    row = np.asarray(probabilities[index], dtype=np.float64)
    top = np.argsort(-row, kind="stable")[:2]
    names = [class_names[i] if i < len(class_names) else f"class {i}" for i in top]
    shares = [f"{name} ({row[i]:.0%})" for name, i in zip(names, top, strict=True)]
    return ("unsure between " + " and ".join(shares) if uncertainty[index] >= 0.5
            else f"fairly sure: {shares[0]}")
