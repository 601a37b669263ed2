"""Clean-up actions on a dataset folder (`training.insight.cleanup`), and the journal after.

File moves and the journal are disk I/O, so every action runs in a worker thread and comes
back with the journal as it stands afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto
from pathlib import Path
from typing import TYPE_CHECKING

from cheetahlion_gui.jobs.runner import Job
from training.records.journal import Journal, Keep, Move

if TYPE_CHECKING:
    from training.insight.cleanup import MoveOutcome, UndoOutcome

    CleanupResult = MoveOutcome | UndoOutcome | Move | tuple[Keep, ...] | int | None
    """A move's outcome, an undo's, an add's journal entry, the keep marks made, the count of
    marks forgotten, or None (the journal was only read)."""


class CleanupAction(Enum):
    """What a clean-up job does: one function of `training.insight.cleanup`, or only reading
    the journal."""

    READ_JOURNAL = auto()
    MOVE_TO_CLASS = auto()
    """args: the images, the class name."""
    MOVE_TO_QUARANTINE = auto()
    """args: the images, the quarantine folder."""
    KEEP = auto()
    """args: the images (reviewed: right where they are)."""
    FORGET_KEPT = auto()
    """args: the content hashes to un-keep."""
    UNDO_MOVE = auto()
    """args: the move id, or None for the last move in effect."""
    ADD_TO_CLASS = auto()
    """args: a photo from outside the dataset, the class name (a copy; see `adding`)."""

    @property
    def moves_files(self) -> bool:
        """Images changed folders, so the dataset's scan is out of date."""
        return self in (CleanupAction.MOVE_TO_CLASS, CleanupAction.MOVE_TO_QUARANTINE,
                        CleanupAction.UNDO_MOVE, CleanupAction.ADD_TO_CLASS)

    @property
    def moves_out(self) -> bool:
        """Images left their folders (their result says which: `MoveOutcome.moves`)."""
        return self in (CleanupAction.MOVE_TO_CLASS, CleanupAction.MOVE_TO_QUARANTINE)

    @property
    def changes_kept(self) -> bool:
        """The "keep" marks changed (`Journal.kept_hashes`)."""
        return self in (CleanupAction.KEEP, CleanupAction.FORGET_KEPT)


def engine_function(action: CleanupAction) -> Callable[..., CleanupResult] | None:
    """The engine function that carries `action` out (None: the action only reads).

    Imported here, when a job runs, not when the window starts."""
    from training.insight import adding, cleanup

    return {
        CleanupAction.READ_JOURNAL: None,
        CleanupAction.MOVE_TO_CLASS: cleanup.move_to_class,
        CleanupAction.MOVE_TO_QUARANTINE: cleanup.move_to_quarantine,
        CleanupAction.KEEP: cleanup.keep_images,
        CleanupAction.FORGET_KEPT: cleanup.forget_kept,
        CleanupAction.UNDO_MOVE: cleanup.undo_move,
        CleanupAction.ADD_TO_CLASS: adding.add_to_class,
    }[action]


@dataclass(frozen=True)
class CleanupOutcome:
    """What an action did and the journal as it stands afterwards."""

    action: CleanupAction
    result: CleanupResult
    journal: Journal


class CleanupJob(Job):
    """One clean-up action on the dataset folder `root`, with the engine function's `args`."""

    runs_torch = False  # it moves files and writes the journal

    def __init__(self, root: Path, action: CleanupAction, *args: object) -> None:
        super().__init__()
        self.root, self.action, self.args = root, action, args

    def work(self) -> CleanupOutcome:
        from training.records.journal import read_journal

        function = engine_function(self.action)
        result = None if function is None else function(self.root, *self.args)
        return CleanupOutcome(self.action, result, read_journal(self.root))
