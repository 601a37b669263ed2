"""Multi-label figures from probabilities and 0/1 targets: plain NumPy, no torch.

They live in `fitting/` (not `predict/`) because training needs them too: each label's
threshold is chosen on validation by best F1 (`best_thresholds`), and the model file stores
the validation mAP and macro-F1. Definitions follow scikit-learn's, so the figures mean what
people expect: AP is the step-wise area under the precision-recall curve
(`average_precision_score`, tied scores counted as one step); precision, recall and F1 of a
label with nothing to count are 0 (`zero_division=0`); macro F1 is the mean over every label;
micro F1 adds the counts of all labels first. mAP alone leaves out the labels without
positives, whose AP is undefined (NaN in `LabelScores.average_precision`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from training.records.calibration import expected_calibration_error
from training.records.multilabel import LabelScores, MultiLabelOutcome, MultiLabelReport

DEFAULT_THRESHOLD = 0.5
"""The threshold of a label that validation cannot choose one for (no positives there)."""


def _columns(probabilities: np.ndarray | Sequence, targets: np.ndarray | Sequence
             ) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(probabilities, dtype=np.float64)
    truth = np.asarray(targets).astype(bool)
    if scores.ndim == 1:
        scores, truth = scores[:, None], truth.reshape(-1, 1)
    if scores.shape != truth.shape:
        raise ValueError(f"probabilities {scores.shape} and targets {truth.shape} differ")
    return scores, truth


def counts(scores: np.ndarray, truth: np.ndarray, threshold: float) -> tuple[int, int, int, int]:
    """(TP, FP, FN, TN) of one label, a photo counted positive when its score ≥ threshold."""
    predicted = scores >= threshold
    return (int(np.sum(predicted & truth)), int(np.sum(predicted & ~truth)),
            int(np.sum(~predicted & truth)), int(np.sum(~predicted & ~truth)))


def precision_recall_f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts; 0 where a ratio has nothing to count."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return precision, recall, f1


def average_precision(scores: Sequence[float] | np.ndarray, truth: Sequence[int] | np.ndarray
                      ) -> float:
    """One label's AP: Σ (Rₙ − Rₙ₋₁)·Pₙ over the distinct scores, highest first (scikit-
    learn's definition); NaN when the label has no positives."""
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth).astype(bool)
    positives = int(truth.sum())
    if positives == 0:
        return math.nan
    order = np.argsort(-scores, kind="mergesort")
    scores, truth = scores[order], truth[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    true_positives = np.cumsum(truth)[last_of_tie]
    predicted = last_of_tie + 1
    precision = true_positives / predicted
    recall = true_positives / positives
    steps = np.diff(np.r_[0.0, recall])
    return float(np.sum(steps * precision))


def best_threshold(scores: np.ndarray, truth: np.ndarray) -> float:
    """The threshold with the best F1 on these scores; among equally good ones, the one
    closest to 0.5; 0.5 without positives.

    Every threshold between two neighbouring distinct scores (lo, hi] gives the same
    answers; its representative is 0.5 when it lies inside, hi when the interval lies below
    0.5, and the interval's middle when it lies above (its lower end is excluded).
    """
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth).astype(bool)
    positives = int(truth.sum())
    if positives == 0:
        return DEFAULT_THRESHOLD
    order = np.argsort(-scores, kind="mergesort")
    ranked = scores[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]
    distinct = ranked[last_of_tie]  # highest first
    # k = 0: nothing predicted (threshold above every score); k: the k highest scores' photos
    true_positives = np.r_[0, np.cumsum(truth[order])[last_of_tie]]
    chosen = np.r_[0, last_of_tie + 1]
    f1 = 2 * true_positives / (chosen + positives)
    highs, lows = np.r_[1.0, distinct], np.r_[distinct, 0.0]
    best: tuple[float, float, float] | None = None  # (-F1, distance to 0.5, threshold)
    for k in range(len(f1)):
        low, high = float(lows[k]), float(highs[k])
        if k < len(distinct) and high <= low:
            continue  # a score of exactly 1: no threshold predicts nothing
        if low < DEFAULT_THRESHOLD <= high:
            candidate = DEFAULT_THRESHOLD
        elif high < DEFAULT_THRESHOLD:
            candidate = high
        else:
            candidate = (low + high) / 2
        key = (-float(f1[k]), abs(candidate - DEFAULT_THRESHOLD), candidate)
        if best is None or key[:2] < best[:2]:
            best = key
    assert best is not None
    return best[2]


def best_thresholds(probabilities: np.ndarray | Sequence, targets: np.ndarray | Sequence
                    ) -> tuple[float, ...]:
    """Per label (column), the threshold with the best validation F1 (`best_threshold`)."""
    scores, truth = _columns(probabilities, targets)
    return tuple(best_threshold(scores[:, j], truth[:, j]) for j in range(scores.shape[1]))


def label_scores(names: Sequence[str], probabilities: np.ndarray | Sequence,
                 targets: np.ndarray | Sequence, thresholds: Sequence[float]
                 ) -> tuple[LabelScores, ...]:
    """Each label's precision, recall, F1, AP, confusion counts at its threshold, and ECE."""
    scores, truth = _columns(probabilities, targets)
    result = []
    for j, name in enumerate(names):
        tp, fp, fn, tn = counts(scores[:, j], truth[:, j], thresholds[j])
        precision, recall, f1 = precision_recall_f1(tp, fp, fn)
        result.append(LabelScores(
            name=name, precision=precision, recall=recall, f1=f1,
            average_precision=average_precision(scores[:, j], truth[:, j]),
            threshold=float(thresholds[j]), true_positives=tp, false_positives=fp,
            false_negatives=fn, true_negatives=tn,
            ece=expected_calibration_error(scores[:, j], truth[:, j])))
    return tuple(result)


def macro_f1(per_label: Sequence[LabelScores]) -> float:
    return float(np.mean([s.f1 for s in per_label])) if per_label else 0.0


def micro_f1(per_label: Sequence[LabelScores]) -> float:
    tp = sum(s.true_positives for s in per_label)
    fp = sum(s.false_positives for s in per_label)
    fn = sum(s.false_negatives for s in per_label)
    return precision_recall_f1(tp, fp, fn)[2]


def mean_average_precision(per_label: Sequence[LabelScores]) -> float:
    """Mean AP over the labels with at least one positive; NaN when none has one."""
    values = [s.average_precision for s in per_label if s.positives]
    return float(np.mean(values)) if values else math.nan


def exact_match(probabilities: np.ndarray | Sequence, targets: np.ndarray | Sequence,
                thresholds: Sequence[float]) -> float:
    """Share of photos whose predicted label set is exactly their label set."""
    scores, truth = _columns(probabilities, targets)
    if not len(scores):
        return 0.0
    predicted = scores >= np.asarray(thresholds, dtype=np.float64)[None, :]
    return float(np.mean(np.all(predicted == truth, axis=1)))


def build_report(part: str, names: Sequence[str], paths: Sequence[str],
                 probabilities: np.ndarray | Sequence, targets: np.ndarray | Sequence,
                 thresholds: Sequence[float], unreadable: Sequence[str] = ()
                 ) -> MultiLabelReport:
    """Every figure of a scored split, with each photo's outcome (for its mistakes)."""
    scores, truth = _columns(probabilities, targets)
    if scores.shape[1] != len(names) or len(thresholds) != len(names):
        raise ValueError("one probability column and one threshold per label, please")
    per_label = label_scores(names, scores, truth, thresholds)
    outcomes = tuple(
        MultiLabelOutcome(
            path=str(path),
            true_labels=tuple(n for n, t in zip(names, row_truth, strict=True) if t),
            predicted_labels=tuple(n for n, p, th in zip(names, row, thresholds, strict=True)
                                   if p >= th),
            probabilities=tuple(float(p) for p in row))
        for path, row, row_truth in zip(paths, scores, truth, strict=True))
    return MultiLabelReport(
        part=part, labels=tuple(names), per_label=per_label, macro_f1=macro_f1(per_label),
        micro_f1=micro_f1(per_label), mean_average_precision=mean_average_precision(per_label),
        exact_match=exact_match(scores, truth, thresholds), outcomes=outcomes,
        unreadable=tuple(unreadable))
