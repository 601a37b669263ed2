"""Ways to recalibrate, fitted on one run's validation logits and scored on its held-out
test logits side by side (for `calibration.py`).

Not a benchmark itself. Each rule maps the logits of the model as trained (N × K, float64)
and their labels to a function that recalibrates any logits, so every rule sees the same
validation photos and is judged on the same test photos. The held-out negative
log-likelihood (a proper score, far less noisy than an ECE on 120 photos) says which rule
helps; the ECE beside its floor says how far from calibrated the result is.

- `engine`: `training.fitting.calibration.fit_temperature`, what training does (T by
  validation NLL, kept when its likelihood-ratio gain is ≥ 1.92 nats, the 5 % level);
- `no guard`: T by validation NLL every time (Guo et al. 2017);
- `strict guard`: the same test at the 1 % level (3.32 nats);
- `T + bias`: one temperature and a per-class bias (vector scaling with a shared scale,
  Platt scaling for two classes), the bias shrunk by a normal prior of sd 0.5 per class.
  It can change labels, which a temperature never does;
- `T + bias if CV`: `T + bias` where 10-fold cross-validation on the validation photos
  gives it the lower NLL than `engine`, else `engine` (a choice validation makes);
- `best T on test`: not a rule, the reference: the single temperature that fits the test
  part itself best, i.e. the lowest test ECE one temperature could reach.

Every rule keeps the engine's answer for a validation part without a mistake (Laplace).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from training.fitting.calibration import fit_temperature
from training.records.calibration import NO_MISTAKES

Recalibrate = Callable[[np.ndarray], np.ndarray]
Rule = Callable[[np.ndarray, np.ndarray], Recalibrate]
STRICT_EVIDENCE = 3.32
"""Half the 99 % point of a chi-squared variable with one degree of freedom (6.63)."""
BIAS_SD = 0.5
FOLDS = 10
ORACLE = "best T on test"


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(1, keepdims=True))
    return shifted / shifted.sum(1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of `labels` under softmax(`logits`)."""
    shifted = logits - logits.max(1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(1))
    return float(np.mean(log_norm - shifted[np.arange(len(labels)), labels]))


def _scaled(beta: float) -> Recalibrate:
    return lambda logits: logits * beta


def engine(logits: np.ndarray, labels: np.ndarray) -> Recalibrate:
    fitted = fit_temperature(torch.from_numpy(logits), torch.from_numpy(labels))
    return _scaled(1.0 / fitted.temperature)


def _guarded(evidence: float) -> Rule:
    def rule(logits: np.ndarray, labels: np.ndarray) -> Recalibrate:
        fitted = fit_temperature(torch.from_numpy(logits), torch.from_numpy(labels))
        if fitted.rule == NO_MISTAKES:
            return _scaled(1.0 / fitted.temperature)
        beta = fit(logits, labels, bias=False)[0]
        gain = len(labels) * (nll(logits, labels) - nll(logits * beta, labels))
        return _scaled(beta if gain >= evidence else 1.0)
    return rule


def temperature_and_bias(logits: np.ndarray, labels: np.ndarray) -> Recalibrate:
    if bool((logits.argmax(1) == labels).all()):
        return engine(logits, labels)
    beta, bias = fit(logits, labels, bias=True)
    return lambda new: new * beta + bias


def bias_if_cross_validated(logits: np.ndarray, labels: np.ndarray) -> Recalibrate:
    folds = np.arange(len(labels)) % FOLDS
    np.random.default_rng(0).shuffle(folds)
    scores = {}
    for rule in (engine, temperature_and_bias):
        scores[rule] = sum(
            nll(rule(logits[folds != k], labels[folds != k])(logits[folds == k]),
                labels[folds == k]) * int((folds == k).sum()) for k in range(FOLDS))
    return min(scores, key=scores.__getitem__)(logits, labels)


def best_on_test(logits: np.ndarray, labels: np.ndarray) -> Recalibrate:
    """The reference, given the test part itself: its NLL's own temperature."""
    return _scaled(fit(logits, labels, bias=False)[0])


def fit(logits: np.ndarray, labels: np.ndarray, bias: bool) -> tuple[float, np.ndarray]:
    """β (= 1/T, in [0.1, 20] as the engine's T) and, with `bias`, a per-class bias (mean 0,
    normal prior of sd `BIAS_SD`) minimising the NLL; L-BFGS on log β."""
    x, y = torch.from_numpy(logits), torch.from_numpy(labels)
    log_beta = torch.zeros((), dtype=torch.float64, requires_grad=True)
    offsets = torch.zeros(logits.shape[1], dtype=torch.float64, requires_grad=bias)
    optimiser = torch.optim.LBFGS([log_beta, offsets] if bias else [log_beta], max_iter=200,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-10,
                                  tolerance_change=1e-12)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        centred = offsets - offsets.mean()
        loss = torch.nn.functional.cross_entropy(x * log_beta.exp() + centred, y,
                                                 reduction="sum")
        loss = loss + (centred ** 2).sum() / (2 * BIAS_SD ** 2)
        loss.backward()
        return loss

    optimiser.step(closure)
    beta = float(log_beta.detach().exp().clamp(0.1, 20.0))
    return beta, (offsets - offsets.mean()).detach().numpy()


RULES: dict[str, Rule] = {
    "engine": engine,
    "no guard": _guarded(0.0),
    "strict guard": _guarded(STRICT_EVIDENCE),
    "T + bias": temperature_and_bias,
    "T + bias if CV": bias_if_cross_validated,
}
