"""What a training run produced: `FitResult`, returned by `fit` and kept in the run history.

Its own module so that the run history (`training.fitting.runs`) and checkpoints can name it
without importing the trainer, which imports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from training.core.events import EpochEnded
from training.data.dataset import Split
from training.fitting.modelfile import TrainedModel


@dataclass(frozen=True)
class FitResult:
    """What a run produced. `model` is None only when it was cancelled before any epoch ended."""

    run_id: str
    model: TrainedModel | None
    model_path: Path | None
    classes: tuple[str, ...]
    split: Split
    history: tuple[EpochEnded, ...]
    best_epoch: int
    best_val_loss: float
    best_val_accuracy: float
    baseline_accuracy: float | None
    stopped: str
    seconds: float
    warnings: tuple[str, ...] = ()
    """What went wrong on the way without costing the model: a full disk for the run history
    or a checkpoint, a model saved elsewhere than asked. Front ends show each one."""
