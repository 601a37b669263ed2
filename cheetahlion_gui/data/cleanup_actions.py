"""File moves on the Data step: keep, move to a class, quarantine, undo, and the undo list.

Every action runs `training.insight.cleanup` in a worker thread (`jobs.cleanup`: file moves
and the journal are disk I/O) and comes back with the journal as it stands afterwards, which
the undo list shows. The undo list reads the journal kept under CheetahLion's data folder,
so it is the same after a restart, and the same the CLI's `moves` command prints.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.dialogs import show_error
from cheetahlion_gui.jobs import Job
from cheetahlion_gui.jobs.cleanup import CleanupAction, CleanupJob, CleanupOutcome
from cheetahlion_gui.jobs.controller import Lifecycle
from cheetahlion_gui.session import Session
from training.records.journal import Journal, Move

Index = QModelIndex | QPersistentModelIndex
MoveRole = Qt.ItemDataRole.UserRole + 1


class MovesModel(QAbstractListModel):
    """The journal's moves, newest first: what moved where, and whether it is undone."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.moves: list[Move] = []

    def set_journal(self, journal: Journal | None) -> None:
        self.beginResetModel()
        self.moves = list(reversed(journal.moves)) if journal is not None else []
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.moves)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.moves):
            return None
        move = self.moves[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            when = move.time.replace("T", " ")[:16]
            state = "" if move.applied else "  (undone)"
            return f"#{move.move_id}  {when}  {move.describe()}{state}"
        if role == Qt.ItemDataRole.ToolTipRole:
            text = f"{move.source}\n→ {move.destination}"
            if move.restored_to is not None:
                text += f"\nput back as {move.restored_to}"
            return text
        if role == Qt.ItemDataRole.ForegroundRole and not move.applied:
            return QColor("#888")
        if role == MoveRole:
            return move
        return None


class CleanupController(QObject):
    """Runs clean-up actions for the open dataset on the page's job runner, one at a time."""

    journal_changed = Signal()
    """`journal` was read again (after any action, or when a dataset was opened)."""
    acted = Signal(object)
    """A CleanupOutcome, after an action that changed something on disk."""

    def __init__(self, session: Session, submit: Callable[[Job, Lifecycle], None],
                 parent: QWidget) -> None:
        super().__init__(parent)
        self.session = session
        self.submit = submit
        """Starts a Job on the page's runner, or queues it until the runner is free."""
        self.journal: Journal | None = None
        self.window = parent
        self._acting = Lifecycle(succeeded=self._succeeded, failure_title="Clean-up")

    @property
    def root(self) -> Path | None:
        return self.session.dataset_root

    def load_journal(self) -> None:
        self._run(CleanupAction.READ_JOURNAL)

    def move_to_class(self, paths: list[Path], class_name: str) -> None:
        self._run(CleanupAction.MOVE_TO_CLASS, list(paths), class_name)

    def quarantine(self, paths: list[Path]) -> bool:
        """Move `paths` to the dataset's quarantine folder (asked for the first time)."""
        folder = self.quarantine_folder() or self.choose_quarantine_folder()
        if folder is None:
            return False
        self._run(CleanupAction.MOVE_TO_QUARANTINE, list(paths), folder)
        return True

    def keep(self, paths: list[Path]) -> None:
        self._run(CleanupAction.KEEP, list(paths))

    def unkeep(self, content_hashes: list[str]) -> None:
        self._run(CleanupAction.FORGET_KEPT, list(content_hashes))

    def undo(self, move_id: int | None = None) -> None:
        self._run(CleanupAction.UNDO_MOVE, move_id)

    def quarantine_folder(self) -> str | None:
        return self.session.settings.quarantine_folder(self.root) if self.root else None

    @Slot()
    def choose_quarantine_folder(self) -> str | None:
        """Ask where images taken out of this dataset go; remembered per dataset."""
        if self.root is None:
            return None
        return ask_quarantine_folder(self.window, self.session, self.root)

    def _run(self, action: CleanupAction, *args: object) -> None:
        if self.root is None:
            return
        self.submit(CleanupJob(self.root, action, *args), self._acting)

    @Slot(object)
    def _succeeded(self, outcome: CleanupOutcome) -> None:
        if self.root is None or outcome.journal.root != self.root:
            return  # another dataset was opened meanwhile
        self.journal = outcome.journal
        self.journal_changed.emit()
        result = outcome.result
        if outcome.action.moves_out:
            self.session.report(result.describe())
            if result.failures:
                show_error(self.window, "Some images were not moved",
                           result.describe() + "\n\n" + "\n".join(result.failures))
        elif outcome.action is CleanupAction.UNDO_MOVE:
            self.session.report(result.describe())
            if result.note:
                show_error(self.window, "Undone" if result.move.kind == "add"
                           else "Moved back beside the original", result.note)
        elif outcome.action is CleanupAction.KEEP:
            self.session.report(f"{len(result)} image(s) marked as reviewed")
        if outcome.action is not CleanupAction.READ_JOURNAL:
            self.acted.emit(outcome)


def ask_quarantine_folder(window: QWidget, session: Session, root: Path) -> str | None:
    """Ask where images taken out of the dataset `root` go (outside it); remembered per
    dataset. None when the user cancels or picks a folder inside the dataset."""
    start = session.settings.quarantine_folder(root) or str(root.parent)
    chosen = QFileDialog.getExistingDirectory(
        window, f"Quarantine folder for images taken out of {root.name}", start)
    if not chosen:
        return None
    folder = Path(chosen).resolve()
    if folder == root or folder.is_relative_to(root):
        show_error(window, "Choose another folder",
                   f"{folder} is inside the dataset folder, where it would be scanned as "
                   "a class. Choose a folder outside the dataset.")
        return None
    session.settings.remember_quarantine_folder(root, folder)
    session.settings.save()
    return str(folder)


class MovesPanel(QWidget):
    """The undo list: every clean-up move on the dataset, undo the selected or the last."""

    def __init__(self, controller: CleanupController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.model = MovesModel(self)
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setAlternatingRowColors(True)
        self.view.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.view.selectionModel().currentChanged.connect(self._update_buttons)
        self.summary = QLabel("No clean-up moves yet.")
        self.summary.setWordWrap(True)
        self.undo_selected_button = QPushButton("Undo selected")
        self.undo_selected_button.clicked.connect(self.undo_selected)
        self.undo_last_button = QPushButton("Undo last")
        self.undo_last_button.clicked.connect(self.undo_last)
        self.folder_button = QPushButton("Quarantine folder…")
        self.folder_button.setToolTip("Where \"Move to quarantine\" puts images taken out of "
                                      "this dataset")
        self.folder_button.clicked.connect(controller.choose_quarantine_folder)
        buttons = QHBoxLayout()
        buttons.addWidget(self.undo_selected_button)
        buttons.addWidget(self.undo_last_button)
        buttons.addStretch(1)
        buttons.addWidget(self.folder_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.view, 1)
        layout.addLayout(buttons)
        controller.journal_changed.connect(self._journal_changed)
        self._update_buttons()

    @Slot()
    def _journal_changed(self) -> None:
        journal = self.controller.journal
        self.model.set_journal(journal)
        applied = len(journal.applied) if journal is not None else 0
        total = len(journal.moves) if journal is not None else 0
        kept = len(journal.keeps) if journal is not None else 0
        self.summary.setText(
            f"{applied} move(s) in effect, {total - applied} undone; {kept} image(s) marked "
            "as reviewed. Moves are kept in a journal, so they can be undone after a restart."
            if total or kept else "No clean-up moves yet.")
        self._update_buttons()

    def selected_move(self) -> Move | None:
        index = self.view.currentIndex()
        return index.data(MoveRole) if index.isValid() else None

    @Slot()
    def _update_buttons(self, *_args: object) -> None:
        journal = self.controller.journal
        move = self.selected_move()
        self.undo_selected_button.setEnabled(move is not None and move.applied)
        self.undo_last_button.setEnabled(journal is not None and bool(journal.applied))

    @Slot()
    def undo_selected(self) -> None:
        move = self.selected_move()
        if move is not None and move.applied:
            self.controller.undo(move.move_id)

    @Slot()
    def undo_last(self) -> None:
        self.controller.undo(None)
