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
from training.fitting.never_worse import Kept, describe


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
    kept: Kept | None = None
    """How the kept model was chosen against the ImageNet start (`Kept.trained_share`: 1 the
    trained weights, 0 the start because training made it worse on validation, between a
    blend of the two; see `training.fitting.never_worse`); None when training did not start
    from ImageNet's rows."""
    warnings: tuple[str, ...] = ()

    @property
    def kept_note(self) -> str | None:
        """A sentence on how the kept model differs from the trained one, or None."""
        if self.kept is None or not self.history:
            return None
        alone = self.history[self.best_epoch - 1].val_accuracy if self.best_epoch else None
        return describe(self.kept.trained_share, alone)
    """What went wrong on the way without costing the model: a full disk for the run history
    or a checkpoint, a model saved elsewhere than asked. Front ends show each one."""
