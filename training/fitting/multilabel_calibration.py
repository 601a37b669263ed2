"""Calibrated confidence for a multi-label head: one temperature per label, on validation.

Each label has its own sigmoid, so each gets its own temperature T_l (a label the head
learned from many clear photos can be overconfident while a hard one is underconfident):
its logits are divided by T_l, chosen by single-label's rules (`training.fitting.calibration`,
whose search and evidence test this reuses) on that label's validation photos alone:

- the binary log-loss (BCE) of the label is convex in β = 1/T: a golden-section search over
  the same bounds finds its least;
- the fitted T is kept only when it explains validation better than T = 1 would by chance
  (log-likelihood gain of at least `EVIDENCE` = 1.92 nats, the 5 % likelihood-ratio test);
- every validation photo on the right side of p = 0.5 ("no mistakes": the loss would send
  T to its bound and every p to 0 or 1): T is the one whose mean confidence max(p, 1 − p)
  is (n + 1) / (n + 2), Laplace's estimate after n right answers out of n;
- fewer than `MIN_EACH` validation photos with the label, or without it: T = 1. Below five,
  one photo decides T: with two positives, the loss of the positive side is two numbers,
  and moving one photo's logit moves T by tens of percent. Five is also the fewest a
  label's validation F1 threshold is drawn from in the benchmark's rare label (5 % of 120).

T_l is folded into row l of the head (weight and bias divided by T_l), so the saved
network, its exports and every predictor give calibrated probabilities. Each label's
decision threshold t was chosen on the uncalibrated validation probabilities; as
sigmoid(z / T) is increasing in z, it becomes sigmoid(logit(t) / T) (less `SLACK`): a photo
gets a label after calibration exactly when it got it before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from training.fitting.calibration import EVIDENCE, bisect_beta, golden_beta
from training.records.calibration import (
    CALIBRATED,
    FITTED,
    NO_MISTAKES,
    NOT_NUMBERS,
    TOO_FEW,
    expected_calibration_error,
)
from training.records.multilabel_calibration import (
    LabelCalibration,
    MultiLabelCalibration,
    pooled_reliability,
)

MIN_EACH = 5
"""Fewer validation photos than this with a label (or without it) leave its T at 1."""
SLACK = 1e-4
"""How much lower (in log-odds) a moved threshold sits than sigmoid(logit(t) / T). A
threshold below 0.5 is a validation photo's own score (`best_threshold`), so that photo
sits exactly on it; the calibrated head computes its logit / T in float32 through other
roundings, and without the slack it fell just under its moved threshold in the tests
(−0.39465895 against −0.39465892). 1e-4 in log-odds is a change of 0.01 % in the odds."""


def fit_label_temperatures(names: Sequence[str], logits: torch.Tensor, targets: torch.Tensor
                           ) -> MultiLabelCalibration:
    """Each label's temperature for these (N, L) validation logits and 0/1 targets, with the
    validation ECE before and after, per label and pooled."""
    logits = logits.detach().double().cpu()
    truth = targets.detach().cpu().double() > 0.5
    labels = tuple(fit_one(name, logits[:, j], truth[:, j]) for j, name in enumerate(names))
    scale = torch.tensor([1.0 / label.temperature for label in labels], dtype=torch.float64)
    if not bool(torch.isfinite(logits).all()):
        return MultiLabelCalibration(labels, 0.0, 0.0, len(logits))
    return MultiLabelCalibration(
        labels, pooled_reliability(torch.sigmoid(logits).numpy(), truth.numpy()).ece,
        pooled_reliability(torch.sigmoid(logits * scale).numpy(), truth.numpy()).ece,
        len(logits))


def fit_one(name: str, logits: torch.Tensor, truth: torch.Tensor) -> LabelCalibration:
    """One label's temperature (the rule is the module docstring's), from its (N,) double
    logits and boolean truth."""
    positives = int(truth.sum())
    negatives = len(truth) - positives
    if min(positives, negatives) < MIN_EACH:
        return LabelCalibration(name, 1.0, 0.0, 0.0, positives, negatives, TOO_FEW)
    if not bool(torch.isfinite(logits).all()):
        return LabelCalibration(name, 1.0, 0.0, 0.0, positives, negatives, NOT_NUMBERS)
    target = truth.double()
    before = _ece(logits, truth)
    if bool(((logits > 0) == truth).all()):
        wanted = (len(truth) + 1) / (len(truth) + 2)
        beta = bisect_beta(lambda b: _mean_confidence(logits * b) - wanted)
        rule = NO_MISTAKES
    else:
        beta = golden_beta(lambda b: _bce(logits * b, target))
        rule = FITTED
        if len(truth) * (_bce(logits, target) - _bce(logits * beta, target)) < EVIDENCE:
            beta, rule = 1.0, CALIBRATED
    return LabelCalibration(name, 1.0 / beta, before, _ece(logits * beta, truth), positives,
                            negatives, rule)


def fold_label_temperatures(classifier: nn.Module, temperatures: Sequence[float]) -> None:
    """Divide row l of the linear `classifier`'s weight and bias by temperatures[l], in
    place: its logits become logits / T, label by label."""
    if all(t == 1.0 for t in temperatures):
        return
    with torch.no_grad():
        scale = torch.tensor([1.0 / t for t in temperatures], dtype=classifier.weight.dtype,
                             device=classifier.weight.device)
        classifier.weight.mul_(scale[:, None])
        if classifier.bias is not None:
            classifier.bias.mul_(scale)


def calibrated_thresholds(thresholds: Sequence[float], temperatures: Sequence[float]
                          ) -> tuple[float, ...]:
    """Each threshold t moved to sigmoid(logit(t) / T − `SLACK`): the same decisions on
    calibrated probabilities (a threshold of exactly 0 or 1 stays where it is)."""
    moved = []
    for t, temperature in zip(thresholds, temperatures, strict=True):
        if temperature == 1.0 or not 0.0 < t < 1.0:
            moved.append(float(t))
            continue
        z = math.log(t) - math.log1p(-t)
        moved.append(1.0 / (1.0 + math.exp(SLACK - z / temperature)))
    return tuple(moved)


def calibrate_head(classifier: nn.Module, names: Sequence[str], logits: torch.Tensor,
                   targets: torch.Tensor, thresholds: Sequence[float]
                   ) -> tuple[MultiLabelCalibration, tuple[float, ...], np.ndarray]:
    """Fit each label's T on the validation `logits`, fold them into `classifier` and move
    the `thresholds` (chosen on the uncalibrated probabilities) with them: (calibration,
    the moved thresholds, the calibrated validation probabilities)."""
    calibration = fit_label_temperatures(names, logits, targets)
    fold_label_temperatures(classifier, calibration.temperatures)
    scale = torch.tensor([1.0 / t for t in calibration.temperatures], dtype=torch.float64)
    probabilities = torch.sigmoid(logits.detach().double().cpu() * scale).numpy()
    return (calibration, calibrated_thresholds(thresholds, calibration.temperatures),
            probabilities)


def _bce(logits: torch.Tensor, target: torch.Tensor) -> float:
    return float(nn.functional.binary_cross_entropy_with_logits(logits, target).item())


def _mean_confidence(logits: torch.Tensor) -> float:
    p = torch.sigmoid(logits)
    return float(torch.maximum(p, 1 - p).mean().item())


def _ece(logits: torch.Tensor, truth: torch.Tensor) -> float:
    return expected_calibration_error(torch.sigmoid(logits).numpy(), truth.numpy())
