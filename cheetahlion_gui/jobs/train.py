"""Training a model, in this process (quick mode and fine-tuning the top, which trains on
stored activations) or in a child process (fine-tuning everything)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cheetahlion_gui.jobs.runner import Job
from training.records.config import TrainConfig
from training.records.dataset import Dataset
from training.records.fit_summary import FitSummary

if TYPE_CHECKING:
    from cheetahlion_gui.jobs.training_process import TrainingProcessKeeper


@dataclass(frozen=True)
class FeaturesUsed:
    """The last event of a quick run: what computed its frozen features, as the engine says
    it ("onnxruntime int8", "stored float": `training.features_used`)."""

    features: str | None


class TrainJob(Job):
    """Train, or with `resume` (a run id) carry a stopped fine-tune on from its checkpoint.

    `processes`: the window's keeper of a warm training process; a fine-tune takes its
    process from there and has the next one started when it ends. Without one, it starts
    a fresh process.
    """

    def __init__(self, config: TrainConfig, dataset: Dataset, resume: str | None = None,
                 processes: TrainingProcessKeeper | None = None) -> None:
        super().__init__()
        self.config = config
        self.dataset = dataset
        self.resume = resume
        self.processes = processes

    @property
    def runs_torch(self) -> bool:  # type: ignore[override]
        """A fine-tune trains in its own process: an export here cannot touch it."""
        return self.config.mode != "finetune"

    def work(self) -> FitSummary:
        """Quick runs and partial fine-tunes train in this thread. Fine-tuning everything
        goes to a child process: there it never holds this process's GIL (saving an 18 MB
        model froze the window ~70 ms), and torch trains faster in a process's main thread
        (training.fitting.isolated). The GUI thread gets the summary (the record it wrote
        included), never the network."""
        from training import features_used, fit

        if self.config.mode == "finetune":
            return self._finetune()
        result = fit(self.config, self.dataset, callback=self.progressed.emit,
                     cancel=self.cancel, resume=self.resume)
        if self.config.mode == "quick":
            self.progressed.emit(FeaturesUsed(features_used()))
        return result.summary()

    def _finetune(self) -> FitSummary:
        """Fine-tune in the kept process (or a fresh one); then have the next one started,
        so it warms up while this run's results are on screen."""
        from training.fitting.isolated import TrainingProcess

        keeper = self.processes
        process = keeper.take() if keeper is not None else TrainingProcess()
        try:
            return process.fit(self.config, self.dataset, callback=self.progressed.emit,
                               cancel=self.cancel, resume=self.resume)
        finally:
            if keeper is not None:
                keeper.prepare()
