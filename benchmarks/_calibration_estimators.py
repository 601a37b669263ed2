"""Two more readings of a calibration error measured on a few photos, beside the plug-in
ECE and its floor (`training.records.calibration`), for `calibration.py`.

Not a benchmark itself. The plug-in ECE (15 equal-width bins) is biased upward on few
photos: a perfectly calibrated model shows about `ece_floor`. Two estimators that try to
see past that bias:

- `debiased_ece`: Kumar, Liang & Ma ("Verified Uncertainty Calibration", NeurIPS 2019),
  normal debiasing: the plug-in ECE minus its bias, the bias estimated by resampling each
  bin's share of right answers from a normal of its binomial spread;
- `equal_mass_ece`: bins holding as many photos each (Roelofs et al., "Mitigating Bias in
  Calibration Error Estimation", AISTATS 2022), so that no bin rests on a handful.
"""

from __future__ import annotations

import numpy as np

from training.records.calibration import BINS, FLOOR_DRAWS


def debiased_ece(confidence: np.ndarray, correct: np.ndarray, draws: int = FLOOR_DRAWS
                 ) -> float:
    """Kumar et al.'s debiased L1 ECE on `BINS` equal-width bins; can be below 0 (an
    unbiased estimate of a small number)."""
    edges = np.linspace(0.0, 1.0, BINS + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, BINS - 1)
    counts = np.bincount(index, minlength=BINS)
    full = counts > 0
    n = counts[full]
    said = np.bincount(index, weights=confidence, minlength=BINS)[full] / n
    right = np.bincount(index, weights=correct.astype(np.float64), minlength=BINS)[full] / n
    weights = n / n.sum()
    plug_in = float(np.sum(weights * np.abs(said - right)))
    spread = np.sqrt(right * (1.0 - right) / n)
    resampled = np.random.default_rng(0).normal(right, spread, size=(draws, len(n)))
    bias = float(np.mean(np.abs(said - resampled) @ weights)) - plug_in
    return plug_in - bias


def equal_mass_ece(confidence: np.ndarray, correct: np.ndarray, bins: int = BINS) -> float:
    """The ECE over `bins` bins of (nearly) equal counts, in confidence order."""
    order = np.argsort(confidence, kind="stable")
    total = sum(len(part) * abs(float(confidence[part].mean() - correct[part].mean()))
                for part in np.array_split(order, min(bins, len(order))))
    return total / max(len(order), 1)
