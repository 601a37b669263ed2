"""The unsure photos in the order worth labelling them (`training.insight.labelling_queue`), in
the background: features of the photos and the dataset's, through the feature store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cheetahlion_gui.jobs.runner import Job


@dataclass(frozen=True)
class LabellingOrder:
    """The order: rows of the photos the job was given, each with why it is there."""

    rows: tuple[int, ...]
    reasons: tuple[str, ...]


class LabellingOrderJob(Job):
    """Order `paths` (with the gallery's `probabilities` over `classes` and its "none of
    these" marks) against the open dataset's `dataset_paths`, in the feature space of the
    backbone `model` (a model file, or None for ImageNet's) was built on. A multi-label
    model's `thresholds`, one per class, say the probabilities are each label's. `progressed`
    carries "features" `PhaseProgress` events; cancelled, its result is None."""

    def __init__(self, paths: Sequence[str], probabilities: Sequence[Sequence[float]],
                 unfamiliar: Sequence[bool], classes: Sequence[str],
                 dataset_paths: Sequence[Path], model: str | None,
                 thresholds: Sequence[float] | None = None) -> None:
        super().__init__()
        self.paths, self.probabilities = list(paths), [tuple(p) for p in probabilities]
        self.unfamiliar, self.classes = list(unfamiliar), tuple(classes)
        self.dataset_paths, self.model = list(dataset_paths), model
        self.thresholds = None if thresholds is None else tuple(thresholds)

    def work(self) -> LabellingOrder | None:
        from training.insight.labelling_queue import backbone_of, order_for_review
        from training.records.events import Cancelled

        try:
            picks = order_for_review(self.paths, self.probabilities, self.unfamiliar,
                                     self.dataset_paths, self.classes, backbone_of(self.model),
                                     self.cancel, self.progressed.emit,
                                     thresholds=self.thresholds)
        except Cancelled:
            return None
        return LabellingOrder(tuple(pick.index for pick in picks),
                              tuple(pick.reason for pick in picks))
