"""Calibrated confidence: a temperature fitted on validation and folded into the classifier.

A network trained to low loss is often overconfident ("jaguar 92 %" on an ant), and a
linear head trained a few epochs on frozen features can be underconfident. Temperature
scaling (Guo et al., ICML 2017) divides every logit by one number T, chosen to minimise the
negative log-likelihood (NLL) of the validation images: argmax, hence every label, stays
the same; only the confidences move. The NLL is convex in β = 1/T, so a golden-section
search over β in [1/`MAX_TEMPERATURE`, 1/`MIN_TEMPERATURE`] finds it exactly.

The rule, where validation cannot say:
- fewer than `MIN_IMAGES` validation images, or logits that are not all numbers: T = 1;
- a fitted T that explains validation no better than T = 1 would by chance (its
  log-likelihood gain under `EVIDENCE` nats, the likelihood-ratio test at the 5 % level):
  T = 1. On 60 validation photos with 8 mistakes, T drifted from 0.67 to 1.17 with the
  draw and made the held-out ECE worse as often as better, while a head trained on
  mislabelled photos (T ≈ 0.17) passes the test every time (docs/benchmarks.md);
- none of the validation images wrong (common here: cheetahs against lions): the NLL would
  send T to its bound and every confidence to 100 %, which nothing measured supports. T is
  then the one whose mean top-1 confidence is (n + 1) / (n + 2), Laplace's estimate of the
  accuracy after n right answers out of n (54 photos: 98.2 %).

T is then folded into the classifier: weight and bias divided by T. The saved network, its
ONNX/TorchScript/.pt2 exports, Grad-CAM and every predictor give the calibrated
probabilities with no code of their own. The "none of these" score reads the pooled features
before the classifier, so it does not change; neither does the feature store's key (the
classifier is left out of the weights' digest).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from training.core.errors import DatasetError
from training.fitting.run_context import RunContext, Trained
from training.models.embedding import default_store, embed_dataset
from training.models.frozen import FrozenFeatures
from training.records.calibration import (
    CALIBRATED,
    FITTED,
    NO_MISTAKES,
    NOT_NUMBERS,
    STOPPED,
    TOO_FEW,
    UNREADABLE,
    ModelCalibration,
    expected_calibration_error,
)
from training.records.events import Callback, Cancelled, PhaseProgress

MIN_IMAGES = 20
"""Fewer validation images than this leave T at 1: one odd photo would decide it."""
MIN_TEMPERATURE = 0.05
MAX_TEMPERATURE = 10.0
"""T's bounds, well beyond what was measured (0.12 for a quick head trained on a third of
its photos in the wrong folder, whose confidences hover near 60 %; up to 1.9 elsewhere:
docs/benchmarks.md "Calibration (issue 24)")."""
EVIDENCE = 1.92
"""Half the 95 % point of a chi-squared variable with one degree of freedom (3.84): the
log-likelihood gain from fitting one number that chance alone exceeds one time in 20."""
_STEPS = 80
"""Golden-section steps: the bracket shrinks by 0.618 each, to ~1e-16 of its width."""


def calibrate_run(run: RunContext, trained: Trained) -> ModelCalibration | None:
    """Calibrate the run's final network (its best weights, after every other change to
    its logits) on the validation photos; None when no epoch gave weights to save."""
    if trained.outcome.best_state is None:
        return None
    paths = [run.dataset.images[i].path for i in run.split.val]
    if trained.outcome.stopped == "cancelled":  # stopping stays immediate
        return uncalibrated(STOPPED, len(paths))
    frozen = FrozenFeatures(run.network, run.prep, run.device)
    return calibrate_validation(run.network, frozen, paths, run.labels(run.split.val),
                                run.cancel, _reporter(run.emit, len(paths)))


def _reporter(emit: Callback, total: int) -> Callable[[int], None]:
    """`advance(n)` that reports the pass as the "evaluate" phase, as a validation pass is
    (after a fine-tune its features are computed under the final weights: seconds)."""
    started, done = time.perf_counter(), 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        rate = done / max(time.perf_counter() - started, 1e-9)
        emit(PhaseProgress("evaluate", done, total, rate))

    return advance


def calibrate_network(network: nn.Module, features: torch.Tensor, labels: torch.Tensor
                      ) -> ModelCalibration:
    """Fit T on the validation `features` (pooled, before the classifier) and `labels`,
    and fold it into `network`'s classifier; return what the model file keeps."""
    classifier = network.get_classifier()
    with torch.no_grad():
        logits = classifier(features.to(classifier.weight.device, torch.float32)).float()
    calibration = fit_temperature(logits.cpu(), labels.cpu())
    fold_temperature(classifier, calibration.temperature)
    return calibration


def calibrate_validation(network: nn.Module, frozen: FrozenFeatures,
                         paths: Sequence[Path], labels: torch.Tensor,
                         cancel: threading.Event | None = None,
                         advance: Callable[[int], None] | None = None) -> ModelCalibration:
    """`calibrate_network` on the validation photos at `paths`, their features found in the
    feature store (quick mode put them there) or computed under the final weights (a
    fine-tune: the store keeps them for Evaluate). A run stopped meanwhile, or a photo
    that changed since the scan, leaves T at 1 with the rule saying why."""
    try:
        features = embed_dataset(paths, frozen, default_store(), cancel, advance)
    except Cancelled:
        return uncalibrated(STOPPED, len(paths))
    except DatasetError:
        return uncalibrated(UNREADABLE, len(paths))
    return calibrate_network(network, features, labels)


def uncalibrated(rule: str, images: int = 0) -> ModelCalibration:
    """T = 1, with no ECE measured (0 stands for "not measured")."""
    return ModelCalibration(1.0, 0.0, 0.0, images, rule)


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> ModelCalibration:
    """The temperature for these validation logits (the rule is the module docstring's),
    with the validation ECE before and after."""
    logits = logits.double()
    images = len(labels)
    if images < MIN_IMAGES:
        return uncalibrated(TOO_FEW, images)
    if not bool(torch.isfinite(logits).all()):
        return uncalibrated(NOT_NUMBERS, images)
    correct = logits.argmax(1) == labels
    before = _ece(logits, correct)
    if bool(correct.all()):
        target = (images + 1) / (images + 2)
        beta = bisect_beta(lambda b: _mean_confidence(logits * b) - target)
        rule = NO_MISTAKES
    else:
        beta = golden_beta(lambda b: _nll(logits * b, labels))
        rule = FITTED
        gain = images * (_nll(logits, labels) - _nll(logits * beta, labels))
        if gain < EVIDENCE:
            beta, rule = 1.0, CALIBRATED
    temperature = 1.0 / beta
    return ModelCalibration(temperature, before, _ece(logits * beta, correct), images, rule)


def fold_temperature(classifier: nn.Module, temperature: float) -> None:
    """Divide the linear `classifier`'s weight and bias by `temperature`, in place: its
    logits become logits / T."""
    if temperature == 1.0:
        return
    with torch.no_grad():
        classifier.weight.div_(temperature)
        if classifier.bias is not None:
            classifier.bias.div_(temperature)


def _nll(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float(nn.functional.cross_entropy(logits, labels).item())


def _mean_confidence(logits: torch.Tensor) -> float:
    return float(logits.softmax(1).max(1).values.mean().item())


def _ece(logits: torch.Tensor, correct: torch.Tensor) -> float:
    confidence = logits.softmax(1).max(1).values
    return expected_calibration_error(confidence.numpy(), correct.numpy())


def golden_beta(loss: Callable[[float], float]) -> float:
    """The β in the bounds where the convex `loss(β)` is least (golden-section search)."""
    low, high = 1.0 / MAX_TEMPERATURE, 1.0 / MIN_TEMPERATURE
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    left, right = high - ratio * (high - low), low + ratio * (high - low)
    at_left, at_right = loss(left), loss(right)
    for _ in range(_STEPS):
        if at_left <= at_right:
            high, right, at_right = right, left, at_left
            left = high - ratio * (high - low)
            at_left = loss(left)
        else:
            low, left, at_left = left, right, at_right
            right = low + ratio * (high - low)
            at_right = loss(right)
    return (low + high) / 2.0


def bisect_beta(excess: Callable[[float], float]) -> float:
    """The β in the bounds where the increasing `excess(β)` crosses 0 (a bound when it
    does not)."""
    low, high = 1.0 / MAX_TEMPERATURE, 1.0 / MIN_TEMPERATURE
    if excess(low) >= 0:
        return low
    if excess(high) <= 0:
        return high
    for _ in range(_STEPS):
        middle = (low + high) / 2.0
        if excess(middle) < 0:
            low = middle
        else:
            high = middle
    return (low + high) / 2.0
