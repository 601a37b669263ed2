"""What a training run produced, network included: `FitResult`, returned by `fit`.

Its own module so that checkpoints and the run session can name it without importing the
trainer, which imports them. Front ends keep only its `summary()` (plain data).
"""

from __future__ import annotations

from dataclasses import dataclass

from training.fitting.modelfile import TrainedModel
from training.records.fit_summary import FitSummary


@dataclass(frozen=True, kw_only=True)
class FitResult(FitSummary):
    """A `FitSummary` with the trained network; `model` is None only when the run was
    cancelled before any epoch ended."""

    model: TrainedModel | None
