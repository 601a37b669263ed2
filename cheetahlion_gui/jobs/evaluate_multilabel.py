"""Evaluating a multi-label model file on the open multi-label dataset's validation images."""

from __future__ import annotations

from dataclasses import dataclass

from cheetahlion_gui.jobs.runner import Job
from training.records.dataset import Split
from training.records.multilabel import MultiLabelDataset, MultiLabelReport


@dataclass(frozen=True)
class MultiLabelEvaluated:
    report: MultiLabelReport
    model_path: str


class MultiLabelEvaluateJob(Job):
    """`evaluate_multilabel` on the split's validation images; result: `MultiLabelEvaluated`.
    A single-label model or one trained on other labels is refused in the engine's words."""

    def __init__(self, model_path: str, dataset: MultiLabelDataset, split: Split) -> None:
        super().__init__()
        self.model_path = model_path
        self.dataset = dataset
        self.split = split

    def work(self) -> MultiLabelEvaluated:
        from training.predict.multilabel import evaluate_multilabel

        report = evaluate_multilabel(self.model_path, self.dataset, self.split.val,
                                     cancel=self.cancel)
        return MultiLabelEvaluated(report, self.model_path)
