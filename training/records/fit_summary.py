"""What a training run produced, as plain data: `FitSummary`.

The trained network stays with the engine (`training.fitting.result.FitResult` is this plus
the network); a front end is handed the summary, which it can show and keep without torch.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from training.records.dataset import Split
from training.records.evaluation import BalancedScores
from training.records.events import EpochEnded
from training.records.kept import Kept, describe
from training.records.run_record import RunRecord


@dataclass(frozen=True)
class FitSummary:
    """What a run produced: where its model lies, its curves, why it ended, what it kept."""

    run_id: str
    model_path: Path | None
    """None only when the run was cancelled before any epoch ended."""
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
    """What went wrong on the way without costing the model: a full disk for the run history
    or a checkpoint, a model saved elsewhere than asked. Front ends show each one."""
    record: RunRecord | None = None
    balance: BalancedScores | None = None
    """The saved model's validation figures that weigh every class the same: balanced
    accuracy, per-class recall and photos, the rare-class adjustment's τ (None: no model, or
    a run that saved none)."""
    """The run's entry in the run history as written, so a front end adds it to the history
    it shows without reading the history again; None when it could not be written (a warning
    says why) and in the other processes of a multi-process run."""

    @property
    def kept_note(self) -> str | None:
        """A sentence on how the kept model differs from the trained one, or None."""
        if self.kept is None or not self.history:
            return None
        alone = self.history[self.best_epoch - 1].val_accuracy if self.best_epoch else None
        return describe(self.kept.trained_share, alone)

    def summary(self) -> FitSummary:
        """Only the summary's own fields (a `FitResult` drops its network here)."""
        return FitSummary(**{field.name: getattr(self, field.name)
                             for field in fields(FitSummary)})
