"""Whether "90 %" means right 9 times in 10: reliability bins, the expected calibration
error, and the temperature a model file stores, without torch.

The reliability of a set of predictions is measured the usual way (Guo et al., "On
Calibration of Modern Neural Networks", ICML 2017): the top-1 confidences are put in
`BINS` equal-width bins over [0, 1]; in each, the mean confidence is compared with the share
of right answers, and the expected calibration error (ECE) is the mean gap, weighted by the
bin's share of the images. 0 is perfect; a model that says 99 % and is right 90 % of the
time has an ECE of about 0.09.

Training fits a temperature T on the validation logits (`training.fitting.calibration`)
and folds 1/T into the classifier, so every prediction of the saved model is calibrated;
the file's header keeps T and the validation ECE before and after under "calibration"
(`ModelCalibration`). A file without it (older ones) was not calibrated: T = 1.

With calibrated probabilities a confidence p means a (1 − p) chance of being wrong, which
is how "unsure" is worded (`is_unsure`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

BINS = 15
"""Equal-width confidence bins, as in Guo et al. (2017) and most papers since."""
HEADER_KEY = "calibration"
"""Where the model file's header keeps the `ModelCalibration`."""
FITTED = "fitted"
CALIBRATED = "already calibrated"
NO_MISTAKES = "no mistakes"
TOO_FEW = "too few"
NOT_NUMBERS = "not numbers"
STOPPED = "stopped"
UNREADABLE = "unreadable"
RULES = (FITTED, CALIBRATED, NO_MISTAKES, TOO_FEW, NOT_NUMBERS, STOPPED, UNREADABLE)
"""How the temperature was chosen: by validation loss; T = 1 because validation showed no
significant miscalibration; from the validation images' count
when none of them was wrong; T = 1 because there were too few of them, because their
logits were not all numbers, because the run was stopped before calibration, or because
a validation photo could no longer be read."""


@dataclass(frozen=True)
class ReliabilityBin:
    """One confidence bin: [lower, upper), the last one closed."""

    lower: float
    upper: float
    count: int
    confidence: float
    """Mean top-1 confidence of the bin's images (0 when empty)."""
    accuracy: float
    """Share of them the model got right (0 when empty)."""


@dataclass(frozen=True)
class Reliability:
    """A reliability diagram's bins and their expected calibration error."""

    ece: float
    bins: tuple[ReliabilityBin, ...]
    images: int
    floor: float = 0.0
    """The ECE a perfectly calibrated model with these confidences shows on as many images
    by sampling alone (`ece_floor`): a measured ECE at or under it says nothing is wrong."""

    def within_chance(self) -> bool:
        """Whether the ECE is no more than sampling alone gives on this many images."""
        return self.ece <= self.floor

    def chance_words(self, what: str) -> str:
        """The floor in words for the ECE's reader, counting the images as `what`."""
        verdict = ": no sign of miscalibration" if self.within_chance() else ""
        return f"chance alone gives {self.floor:.3f} on {self.images} {what}{verdict}"


def reliability(confidences: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray,
                bins: int = BINS) -> Reliability:
    """The reliability bins, ECE and ECE floor of top-1 `confidences` and whether each was
    `correct`.

    An empty input gives empty bins and an ECE of 0.
    """
    binned = _binned(confidences, correct, bins)
    conf = np.asarray(confidences, dtype=np.float64).reshape(-1)
    return Reliability(binned.ece, binned.bins, binned.images,
                       ece_floor(conf, _draws_for(binned.images)))


def _binned(confidences: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray,
            bins: int) -> Reliability:
    """The bins and the ECE, without the floor (the fitting loops want only the ECE)."""
    conf = np.asarray(confidences, dtype=np.float64).reshape(-1)
    hits = np.asarray(correct, dtype=np.float64).reshape(-1)
    if conf.shape != hits.shape:
        raise ValueError(f"{len(conf)} confidences but {len(hits)} right/wrong answers")
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bin i holds [edges[i], edges[i+1]); a confidence of exactly 1 goes in the last bin.
    index = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    conf_sums = np.bincount(index, weights=conf, minlength=bins)
    hit_sums = np.bincount(index, weights=hits, minlength=bins)
    safe = np.maximum(counts, 1)
    mean_conf, mean_hit = conf_sums / safe, hit_sums / safe
    total = len(conf)
    ece = float(np.sum(counts * np.abs(mean_conf - mean_hit)) / total) if total else 0.0
    return Reliability(ece, tuple(
        ReliabilityBin(float(edges[i]), float(edges[i + 1]), int(counts[i]),
                       float(mean_conf[i]), float(mean_hit[i])) for i in range(bins)), total)


def expected_calibration_error(confidences: Sequence[float] | np.ndarray,
                               correct: Sequence[bool] | np.ndarray, bins: int = BINS) -> float:
    """The ECE alone (see `reliability`)."""
    return _binned(confidences, correct, bins).ece


FLOOR_DRAWS = 500
"""Calibrated draws behind `ece_floor` and `calibrated_chance` (the floor's own spread
from the draws is then about 1/20 of the ECE's)."""


def calibrated_eces(confidences: Sequence[float] | np.ndarray, draws: int = FLOOR_DRAWS,
                    bins: int = BINS) -> np.ndarray:
    """The ECEs a perfectly calibrated model with these very top-1 `confidences` shows on as
    many images, `draws` times: each answer drawn right with its confidence's chance.

    The ECE is biased upward: each bin's share of right answers wanders about its true value
    by its binomial spread, and the absolute gap keeps the wander (Kumar et al., "Verified
    Uncertainty Calibration", 2019; Roelofs et al., "Mitigating Bias in Calibration Error
    Estimation", 2022). On 120 photos right 88 % of the time it is about 0.05, so a measured
    ECE is only read against these. Seeded: the same confidences give the same draws."""
    conf = np.asarray(confidences, dtype=np.float64).reshape(-1)
    if not len(conf):
        return np.zeros(draws)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, bins - 1)
    said = np.bincount(index, weights=conf, minlength=bins)
    hits = np.random.default_rng(0).uniform(size=(draws, len(conf))) < conf
    right = hits.astype(np.float64) @ np.eye(bins)[index]  # each draw's right answers per bin
    # Σ count · |mean said − mean right| over the bins is Σ |said − right| over the bins.
    return np.abs(said - right).sum(1) / len(conf)


def _draws_for(images: int) -> int:
    """Fewer calibrated draws for many images (at most ~2M random numbers): the floor's
    spread between draws shrinks with the images, so 50 draws of 40,000 say as much."""
    return max(50, min(FLOOR_DRAWS, 2_000_000 // max(images, 1)))


def ece_floor(confidences: Sequence[float] | np.ndarray, draws: int = FLOOR_DRAWS) -> float:
    """The ECE expected from sampling alone (the mean of `calibrated_eces`): a measured ECE
    near it cannot be told from calibrated on this many images."""
    return float(np.mean(calibrated_eces(confidences, draws)))


def calibrated_chance(confidences: Sequence[float] | np.ndarray,
                      correct: Sequence[bool] | np.ndarray, draws: int = FLOOR_DRAWS) -> float:
    """The share of calibrated draws (`calibrated_eces`) whose ECE is at least the measured
    one: the p-value of "these confidences are calibrated". Under 0.05, these images show
    a miscalibration that sampling alone would rarely make."""
    measured = expected_calibration_error(confidences, correct)
    return float(np.mean(calibrated_eces(confidences, draws) >= measured - 1e-12))


@dataclass(frozen=True)
class ModelCalibration:
    """What a model file says about its calibration (its header's "calibration")."""

    temperature: float
    """The T whose 1/T is folded into the classifier (1: nothing was changed)."""
    ece_before: float
    """Validation ECE of the trained model as it was."""
    ece_after: float
    """Validation ECE after calibration (on the images T was fitted on: the held-out
    part's figure, from Evaluate, is the honest one)."""
    images: int
    """Validation images T was fitted on."""
    rule: str = FITTED

    def to_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "ece_before": self.ece_before,
                "ece_after": self.ece_after, "images": self.images, "rule": self.rule}

    @classmethod
    def from_dict(cls, data: Any) -> ModelCalibration:
        """From a header's "calibration" object; ValueError naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError("is not an object")
        temperature = data.get("temperature")
        if type(temperature) not in (int, float) or not 0.0 < temperature < math.inf:
            raise ValueError(f"temperature is {temperature!r}, not a positive number")
        eces = [data.get("ece_before"), data.get("ece_after")]
        if not all(type(v) in (int, float) and 0.0 <= v <= 1.0 for v in eces):
            raise ValueError(f"ece_before/ece_after are {eces!r}, not numbers from 0 to 1")
        images, rule = data.get("images"), data.get("rule", FITTED)
        if type(images) is not int or images < 0:
            raise ValueError(f"images is {images!r}, not a count")
        if rule not in RULES:
            raise ValueError(f"rule is {rule!r}, not one of {', '.join(RULES)}")
        return cls(float(temperature), float(eces[0]), float(eces[1]), images, rule)

    @classmethod
    def of_header(cls, header: dict[str, Any]) -> ModelCalibration | None:
        """A checked header's calibration; None for a file trained before calibration."""
        data = header.get(HEADER_KEY)
        return None if data is None else cls.from_dict(data)

    @property
    def measured(self) -> bool:
        """Whether validation was scored (else T is 1 and the ECE figures are 0 for "not
        measured": too few photos, a stopped run, …)."""
        return self.rule in (FITTED, CALIBRATED, NO_MISTAKES)

    def describe(self) -> str:
        """One line: T, the validation ECE before and after, and how T was chosen."""
        how = {FITTED: f"fitted on {self.images} validation images",
               CALIBRATED: f"the {self.images} validation images showed the confidences "
                           "right as trained",
               NO_MISTAKES: f"none of the {self.images} validation images was wrong, so the "
                            "confidence was set to what that count supports",
               TOO_FEW: f"only {self.images} validation images: left as trained",
               NOT_NUMBERS: "validation gave values that are not numbers: left as trained",
               STOPPED: "the run was stopped before calibration: left as trained",
               UNREADABLE: "a validation photo could not be read again: left as trained",
               }[self.rule]
        if not self.measured:
            return f"not calibrated ({how})"
        return (f"temperature {self.temperature:.2f} ({how}); validation ECE "
                f"{self.ece_before:.3f} before, {self.ece_after:.3f} after")


UNSURE_CHANCE_WRONG = 0.30
"""The default cut-off of "unsure": more than a 30 % chance of being wrong, i.e. a
confidence below 70 % (the app's unsure slider has always started there)."""


def is_unsure(confidence: float, chance_wrong: float = UNSURE_CHANCE_WRONG) -> bool:
    """Whether a prediction's chance of being wrong (1 − its calibrated confidence) is
    over `chance_wrong`."""
    return 1.0 - confidence > chance_wrong + 1e-12
