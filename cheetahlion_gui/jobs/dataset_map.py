"""The dataset map (`training.insight.dataset_map`) in the background: features, projection."""

from __future__ import annotations

from dataclasses import dataclass

from cheetahlion_gui.jobs.runner import Job
from training.records.dataset import Dataset
from training.records.dataset_map import DatasetMap
from training.records.suspects import SuspectReport


@dataclass(frozen=True)
class MapOutcome:
    """The map (None when cancelled) and the content hashes marked "keep" (not ringed)."""

    map: DatasetMap | None
    kept: frozenset[str]


class DatasetMapJob(Job):
    """Map `dataset`'s photos; `report`, the finder's last, rings its flagged ones."""

    def __init__(self, dataset: Dataset, report: SuspectReport | None) -> None:
        super().__init__()
        self.dataset, self.report = dataset, report

    def work(self) -> MapOutcome:
        from training.insight.dataset_map import dataset_map
        from training.records.events import Cancelled
        from training.records.journal import read_journal

        try:
            drawn = dataset_map(self.dataset, self.progressed.emit, self.cancel,
                                report=self.report)
        except Cancelled:
            drawn = None
        return MapOutcome(drawn, read_journal(self.dataset.root).kept_hashes)
