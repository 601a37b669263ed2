"""Reading a dataset folder: the scan (classes, files, health report, split) and its runs.

A folder holding `labels.csv` is a multi-label dataset: it is scanned as one
(`training.data.multilabel_scan`) and split so that every label is on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cheetahlion_gui.jobs.runner import Job
from training.records.dataset import Dataset, Split
from training.records.multilabel import LABELS_FILE, MultiLabelDataset
from training.records.run_record import RunRecord


@dataclass(frozen=True)
class ScanOutcome:
    dataset: Dataset
    split: Split | None
    """None when the dataset cannot be trained (its health report says why)."""
    runs: list[RunRecord]


@dataclass(frozen=True)
class MultiLabelScanOutcome:
    dataset: MultiLabelDataset
    split: Split | None
    """None when the dataset cannot be trained (its health report says why)."""
    runs: list[RunRecord]
    """The folder's run history."""


class ScanJob(Job):
    runs_torch = False  # scanning decodes with Pillow and hashes files

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def work(self) -> ScanOutcome | MultiLabelScanOutcome:
        from training import list_runs, scan_dataset, split_dataset

        if (self.folder / LABELS_FILE).is_file():
            return self._multilabel()
        dataset = scan_dataset(self.folder, progress=self.progressed.emit, cancel=self.cancel)
        split = split_dataset(dataset) if dataset.report.can_train else None
        return ScanOutcome(dataset, split, list_runs(dataset.root))

    def _multilabel(self) -> MultiLabelScanOutcome:
        from training import list_runs
        from training.data.multilabel_scan import scan_multilabel
        from training.data.multilabel_split import split_multilabel

        dataset = scan_multilabel(self.folder, progress=self.progressed.emit, cancel=self.cancel)
        split = split_multilabel(dataset) if dataset.report.can_train else None
        return MultiLabelScanOutcome(dataset, split, list_runs(dataset.root))


class RunsJob(Job):
    """Read a dataset's run history (`training.list_runs`); result: the records."""

    runs_torch = False  # it reads the run history's JSON

    def __init__(self, dataset_root: Path) -> None:
        super().__init__()
        self.dataset_root = dataset_root

    def work(self) -> list[RunRecord]:
        from training import list_runs

        return list_runs(self.dataset_root)
