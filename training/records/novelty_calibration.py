"""How strange is strange: the calibration of the "none of these" score, without torch.

A model's novelty score (see `training.models.novelty`) is only meaningful relative to the images
it was validated on. At training time the score of every validation image is computed and
its percentiles 0..100 are stored in the model file. A user's "flag images stranger than
P % of the validation photos" is then the score at percentile P, and a score can be turned
back into "stranger than Q % of them". Both are plain arithmetic on 101 floats, so a front
end can move the threshold live on its GUI thread without torch.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from training.core.errors import ConfigError

DEFAULT_PERCENTILE = 95.0
"""Flag images stranger than 95 % of the validation images: about 5 % of them are flagged."""
METHOD = "knn-cosine"
"""Distance to the k-th nearest training image's L2-normalised pooled features."""


def check_percentile(percentile: float) -> float:
    """`percentile` as a float, or a `ConfigError` saying what is allowed."""
    value = float(percentile)
    if not 0.0 <= value <= 100.0 or math.isnan(value):
        raise ConfigError(f"The unfamiliar percentile must be 0 to 100, not {percentile}.")
    return value


@dataclass(frozen=True)
class NoveltyCalibration:
    """The validation split's novelty scores, summarised as the scores at percentiles 0..100."""

    quantiles: tuple[float, ...]
    """101 non-decreasing scores: quantiles[p] is the validation score at percentile p."""
    k: int
    """Which nearest neighbour's distance is the score."""
    reference_size: int
    """How many training images' features the model file keeps."""
    validation_size: int
    """How many validation images the quantiles summarise."""
    method: str = METHOD

    def threshold(self, percentile: float = DEFAULT_PERCENTILE) -> float:
        """The score above which an image is stranger than `percentile` % of validation."""
        position = check_percentile(percentile)
        low = min(int(position), 99)
        fraction = position - low
        return self.quantiles[low] + fraction * (self.quantiles[low + 1] - self.quantiles[low])

    def percentile(self, score: float) -> float:
        """The share (0..100) of validation images less strange than `score`."""
        quantiles = self.quantiles
        if score <= quantiles[0]:
            return 0.0
        if score >= quantiles[-1]:
            return 100.0
        high = bisect.bisect_right(quantiles, score)
        low = high - 1
        span = quantiles[high] - quantiles[low]
        return low + ((score - quantiles[low]) / span if span > 0 else 0.0)

    def is_unfamiliar(self, score: float | None, percentile: float = DEFAULT_PERCENTILE) -> bool:
        """True when `score` is above the threshold at `percentile`; False when there is none."""
        return score is not None and score > self.threshold(percentile)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "k": self.k, "reference_size": self.reference_size,
                "validation_size": self.validation_size, "quantiles": list(self.quantiles)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NoveltyCalibration:
        """Rebuild from `to_dict`'s output; ValueError when it is not one."""
        quantiles = tuple(float(q) for q in data["quantiles"])
        if (len(quantiles) != 101 or not all(math.isfinite(q) for q in quantiles)
                or any(b < a for a, b in itertools.pairwise(quantiles))):
            raise ValueError("novelty quantiles must be 101 finite, non-decreasing numbers")
        return cls(quantiles, int(data["k"]), int(data["reference_size"]),
                   int(data["validation_size"]), str(data.get("method", METHOD)))

    @classmethod
    def from_scores(cls, scores: Sequence[float], k: int, reference_size: int
                    ) -> NoveltyCalibration:
        """Percentiles 0..100 of validation `scores`, linearly interpolated between ranks."""
        ordered = sorted(float(s) for s in scores)
        if not ordered:
            raise ValueError("calibration needs at least one validation score")
        last = len(ordered) - 1
        quantiles = []
        for p in range(101):
            position = p / 100 * last
            low = math.floor(position)
            high = min(low + 1, last)
            value = ordered[low] + (position - low) * (ordered[high] - ordered[low])
            quantiles.append(max(value, quantiles[-1]) if quantiles else value)  # no rounding dips
        return cls(tuple(quantiles), k, reference_size, len(ordered))
