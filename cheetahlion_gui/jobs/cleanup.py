"""Clean-up actions on a dataset folder (`training.insight.cleanup`), and the journal after.

File moves and the journal are disk I/O, so every action runs in a worker thread and comes
back with the journal as it stands afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cheetahlion_gui.jobs.runner import Job


@dataclass(frozen=True)
class CleanupOutcome:
    """What an action did (`result`: MoveOutcome, UndoOutcome, keep marks…) and the journal."""

    action: str
    result: Any
    journal: Any


class CleanupJob(Job):
    """One `training.insight.cleanup` action on a dataset folder; "read_journal" only reads."""

    ACTIONS = ("read_journal", "move_to_class", "move_to_quarantine", "keep_images", "forget_kept",
               "undo_move")

    def __init__(self, root: Path, action: str, *args: Any) -> None:
        super().__init__()
        if action not in self.ACTIONS:
            raise ValueError(f"unknown clean-up action {action!r}")
        self.root, self.action, self.args = root, action, args

    def work(self) -> CleanupOutcome:
        from training.data.journal import read_journal
        from training.insight import cleanup
        result = None if self.action == "read_journal" else \
            getattr(cleanup, self.action)(self.root, *self.args)
        return CleanupOutcome(self.action, result, read_journal(self.root))
