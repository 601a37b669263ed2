"""Evaluating a model file on a dataset's validation or test images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cheetahlion_gui.jobs.runner import Job
from training.records.dataset import Dataset, SplitName
from training.records.evaluation import EvaluationReport


@dataclass(frozen=True)
class EvaluateOutcome:
    report: EvaluationReport
    model_path: str
    model_digest: str | None = None
    """The model file's content hash when it was read: saving thresholds chosen on this
    report is refused if the file changed since."""


class EvaluateJob(Job):
    def __init__(self, model_path: str, dataset: Dataset, part: SplitName = "val",
                 unfamiliar_percentile: float = 95.0) -> None:
        super().__init__()
        self.model_path = model_path
        self.dataset = dataset
        self.part = part
        self.unfamiliar_percentile = unfamiliar_percentile

    def work(self) -> EvaluateOutcome:
        from training import evaluate, load_model
        from training.core.file_ops import file_digest

        try:  # before reading the model: a file replaced meanwhile then fails the check
            digest: str | None = file_digest(Path(self.model_path))
        except OSError:
            digest = None  # load_model says what is wrong with the path
        model = load_model(self.model_path)
        report = evaluate(model, self.dataset, self.part, progress=self.progressed.emit,
                          cancel=self.cancel, unfamiliar_percentile=self.unfamiliar_percentile)
        return EvaluateOutcome(report, self.model_path, digest)
