"""What the four steps share: the open dataset, its runs, and the model chosen to use.

Pages never call each other; they read and change this object and react to its signals.
It holds only engine records and plain values (paths, names), no widgets.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from cheetahlion_gui.settings import Settings
from training.records.dataset import Dataset, Split
from training.records.multilabel import MultiLabelDataset
from training.records.run_record import RunRecord


class Session(QObject):
    dataset_changed = Signal()
    """A dataset was scanned (or rescanned): `dataset`, `split` and `runs` are new."""
    runs_changed = Signal()
    """The run history of the open dataset changed."""
    model_changed = Signal()
    """The model to evaluate and classify with changed: see `model_path`."""
    status_changed = Signal(str)
    """A short line for the status bar about what is running."""
    training_changed = Signal()
    """A run started or ended training on the Train step: see `training`."""
    multilabel_changed = Signal()
    """A multi-label dataset (a folder with labels.csv) was scanned, or set aside: see
    `multilabel`."""

    def __init__(self, settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.dataset: Dataset | None = None
        self.split: Split | None = None
        self.runs: list[RunRecord] = []
        self.model_path: str | None = None
        self.model_title = ""
        self.training = False
        """Whether a run is training: its model is not there to evaluate yet."""
        self.multilabel: MultiLabelDataset | None = None
        """The open multi-label dataset, beside which `dataset` stays as it was (the steps
        that know only single-label datasets keep theirs); None when the open folder is a
        single-label one."""
        self.multilabel_split: Split | None = None

    @property
    def dataset_root(self) -> Path | None:
        return self.dataset.root if self.dataset is not None else None

    def set_dataset(self, dataset: Dataset, split: Split | None, runs: list[RunRecord]) -> None:
        if self.multilabel is not None:
            self.set_multilabel(None, None)
        self.dataset, self.split, self.runs = dataset, split, runs
        self.settings.remember_dataset(dataset.root)
        self.settings.save()
        self.dataset_changed.emit()
        self.runs_changed.emit()
        usable = [r for r in runs if r.model_path and not r.model_note
                  and Path(r.model_path).exists()]
        if usable:
            self.set_model(usable[-1].model_path, f"run {usable[-1].run_id}")

    def set_multilabel(self, dataset: MultiLabelDataset | None, split: Split | None,
                       runs: list[RunRecord] | None = None) -> None:
        """A multi-label dataset, its split (None when it cannot be trained) and its run
        history; or None."""
        self.multilabel, self.multilabel_split = dataset, split
        if dataset is not None:
            self.settings.remember_dataset(dataset.root)
            self.settings.save()
            self.set_runs(runs or [])
        self.multilabel_changed.emit()

    def set_runs(self, runs: list[RunRecord]) -> None:
        self.runs = runs
        self.runs_changed.emit()

    def add_run(self, record: RunRecord) -> None:
        """A run just recorded: the history as `list_runs` would read it now (oldest first; a
        resumed run's new entry replaces its earlier one and comes last)."""
        self.set_runs([run for run in self.runs if run.run_id != record.run_id] + [record])

    def set_model(self, path: str | None, title: str = "") -> None:
        self.model_path = path
        self.model_title = title or (Path(path).name if path else "")
        if path:
            self.settings.remember_model(path)
            self.settings.save()
        self.model_changed.emit()

    def set_training(self, training: bool) -> None:
        if training != self.training:
            self.training = training
            self.training_changed.emit()

    def report(self, text: str) -> None:
        self.status_changed.emit(text)
