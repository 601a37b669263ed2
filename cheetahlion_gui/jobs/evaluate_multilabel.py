"""Evaluating a multi-label model file on the open multi-label dataset's validation images,
and ordering its mistakes worst first (here, off the GUI thread)."""

from __future__ import annotations

from dataclasses import dataclass

from cheetahlion_gui.jobs.runner import Job
from training.records.dataset import Split
from training.records.multilabel import MultiLabelDataset, MultiLabelOutcome, MultiLabelReport


@dataclass(frozen=True)
class MultiLabelEvaluated:
    report: MultiLabelReport
    model_path: str
    worst: tuple[MultiLabelOutcome, ...]
    """The report's mistakes, worst first (`worst_first`)."""


def wrongness(outcome: MultiLabelOutcome, labels: tuple[str, ...]) -> float:
    """How wrong the model was about one photo: over its wrong labels only, the sum of
    |truth − probability| — 1 − p for each label missed, p for each spurious one.

    Why this and not a count of wrong labels: a count ties most photos (one label wrong)
    and says nothing of confidence, yet a label missed at 2 % is a worse mistake than one
    missed at 45 % under a threshold of 50 %. Why the wrong labels only and not all of
    them: a photo's right but hesitant labels would then outrank another photo's
    confidently wrong one, and the sum would grow with the number of labels. Each wrong
    label adds at least a little, so two confidently wrong labels outrank one.
    """
    chances = dict(zip(labels, outcome.probabilities, strict=False))
    return (sum(1.0 - chances.get(label, 0.0) for label in outcome.missed)
            + sum(chances.get(label, 0.0) for label in outcome.spurious))


def worst_first(report: MultiLabelReport) -> tuple[MultiLabelOutcome, ...]:
    """The photos with a label missed or spurious, the most wrong first (`wrongness`);
    ties in file-name order."""
    return tuple(sorted(report.mistakes,
                        key=lambda o: (-wrongness(o, report.labels), o.path)))


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
        return MultiLabelEvaluated(report, self.model_path, worst_first(report))
