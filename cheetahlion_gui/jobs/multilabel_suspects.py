"""The multi-label finder (`training.insight.multilabel_suspects`) and the label edits it
leads to (`training.insight.label_edits`), in the background.

A labels.csv edit rewrites the file and its journal, a class-folder edit copies or moves a
photo: disk I/O, never on the GUI thread. Several rows are fixed in one job, in order; the
labels.csv hash each edit leaves is the next edit's `expected_hash`, so the engine refuses
the batch as soon as the file differs from what the finder (or the previous edit) saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cheetahlion_gui.jobs.runner import Job
from training.records.multilabel import MultiLabelDataset
from training.records.multilabel_suspects import LabelSuspectReport

Action = Literal["add", "remove"]


@dataclass(frozen=True)
class LabelFix:
    """One label to add to a photo or take off it."""

    path: Path
    relpath: str
    label: str
    action: Action


class FindLabelSuspectsJob(Job):
    """Runs the multi-label finder; `progressed` carries its `FinderProgress` events. The
    result is its report, or None when cancelled."""

    def __init__(self, dataset: MultiLabelDataset) -> None:
        super().__init__()
        self.dataset = dataset

    def work(self) -> LabelSuspectReport | None:
        from training.insight.multilabel_suspects import find_label_suspects
        from training.records.events import Cancelled

        try:
            return find_label_suspects(self.dataset, self.progressed.emit, self.cancel)
        except Cancelled:
            return None


@dataclass(frozen=True)
class LabelEditOutcome:
    """What a batch of edits did: the fixes made (in order) with their change numbers, the
    labels.csv hash after the last (None for class folders), and why the batch stopped
    early (None when every fix was made)."""

    fixes: tuple[LabelFix, ...]
    change_ids: tuple[int, ...]
    labels_hash: str | None
    failure: str | None = None


class LabelEditJob(Job):
    """Makes `fixes` in `root` in order; fails (the engine's words) when not even the first
    can be made, and stops at the first refusal after that."""

    runs_torch = False  # it rewrites labels.csv or copies and moves files

    def __init__(self, root: Path, fixes: list[LabelFix], expected_hash: str | None,
                 quarantine: str | None = None) -> None:
        super().__init__()
        self.root, self.fixes = root, tuple(fixes)
        self.expected_hash, self.quarantine = expected_hash, quarantine

    def work(self) -> LabelEditOutcome:
        from training.insight.label_edits import edit_label
        from training.records.journal import CleanupError

        done: list[tuple[LabelFix, int]] = []
        expected, failure = self.expected_hash, None
        for fix in self.fixes:
            try:
                change = edit_label(self.root, fix.path, fix.label, fix.action,
                                    expected_hash=expected, quarantine=self.quarantine)
            except CleanupError as error:
                if not done:
                    raise
                failure = str(error)
                break
            done.append((fix, change.change_id))
            if change.edit is not None:
                expected = change.edit.after_hash
        return LabelEditOutcome(tuple(fix for fix, _ in done), tuple(i for _, i in done),
                                expected, failure)


@dataclass(frozen=True)
class LabelUndoOutcome:
    """Changes undone (newest first), what each undo did in words, the labels.csv hash after
    the last (None for class folders), and why undoing stopped early (or None)."""

    change_ids: tuple[int, ...]
    described: tuple[str, ...]
    labels_hash: str | None
    failure: str | None = None


class LabelUndoJob(Job):
    """Undoes the changes `change_ids` of one batch, newest first (`undo_change`)."""

    runs_torch = False

    def __init__(self, root: Path, change_ids: tuple[int, ...]) -> None:
        super().__init__()
        self.root, self.change_ids = root, change_ids

    def work(self) -> LabelUndoOutcome:
        from training.insight.label_edits import LabelUndo, undo_change
        from training.records.journal import CleanupError

        undone: list[int] = []
        described: list[str] = []
        labels_hash, failure = None, None
        for change_id in sorted(self.change_ids, reverse=True):
            try:
                result = undo_change(self.root, change_id)
            except CleanupError as error:
                if not undone:
                    raise
                failure = str(error)
                break
            undone.append(change_id)
            described.append(result.describe())
            if isinstance(result, LabelUndo):
                labels_hash = result.edit.before_hash
        return LabelUndoOutcome(tuple(undone), tuple(described), labels_hash, failure)
