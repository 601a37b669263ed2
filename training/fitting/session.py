"""`RunSession`: a run's identity across the sessions that train it, and its history entry.

A fine-tune can be stopped and resumed (`fit(..., resume=run)`). The session that carries
it on keeps the run id and the model path, adds its training time to the earlier sessions',
notes after which epochs the run was resumed and how many clean-up moves were in effect when
it started (`runs.cleanup_moves_at_start`); both the per-epoch record
(`training.fitting.run_hooks`) and the final one are written from here, the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from training.core.runtime import describe_device
from training.fitting.checkpoint import Checkpoint
from training.fitting.loop import LoopOutcome
from training.fitting.modelfile import TrainedModel
from training.fitting.result import FitResult
from training.fitting.run_context import RunContext
from training.records import runs
from training.records.evaluation import BalancedScores
from training.records.kept import Kept
from training.records.run_record import RunRecord


@dataclass(frozen=True)
class RunSession:
    """This session of run `run_id`: started at `started` (`time.perf_counter`), writing
    its model to `output` (None: the run's own folder), resuming `resumed` if not None."""

    run_id: str
    output: str | None
    started: float
    resumed: Checkpoint | None = None
    cleanup_moves: int | None = None
    """The dataset's clean-up moves in effect when the run started (None: unknown): a file
    moved while it trains does not change the data it was given."""

    @property
    def resumed_after(self) -> tuple[int, ...]:
        """The epochs after which the run was resumed, this session's included."""
        if self.resumed is None:
            return ()
        return (*self.resumed.info.resumed_after, self.resumed.state.epoch)

    def seconds(self) -> float:
        """Training time of the whole run, earlier sessions included."""
        before = self.resumed.info.seconds if self.resumed else 0.0
        return before + time.perf_counter() - self.started

    def result(self, run: RunContext, outcome: LoopOutcome, baseline: float | None,
               seconds: float, stopped: str, model: TrainedModel | None = None,
               model_path: Path | None = None, kept: Kept | None = None,
               balance: BalancedScores | None = None) -> FitResult:
        """The run as `outcome` leaves it, described as a `FitResult` (without warnings)."""
        return FitResult(
            run_id=self.run_id, model=model, model_path=model_path,
            classes=run.dataset.classes, split=run.split, history=tuple(outcome.history),
            best_epoch=outcome.best_epoch, best_val_loss=outcome.best_val_loss,
            best_val_accuracy=outcome.best_val_accuracy, baseline_accuracy=baseline,
            stopped=stopped, seconds=seconds, kept=kept, balance=balance,
        )

    def record(self, run: RunContext, result: FitResult, step_losses: list[float],
               checkpoint: Path | None) -> RunRecord:
        """Write `result` to the run history (`training.records.runs`), replacing the entry an
        earlier epoch or session wrote; return the entry."""
        return runs.record_run(
            run.dataset, run.config, result, step_losses, describe_device(run.device),
            checkpoint=checkpoint, resumed_after=self.resumed_after,
            workers=run.workers.world_size, cleanup_moves=self.cleanup_moves)
