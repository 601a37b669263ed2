"""Training a model, in this process (quick mode) or in a child process (fine-tuning)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cheetahlion_gui.jobs.runner import Job

if TYPE_CHECKING:
    from cheetahlion_gui.jobs.engine_types import FitResult, RunRecord
    from training.data.dataset import Dataset
    from training.fitting.config import TrainConfig


@dataclass(frozen=True)
class TrainOutcome:
    result: FitResult
    runs: list[RunRecord]


class TrainJob(Job):
    """Train, or with `resume` (a run id) carry a stopped fine-tune on from its checkpoint."""

    def __init__(self, config: TrainConfig, dataset: Dataset, resume: str | None = None
                 ) -> None:
        super().__init__()
        self.config = config
        self.dataset = dataset
        self.resume = resume

    def work(self) -> TrainOutcome:
        """Quick runs train in this thread. Fine-tuning goes to a child process: there it
        never holds this process's GIL (saving an 18 MB model froze the window ~70 ms), and
        torch trains faster in a process's main thread (training.fitting.isolated)."""
        from training import fit, list_runs
        from training.fitting.isolated import fit_in_child_process

        run = fit_in_child_process if self.config.mode == "finetune" else fit
        result = run(self.config, self.dataset, callback=self.progressed.emit, cancel=self.cancel,
                     resume=self.resume)
        return TrainOutcome(result, list_runs(self.dataset.root))
