"""The "likely mislabelled" view on the Data step: run the finder, review a ranked grid, act.

The finder (`training.insight.suspects.find_suspects`) runs in a worker with a progress bar and
Cancel. Its report fills a thumbnail grid, most suspicious first; each tile shows the score,
the folder the image sits in and the first reason. Selecting tiles shows every reason and
what the ImageNet model sees, and enables the actions: Keep (reviewed, not wrong), Move to
class ▸, Move to quarantine. The actions run through the `CleanupController` (real file
moves, journalled and undoable); moved images leave the grid, kept ones too unless "Show
kept" is ticked, and an undone move brings its image back.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QItemSelection,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QLabel,
    QMenu,
    QPushButton,
    QWidget,
)

from cheetahlion_gui.data.cleanup_actions import CleanupController
from cheetahlion_gui.data.job_tab import JobTab
from cheetahlion_gui.data.suspects_model import SuspectRole, SuspectsModel
from cheetahlion_gui.dialogs import show_error
from cheetahlion_gui.jobs.cleanup import CleanupAction, CleanupOutcome
from cheetahlion_gui.jobs.controller import JobController
from cheetahlion_gui.jobs.suspects import FindSuspectsJob, SuspectsOutcome
from cheetahlion_gui.session import Session
from cheetahlion_gui.widgets.icon_view import fit_tiles_to_lines, make_icon_view
from cheetahlion_gui.widgets.thumbnails import ThumbnailCache
from training.records.runtime_words import label_words
from training.records.suspects import Suspect, SuspectReport

if TYPE_CHECKING:
    from training.insight.suspect_progress import FinderProgress

SIGNAL_NAMES = {"held-out": "a model trained without each photo",
                "outlier": "how far each photo is from the rest of its folder",
                "imagenet": "what the ImageNet model sees",
                "kinds": "what most photos of each folder look like to the ImageNet model",
                "copies": "copies in other folders"}


class SuspectsView(JobTab):
    """Find likely mislabelled images and keep, move or quarantine them."""

    search_finished = Signal()
    """A search ended: its report is shown, or it failed or was cancelled."""

    def __init__(self, session: Session, thumbnails: ThumbnailCache,
                 controller: CleanupController, jobs: JobController,
                 parent: QWidget | None = None) -> None:
        super().__init__(jobs, "Open a dataset, then look for images in the wrong folder.",
                         parent)
        self.session = session
        self.controller = controller
        self.report: SuspectReport | None = None
        """The last search's report on the open dataset (the map rings its flagged photos)."""

        self.find_button = QPushButton("Find likely mislabelled images")
        self.find_button.setToolTip("Score every image for how likely it is in the wrong "
                                    "class folder (held-out predictions, outliers in its "
                                    "class, what the ImageNet model sees)")
        self.find_button.clicked.connect(self.find)
        self.show_kept = QCheckBox("Show kept")
        self.show_kept.setToolTip("Also show images you marked as reviewed (Keep)")
        self.show_kept.toggled.connect(self._show_kept_toggled)

        self.model = SuspectsModel(thumbnails, self)
        self.view = make_icon_view(self.model, thumbnails.size // 2 + 24)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.details = QLabel("Select an image to see why it was flagged.")
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)

        self.keep_button = QPushButton("Keep")
        self.keep_button.setToolTip("Reviewed: it is right where it is (hidden from this list)")
        self.keep_button.clicked.connect(self.keep_selected)
        self.unkeep_button = QPushButton("Un-keep")
        self.unkeep_button.clicked.connect(self.unkeep_selected)
        self.class_menu = QMenu(self)
        # A push button with a menu sizes itself for its text and its arrow (a tool button
        # drew the arrow over "Move to class ▸").
        self.move_button = QPushButton("Move to class")
        self.move_button.setMenu(self.class_menu)
        self.quarantine_button = QPushButton("Move to quarantine")
        self.quarantine_button.setToolTip("Take the images out of the dataset into a folder "
                                          "you choose (asked the first time)")
        self.quarantine_button.clicked.connect(self.quarantine_selected)
        self._lay_out()
        self._finding = self.job_lifecycle(
            self.find_button, "Could not check the images", succeeded=self._found,
            failed=self._find_failed, progressed=self._progressed, finished=self.search_finished)
        controller.acted.connect(self._acted)
        session.dataset_changed.connect(self._dataset_changed)
        self._root: Path | None = None
        self._update_actions()

    def _lay_out(self) -> None:
        """The finder's bar, its status, the grid, the selection's details, the actions."""
        self.lay_out_tab([self.find_button], [self.show_kept], self.view, self.details,
                         [self.keep_button, self.unkeep_button, self.move_button,
                          self.quarantine_button])

    # --- the finder --------------------------------------------------------------------------

    @Slot()
    def find(self) -> bool:
        dataset = self.session.dataset
        if dataset is None:
            show_error(self, "No dataset", "Open a dataset folder first.")
            return False
        if not dataset.report.can_train:
            show_error(self, "This dataset cannot be checked yet",
                       dataset.report.errors[0].message)
            return False
        return self.start_job(FindSuspectsJob(dataset), self._finding,
                              "Looking for likely mislabelled images…")

    @Slot(object)
    def _progressed(self, event: FinderProgress) -> None:
        self.show_phase(event)

    @Slot(object)
    def _found(self, outcome: SuspectsOutcome) -> None:
        self.job = None
        report = outcome.report
        if report is None:
            self.status.setText("Cancelled.")
            self.session.report("Search for mislabelled images cancelled")
            return
        self.report = report
        self.model.set_report(list(report.suspects), outcome.kept)
        fit_tiles_to_lines(self.view, self.model.caption_lines())
        hidden = len(report.suspects) - self.model.rowCount()
        self.status.setText(
            f"<b>{len(report.flagged)}</b> of {len(report.suspects)} images look like they are "
            f"in the wrong folder (shown in red){_more_to_look_at(report)}; all are ranked "
            f"below, most suspicious first. Judged by "
            f"{', '.join(SIGNAL_NAMES.get(name, name) for name in report.signals)}; "
            f"{report.seconds:.0f} s.{_ran_on(outcome.features)}"
            + (f" {hidden} image(s) you kept are hidden." if hidden else ""))
        self.session.report(f"{len(report.flagged)} likely mislabelled image(s) found")
        self._update_actions()

    @Slot(str, str)
    def _find_failed(self, _message: str, _details: str) -> None:
        self.job = None
        self.status.setText("The search failed.")

    @Slot()
    def _dataset_changed(self) -> None:
        dataset = self.session.dataset
        root = dataset.root if dataset is not None else None
        if root != self._root:
            self._root = root
            self.report = None
            self.model.set_report([], frozenset())
            self.status.setText("Look for images that are probably in the wrong folder.")
        self.class_menu.clear()
        for name in (dataset.classes if dataset is not None else ()):
            action = QAction(name, self.class_menu)
            action.setData(name)
            action.triggered.connect(self._move_chosen)
            self.class_menu.addAction(action)
        self._update_actions()

    # --- actions -----------------------------------------------------------------------------

    def selected(self) -> list[Suspect]:
        rows = sorted(index.row() for index in self.view.selectionModel().selectedIndexes())
        return [self.model.index(row).data(SuspectRole) for row in rows]

    @Slot()
    def keep_selected(self) -> None:
        chosen = self.selected()
        if chosen:
            self.controller.keep([s.path for s in chosen])

    @Slot()
    def unkeep_selected(self) -> None:
        chosen = [s for s in self.selected() if self.model.is_kept(s)]
        if chosen:
            self.controller.unkeep([s.content_hash for s in chosen])

    def move_selected(self, class_name: str) -> None:
        chosen = [s for s in self.selected() if s.given != class_name]
        if chosen:
            self.controller.move_to_class([s.path for s in chosen], class_name)

    @Slot()
    def _move_chosen(self) -> None:
        action = self.sender()
        if isinstance(action, QAction):
            self.move_selected(action.data())

    @Slot()
    def quarantine_selected(self) -> None:
        chosen = self.selected()
        if chosen:
            self.controller.quarantine([s.path for s in chosen])

    @Slot(object)
    def _acted(self, outcome: CleanupOutcome) -> None:
        result = outcome.result
        if outcome.action.moves_out:
            self.model.mark_moved([move.source for move in result.moves])
        elif outcome.action is CleanupAction.UNDO_MOVE and result.restored_to == result.move.source:
            self.model.mark_back([result.move.source])
        if outcome.action.changes_kept:
            self.model.set_kept(outcome.journal.kept_hashes)
        self._update_actions()

    @Slot(bool)
    def _show_kept_toggled(self, shown: bool) -> None:
        self.model.set_show_kept(shown)

    @Slot(QItemSelection, QItemSelection)
    def _selection_changed(self, *_args: object) -> None:
        chosen = self.selected()
        if len(chosen) == 1:
            s = chosen[0]
            # File and class names are the user's: escape them, or a '<' would eat the text.
            looks = ", ".join(f"{escape(name)} {p:.2f}" for name, p in s.looks_like) or "—"
            reasons = "".join(f"<li>{escape(reason)}</li>" for reason in s.reasons) or \
                "<li>nothing unusual</li>"
            suggested = f"; it may belong in <b>{escape(s.suggested)}</b>" if s.suggested else ""
            self.details.setText(
                f"<b>{escape(s.relpath)}</b> — score {s.score:.2f}, in <b>{escape(s.given)}</b>"
                f"{suggested}<ul>{reasons}</ul>ImageNet model: looks like {looks}")
        elif chosen:
            self.details.setText(f"{len(chosen)} images selected.")
        else:
            self.details.setText("Select an image to see why it was flagged.")
        self._update_actions()

    def _update_actions(self) -> None:
        chosen = self.selected()
        for widget in (self.keep_button, self.move_button, self.quarantine_button):
            widget.setEnabled(bool(chosen))
        self.unkeep_button.setEnabled(any(self.model.is_kept(s) for s in chosen))
        given = {s.given for s in chosen}
        for action in self.class_menu.actions():
            action.setEnabled(given != {action.data()})


def _more_to_look_at(report: SuspectReport) -> str:
    """", 4 more are worth a look": the doubtful photos below the flags, or nothing."""
    more = len(report.worth_a_look)
    return f", {more} more {'is' if more == 1 else 'are'} worth a look" if more else ""


def _ran_on(features: str | None) -> str:
    """" Ran on onnxruntime · 8-bit.": what computed the finder's features; "" if
    unknown."""
    words = label_words(features)
    return f" Ran on {words}." if words else ""
