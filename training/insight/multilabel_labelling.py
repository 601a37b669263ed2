"""The order in which to label a multi-label gallery's photos so that each label teaches most.

A multi-label model says yes or no to every label separately, each at its own threshold
(chosen on validation), so "unsure" is per label: how close the label's probability is to
its threshold. It is measured in log-odds, as the Classify step's "Unsure" filter measures
it (`records.multilabel.label_doubt`): d = |logit p − logit t|, so that a rare label's low
threshold gets a band as narrow as its scale. Each label's uncertainty is the single-label
margin of that yes/no decision re-centred on the threshold: with q = sigmoid(logit p −
logit t), 1 − |q − (1 − q)| = 2·sigmoid(−d), 1 on the threshold, 0.6 at the edge of the
"unsure" band (`UNSURE_BAND`, just as "unsure below 70 %" gives a single-label margin of
0.6), about e^−d far from it.

A photo's uncertainty is the mean over its labels, not the largest one. Labelling a photo
answers every label at once (the review ticks them all), and the model's labels are
independent sigmoids, so what one label teaches adds up over the labels it was unsure of:
a photo in doubt about two labels is worth more than one in doubt about one (the mean of
margins is Brinker's 2006 multi-label uncertainty; the maximum, "max loss", is the other
common choice). The mean keeps the score in 0 … 1 like the single-label margin. Simulated
on the composed multi-label sets (`benchmarks/multilabel_labelling_order.py`, docs/
benchmarks.md "Multi-label labelling order", 3 seeds), the mean needed 53 labels to reach
95 % of the all-labels mAP on the six-label set against 77 for the maximum and 70 for
random order; on the three-label mosaics 117 against 70 and 130, the maximum's lead there
coming from one seed whose curve crossed the 95 % line early on a noisy plateau.

The order itself, near-copies of labelled or picked photos held back, is the single-label
one (`labelling_order.greedy_order`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from training.insight.labelling_order import LabellingPick, greedy_order
from training.records.multilabel import UNSURE_BAND

NAMED = 3
"""Unsure labels a reason names; more are counted."""
_EDGE = 1e-6


def label_doubts(probabilities: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Per photo and label, |logit p − logit t| (N, L): 0 on the threshold."""
    def log_odds(p: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(p, dtype=np.float64), _EDGE, 1 - _EDGE)
        return np.log(p / (1 - p))

    rows = np.asarray(probabilities, dtype=np.float64).reshape(-1, len(thresholds))
    return np.abs(log_odds(rows) - log_odds(np.asarray(thresholds)))


def label_uncertainty(probabilities: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Per photo and label, 2·sigmoid(−d) (N, L): 1 on the threshold, 0 far from it."""
    return 2.0 / (1.0 + np.exp(label_doubts(probabilities, thresholds)))


def multilabel_uncertainty(probabilities: np.ndarray, thresholds: Sequence[float]
                           ) -> np.ndarray:
    """Per photo, the mean of its labels' `label_uncertainty` (N,), 0 … 1."""
    per_label = label_uncertainty(probabilities, thresholds)
    return per_label.mean(axis=1) if per_label.shape[1] else np.zeros(len(per_label))


def multilabel_labelling_order(features: np.ndarray, probabilities: np.ndarray,
                               thresholds: Sequence[float],
                               labelled_features: np.ndarray | None = None,
                               label_names: Sequence[str] = (), limit: int | None = None
                               ) -> tuple[LabellingPick, ...]:
    """The candidates (rows of `features`, (N, D), with the probability of each label,
    (N, L), decided at `thresholds`, (L,)) in the order to label them, at most `limit`;
    `labelled_features` (M, D) are the photos labelled already. Ties keep the candidates'
    own order."""
    rows = np.asarray(probabilities, dtype=np.float64).reshape(-1, len(thresholds))
    doubts = label_doubts(rows, thresholds)

    def unsure(index: int) -> str:
        return unsure_labels(rows[index], thresholds, doubts[index], label_names)

    return greedy_order(features, multilabel_uncertainty(rows, thresholds), unsure,
                        labelled_features, limit)


def unsure_labels(probabilities: Sequence[float], thresholds: Sequence[float],
                  doubts: np.ndarray, label_names: Sequence[str]) -> str:
    """"unsure whether it shows leopard (48%, threshold 50%) and night (61%, threshold
    55%)": the labels within `UNSURE_BAND` of their thresholds, most unsure first; with
    none, the nearest one."""
    ranked = [int(j) for j in np.argsort(doubts, kind="stable")]
    if not ranked:
        return "no labels to be unsure of"

    def share(j: int) -> str:
        name = label_names[j] if j < len(label_names) else f"label {j + 1}"
        return f"{name} ({probabilities[j]:.0%}, threshold {thresholds[j]:.0%})"

    close = [j for j in ranked if doubts[j] < UNSURE_BAND]
    if not close:
        return f"fairly sure of every label; nearest its threshold: {share(ranked[0])}"
    named = [share(j) for j in close[:NAMED]]
    if len(close) > NAMED:
        named.append(f"{len(close) - NAMED} more")
    listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    return f"unsure whether it shows {listed}"
