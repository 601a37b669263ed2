"""The review's file work, in the order the keys asked for it: copies into the dataset, undos.

A person labelling by keyboard presses the next key long before a photo is copied, and an
undo must find its copy made: so the review never waits for the disk. Each decision becomes
an entry here, and one clean-up job at a time (`jobs.cleanup`, in a worker thread) carries
them out in order. Undoing an add that has not started yet only takes it off the queue: no
file was made, so there is nothing to delete. A multi-label review's additions (a photo and
its labels, `training.insight.multilabel_adding`) go through the same queue as a plain
engine call each (`jobs.call`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum, auto
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QWidget

from cheetahlion_gui.jobs.call import CallJob
from cheetahlion_gui.jobs.cleanup import CleanupAction, CleanupJob, CleanupOutcome
from cheetahlion_gui.jobs.controller import JobController, Lifecycle
from cheetahlion_gui.jobs.runner import Job

if TYPE_CHECKING:
    from training.insight.multilabel_adding import LabelledAddition

NO_LABEL = "no label"
"""How a multi-label addition with none of the labels is counted."""


@dataclass
class Addition:
    """One photo the review put into a class; filled in when its job has run."""

    photo: str
    class_name: str
    move_id: int | None = None
    """The journal entry of the copy, once it is in the dataset."""
    undone: bool = False
    labels: tuple[str, ...] | None = None
    """A multi-label addition's labels (none: a photo with none of them); None for a class."""
    made: LabelledAddition | None = None
    """What a multi-label addition did, once done (what undoing it takes)."""

    @property
    def in_dataset(self) -> bool:
        return self.move_id is not None and not self.undone


class _Step(Enum):
    ADD = auto()
    UNDO = auto()


class AdditionQueue(QObject):
    """Adds and undos for the dataset at `root`, run one at a time in the background."""

    changed = Signal()
    """A job ended: `added` may have changed, and `message` says what happened."""

    def __init__(self, root: Path, widget: QWidget) -> None:
        super().__init__(widget)
        self.root = root
        self.jobs = JobController(widget)
        self.jobs.runner.finished.connect(self._next)
        self.message = ""
        self.failed = False
        """Whether `message` tells of an add or undo that did not happen."""
        self._pending: deque[tuple[_Step, Addition]] = deque()
        self._running: tuple[_Step, Addition] | None = None
        self._additions: list[Addition] = []
        self._lifecycle = Lifecycle(succeeded=self._succeeded, failed=self._failed)

    @property
    def added(self) -> int:
        """Photos copied into the dataset and not undone."""
        return sum(1 for addition in self._additions if addition.in_dataset)

    def added_per_class(self) -> dict[str, int]:
        """Photos in the dataset per class (per label, and "no label", for a multi-label
        review), in the order they were first used."""
        counts: dict[str, int] = {}
        for addition in self._additions:
            if addition.in_dataset:
                names = (addition.class_name,) if addition.labels is None \
                    else addition.labels or (NO_LABEL,)
                for name in names:
                    counts[name] = counts.get(name, 0) + 1
        return counts

    @property
    def idle(self) -> bool:
        return self._running is None and not self._pending

    def add(self, photo: str, class_name: str, labels: tuple[str, ...] | None = None
            ) -> Addition:
        """Put `photo` into `class_name`; with `labels`, into a multi-label dataset with
        those labels (`class_name` then only names them)."""
        addition = Addition(photo, class_name, labels=labels)
        self._additions.append(addition)
        self._pending.append((_Step.ADD, addition))
        self._next()
        return addition

    def undo(self, addition: Addition) -> bool:
        """Take `addition` back: off the queue if it has not started, else delete its copy.
        True when there is (or is about to be) a copy to delete; False when no file was
        made: its add had not started, or failed."""
        if (_Step.ADD, addition) in self._pending:
            self._pending.remove((_Step.ADD, addition))
            addition.undone = True
            return False
        copied = addition.in_dataset or self._running == (_Step.ADD, addition)
        if not copied:
            addition.undone = True  # its add failed: nothing to delete
            return False
        self._pending.append((_Step.UNDO, addition))
        self._next()
        return True

    @Slot()
    def _next(self) -> None:
        # The runner is busy a moment after a job's result came (its thread ends); its
        # `finished` calls this again then.
        while self._running is None and self._pending and not self.jobs.busy:
            step, addition = self._pending.popleft()
            if step is _Step.UNDO and (addition.move_id is None or addition.undone):
                addition.undone = True  # its add never made a file: nothing to delete
                continue
            job = self._job(step, addition)
            self._running = (step, addition)
            if not self.jobs.start(job, self._lifecycle):
                self._running = None  # shut down: the window is closing
                self._pending.clear()

    def _job(self, step: _Step, addition: Addition) -> Job:
        if addition.labels is not None:
            from training.insight import multilabel_adding  # when a job starts, not the window

            if step is _Step.ADD:
                return CallJob(multilabel_adding.add_labelled_photo, self.root,
                               addition.photo, addition.labels)
            return CallJob(multilabel_adding.undo_addition, self.root, addition.made)
        if step is _Step.ADD:
            return CleanupJob(self.root, CleanupAction.ADD_TO_CLASS, Path(addition.photo),
                              addition.class_name)
        return CleanupJob(self.root, CleanupAction.UNDO_MOVE, addition.move_id)

    @Slot(object)
    def _succeeded(self, outcome: CleanupOutcome | LabelledAddition | str) -> None:
        """A clean-up job's outcome, or a multi-label job's: the addition, or an undo's
        words."""
        step, addition = self._take_running()
        if step is _Step.UNDO:
            addition.undone = True
        elif isinstance(outcome, CleanupOutcome):
            addition.move_id = outcome.result.move_id
        elif not isinstance(outcome, str):
            addition.made, addition.move_id = outcome, outcome.change_id
        message = outcome if isinstance(outcome, str) else outcome.result.describe() \
            if isinstance(outcome, CleanupOutcome) else outcome.describe()
        self._tell(message, failed=False)

    @Slot(str, str)
    def _failed(self, message: str, _details: str) -> None:
        self._take_running()
        self._tell(message, failed=True)

    def _take_running(self) -> tuple[_Step, Addition]:
        running, self._running = self._running, None
        assert running is not None
        return running

    def _tell(self, message: str, failed: bool) -> None:
        self.message, self.failed = message, failed
        self.changed.emit()
