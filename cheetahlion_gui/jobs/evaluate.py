"""Evaluating a model file on a dataset's validation or test images."""

from __future__ import annotations

from dataclasses import dataclass

from cheetahlion_gui.jobs.runner import Job
from training.records.dataset import Dataset, SplitName
from training.records.evaluation import EvaluationReport


@dataclass(frozen=True)
class EvaluateOutcome:
    report: EvaluationReport
    model_path: str


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

        model = load_model(self.model_path)
        report = evaluate(model, self.dataset, self.part, progress=self.progressed.emit,
                          cancel=self.cancel, unfamiliar_percentile=self.unfamiliar_percentile)
        return EvaluateOutcome(report, self.model_path)
