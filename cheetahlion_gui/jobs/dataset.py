"""Reading a dataset folder: the scan (classes, files, health report, split) and its runs.

A folder holding `labels.csv` is a multi-label dataset: it is scanned as one
(`training.data.multilabel_scan`) and split so that every label is on both sides. So are
class folders the user scans as multi-label (the Data step's switch, remembered per folder):
a photo in several folders then has each of their labels.
"""

from __future__ import annotations

from collections.abc import Iterable
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
    cross_folder_copies: int = 0
    """Photos (by content) that sit in two or more class folders (`cross_folder_copies`)."""
    photos: int = 0
    """Distinct photos (by content): what `cross_folder_copies` is a share of."""


@dataclass(frozen=True)
class MultiLabelScanOutcome:
    dataset: MultiLabelDataset
    split: Split | None
    """None when the dataset cannot be trained (its health report says why)."""
    runs: list[RunRecord]
    """The folder's run history."""


class ScanJob(Job):
    runs_torch = False  # scanning decodes with Pillow and hashes files

    def __init__(self, folder: Path, multilabel_folders: Iterable[str] = ()) -> None:
        """`multilabel_folders`: the class-folder datasets to scan as multi-label (resolved
        paths, as the settings keep them); a folder with labels.csv always is one."""
        super().__init__()
        self.folder = folder
        self.multilabel_folders = frozenset(multilabel_folders)

    def work(self) -> ScanOutcome | MultiLabelScanOutcome:
        from training import list_runs, scan_dataset, split_dataset
        from training.data.multilabel_scan import cross_folder_copies

        if (self.folder / LABELS_FILE).is_file():
            return self._multilabel(from_folders=False)
        if str(self.folder.resolve()) in self.multilabel_folders:
            return self._multilabel(from_folders=True)
        dataset = scan_dataset(self.folder, progress=self.progressed.emit, cancel=self.cancel)
        split = split_dataset(dataset) if dataset.report.can_train else None
        return ScanOutcome(dataset, split, list_runs(dataset.root), cross_folder_copies(dataset),
                           len({image.content_hash for image in dataset.images}))

    def _multilabel(self, *, from_folders: bool) -> MultiLabelScanOutcome:
        from training import list_runs
        from training.data.multilabel_scan import scan_multilabel
        from training.data.multilabel_split import split_multilabel

        dataset = scan_multilabel(self.folder, from_folders=from_folders,
                                  progress=self.progressed.emit, cancel=self.cancel)
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
