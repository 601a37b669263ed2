"""`EpochRecords`: what a fine-tune leaves on disk after every epoch, so it can be resumed.

After each epoch the loop hands its state (`training.fitting.loop.LoopState`) to this hook,
which writes the checkpoint (`training.fitting.checkpoint`) and records the run as
"interrupted" until it ends: a run that crashes or is killed shows in the history and can be
carried on. A disk that refuses them costs the run its resumability, not its training.
"""

from __future__ import annotations

from training.core import paths
from training.fitting.checkpoint import RunInfo, checkpoint_path, save_checkpoint
from training.fitting.loop import LoopState
from training.fitting.run_context import RunContext
from training.fitting.session import RunSession


class EpochRecords:
    """Called as `records(state, baseline)` after every epoch of a fine-tune (the baseline
    is only known once the validation images are decoded). Writes on rank 0 only: the other
    processes hold the same weights. Failures become one entry of `warnings`."""

    def __init__(self, run: RunContext, session: RunSession, warnings: list[str]) -> None:
        self.run = run
        self.session = session
        self.warnings = warnings

    def __call__(self, state: LoopState, baseline: float | None) -> None:
        if not self.run.workers.is_main:
            return
        try:
            self._write(state, baseline)
        except OSError as error:
            warning = (f"Checkpoints could not be written ({error.strerror or error}, in "
                       f"{paths.runs_dir()}), so this run cannot be resumed if it is "
                       "interrupted. Training went on.")
            if warning not in self.warnings:
                self.warnings.append(warning)

    def _write(self, state: LoopState, baseline: float | None) -> None:
        run, session = self.run, self.session
        path = checkpoint_path(run.dataset.root, session.run_id)
        seconds = session.seconds()
        save_checkpoint(path, RunInfo(
            run_id=session.run_id, config=run.config.to_dict(),
            dataset_root=str(run.dataset.root), dataset_fingerprint=run.dataset.fingerprint,
            split_sizes=run.split.sizes(), output=session.output, seconds=seconds,
            baseline_accuracy=baseline, resumed_after=session.resumed_after,
        ), state)
        so_far = session.result(run, state.outcome, baseline, seconds, stopped="interrupted")
        session.record(run, so_far, state.outcome.step_losses, checkpoint=path)
