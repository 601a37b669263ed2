"""The multi-label benchmark's baseline and its scoring, apart from the engine's code.

Not a benchmark itself (`multilabel.py` is). The baseline is the plain per-label logistic
regression anyone would try first on stored features: scikit-learn's default
(`LogisticRegression()`: L2 with C = 1, no feature scaling, an intercept, fitted to
convergence with L-BFGS), one independent model per label, here in torch because
scikit-learn is not a dependency. A label is given at probability ≥ 0.5, the usual default;
the same model with each label's threshold chosen on validation (best F1) is a second row.

The figures are computed here too, by scikit-learn's definitions (AP is the step-wise area
under the precision-recall curve, F1 of a label with nothing to count is 0, macro F1 is the
mean over labels, mAP the mean AP over labels with positives, exact match the share of
images whose label set is exactly right), for both sides alike: the engine's own figures
are not trusted to score the engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

C = 1.0
MAX_ITERATIONS = 500


def fit_logistic(features: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor,
                                                                             torch.Tensor]:
    """(weights (D, L), biases (L,)) of one L2-regularised logistic regression per label,
    minimising C·Σ log-loss + ½‖w‖² (scikit-learn's objective; the bias is not penalised)."""
    x = features.double()
    y = targets.double()
    weights = torch.zeros(x.shape[1], y.shape[1], dtype=torch.float64, requires_grad=True)
    biases = torch.zeros(y.shape[1], dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([weights, biases], lr=1, max_iter=MAX_ITERATIONS,
                                  tolerance_grad=1e-6, tolerance_change=1e-10,
                                  history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        logits = x @ weights + biases
        loss = (C * torch.nn.functional.binary_cross_entropy_with_logits(
            logits, y, reduction="sum") + 0.5 * (weights ** 2).sum())
        loss.backward()
        return loss

    optimiser.step(closure)
    return weights.detach().float(), biases.detach().float()


def probabilities(features: torch.Tensor, model: tuple[torch.Tensor, torch.Tensor]
                  ) -> np.ndarray:
    weights, biases = model
    return torch.sigmoid(features.float() @ weights + biases).numpy()


def average_precision(scores: np.ndarray, truth: np.ndarray) -> float:
    """Σ (Rₙ − Rₙ₋₁)·Pₙ over distinct scores, highest first; NaN without positives."""
    positives = int(truth.sum())
    if positives == 0:
        return math.nan
    order = np.argsort(-scores, kind="mergesort")
    ranked, hits = scores[order], truth[order].astype(bool)
    ends = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]
    true_positives = np.cumsum(hits)[ends]
    precision = true_positives / (ends + 1)
    recall = true_positives / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def f1(predicted: np.ndarray, truth: np.ndarray) -> float:
    tp = int(np.sum(predicted & truth))
    wrong = int(np.sum(predicted ^ truth))
    return 2 * tp / (2 * tp + wrong) if tp else 0.0


def best_thresholds(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per label, the threshold among the scores seen (and 0.5) with the best F1; ties go
    to the one nearest 0.5."""
    chosen = []
    for j in range(scores.shape[1]):
        candidates = np.unique(np.r_[scores[:, j], 0.5])
        ranked = sorted(candidates, key=lambda t, j=j: (-f1(scores[:, j] >= t, truth[:, j]),
                                                         abs(t - 0.5)))
        chosen.append(ranked[0])
    return np.asarray(chosen)


@dataclass(frozen=True)
class Figures:
    map: float
    macro_f1: float
    exact_match: float
    rare_ap: float
    rare_f1: float


def figures(scores: np.ndarray, truth: np.ndarray, thresholds: np.ndarray | float,
            rare: int) -> Figures:
    """mAP, macro-F1 and exact match of (N, L) scores against 0/1 truth, and the AP and
    F1 of label `rare`."""
    truth = truth.astype(bool)
    predicted = scores >= np.broadcast_to(np.asarray(thresholds), (scores.shape[1],))[None, :]
    aps = [average_precision(scores[:, j], truth[:, j]) for j in range(scores.shape[1])]
    f1s = [f1(predicted[:, j], truth[:, j]) for j in range(scores.shape[1])]
    return Figures(
        map=float(np.nanmean(aps)), macro_f1=float(np.mean(f1s)),
        exact_match=float(np.mean(np.all(predicted == truth, axis=1))),
        rare_ap=aps[rare], rare_f1=f1s[rare])
