"""`RunHooks`: a run's bookkeeping, in one object on the epoch loop.

Lightning keeps checkpointing and weight averaging out of its training step, in callbacks on
the loop; so does this module, for the things every run must do around its training whatever
the mode: after each epoch, the checkpoint and the "interrupted" record that let a crashed or
stopped fine-tune carry on; after the last epoch, the never-worse choice between the trained
weights and the start (`training.fitting.never_worse`); at the very end, the final record
(the checkpoint discarded unless a Stop may resume it) and the warnings the run collected on
the way, all in `warnings`, which become `FitResult.warnings`. The quick and fine-tune modes
then only build batches and run the forward pass, and each of these rules is written once.
`resumable`, the checkpoint a resumed run starts from, lives here too: the engine's runs
write, discard and read their checkpoints in this module only.

Unlike Lightning's hooks this object is engine-internal: it never sees the caller's callback,
which gets the loop's frozen events as before (docs/architecture.md, DESIGN.md §3.1). Only
rank 0 writes (the other processes hold the same weights); a disk that refuses a checkpoint
or a record costs the run its resumability or its history entry, not its training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from training.core import paths
from training.core.errors import ConfigError
from training.fitting.checkpoint import (
    Checkpoint,
    RunInfo,
    check_compatible,
    checkpoint_path,
    discard,
    find_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from training.fitting.loop import LoopOutcome, LoopState
from training.fitting.modelfile import TrainedModel
from training.fitting.never_worse import Scores, State, choose, needs_blending
from training.fitting.result import FitResult
from training.fitting.run_context import RunContext, Trained
from training.fitting.session import RunSession
from training.records.config import TrainConfig
from training.records.dataset import Dataset, Split
from training.records.events import Cancelled
from training.records.kept import Kept


@dataclass(frozen=True)
class Start:
    """The weights training started from, when they already form a working classifier
    (ImageNet's rows for the classes): the kept model must not be worse than them.

    `score` gives a state's validation (loss, accuracy) as the mode measures it; `shares`
    are the blends to try. `only_when_worse`: blends cost a validation pass each (a
    fine-tune), so they are tried only when the trained weights alone are worse than the
    start, and not after a Stop, which must stay immediate."""

    state: State
    scores: Scores
    score: Callable[[State], Scores]
    shares: tuple[float, ...]
    only_when_worse: bool = False


class RunHooks:
    """One run's bookkeeping (see the module docstring). The mode tells it the zero-shot
    `baseline` (written in every interim record) and the `start` to stay never worse than;
    the loop calls `epoch_ended` and `training_ended`; `fit` calls `run_ended`."""

    def __init__(self, run: RunContext, session: RunSession, checkpoints: bool) -> None:
        """`checkpoints`: whether epochs are saved to resume from (a fine-tune; quick runs
        take seconds and keep none)."""
        self.run = run
        self.session = session
        self.checkpoints = checkpoints
        self.baseline: float | None = None
        self.start: Start | None = None
        self.kept: Kept | None = None
        """How the kept weights were chosen against the start (None: no start to keep)."""
        self.warnings: list[str] = []
        """Everything the person should know about the run, for `FitResult.warnings`."""

    def warn(self, warning: str) -> None:
        """Add `warning` once: a failure repeated every epoch is one line to read."""
        if warning not in self.warnings:
            self.warnings.append(warning)

    def epoch_ended(self, state: LoopState) -> None:
        """Write the checkpoint and the "interrupted" record of the epoch that just ended,
        before the loop reports it (a callback that fails leaves the epoch saved)."""
        if not self.checkpoints or not self.run.workers.is_main:
            return
        try:
            self._write_epoch(state)
        except OSError as error:
            self.warn(f"Checkpoints could not be written ({error.strerror or error}, in "
                      f"{paths.runs_dir()}), so this run cannot be resumed if it is "
                      "interrupted. Training went on.")

    def _write_epoch(self, state: LoopState) -> None:
        run, session = self.run, self.session
        path = checkpoint_path(run.dataset.root, session.run_id)
        seconds = session.seconds()
        save_checkpoint(path, RunInfo(
            run_id=session.run_id, config=run.config.to_dict(),
            dataset_root=str(run.dataset.root), dataset_fingerprint=run.dataset.fingerprint,
            split_sizes=run.split.sizes(), output=session.output, seconds=seconds,
            baseline_accuracy=self.baseline, resumed_after=session.resumed_after,
        ), state)
        so_far = session.result(run, state.outcome, self.baseline, seconds, stopped="interrupted")
        session.record(run, so_far, state.outcome.step_losses, checkpoint=path)

    def training_ended(self, outcome: LoopOutcome) -> None:
        """The never-worse choice: replace the outcome's best weights by the best blend of
        them and the start that is not worse than the start on validation. Nothing to do
        without a start, or when no epoch gave weights."""
        start = self.start
        if start is None or outcome.best_state is None:
            return
        trained_scores = (outcome.best_val_loss, outcome.best_val_accuracy)
        shares = start.shares
        if start.only_when_worse and (outcome.stopped == "cancelled"
                                      or not needs_blending(start.scores, trained_scores)):
            shares = ()
        try:
            state, kept = choose(start.state, start.scores, outcome.best_state, trained_scores,
                                 start.score, shares)
        except Cancelled:  # stopped while scoring blends: choose between the two ends
            state, kept = choose(start.state, start.scores, outcome.best_state, trained_scores,
                                 start.score, ())
        outcome.best_state = state
        outcome.best_val_loss, outcome.best_val_accuracy = kept.val_loss, kept.val_accuracy
        self.kept = kept

    def run_ended(self, trained: Trained, model: TrainedModel | None, model_path: Path | None
                  ) -> FitResult:
        """The run's result, with every warning: the checkpoint discarded unless the run was
        stopped (it resumes from it), the final record replacing the interim one."""
        run, session, outcome = self.run, self.session, trained.outcome
        seconds = session.seconds()
        kept_checkpoint = checkpoint_path(run.dataset.root, session.run_id)
        if outcome.stopped != "cancelled" and run.workers.is_main:
            discard(kept_checkpoint)
        result = session.result(run, outcome, trained.baseline, seconds, outcome.stopped,
                                model=model, model_path=model_path, kept=self.kept,
                                balance=trained.balance)
        if not run.workers.is_main:
            return result
        record = None
        try:
            record = session.record(run, result, outcome.step_losses, checkpoint=(
                kept_checkpoint if kept_checkpoint.exists() else None))
        except OSError as error:
            self.warn(
                f"The run could not be added to the history ({error.strerror or error}, in "
                f"{paths.runs_dir()}): free some space there. The model itself was saved.")
        return replace(result, warnings=tuple(self.warnings), record=record)


def resumable(resume: str | Path, config: TrainConfig, dataset: Dataset, split: Split
              ) -> Checkpoint:
    """The checkpoint to resume from, checked against this config and dataset."""
    if config.mode != "finetune":
        raise ConfigError("Only fine-tuning runs can be resumed (quick runs take seconds and "
                          "keep no checkpoint): start it again.")
    saved = load_checkpoint(find_checkpoint(resume, dataset.root))
    check_compatible(saved, config.to_dict(), dataset.fingerprint, split.sizes())
    return saved
