"""The "Likely wrong labels" tab of a multi-label dataset: run the label finder, review its
doubts, add a missing label or remove a wrong one, undo.

The finder (`training.insight.multilabel_suspects.find_label_suspects`) runs in a worker with
a progress bar and Cancel. Each doubt is a tile (`label_suspects_model`): the photo, "add
'blue'?" or "remove 'red'?" with its score, the labels it has now; selecting one shows every
doubt about the photo with the finder's reasons. "Add label" and "Remove label" fix the
selected rows of their kind through `training.insight.label_edits` in a job on the page's
runner (labels.csv rewritten with a journal, or a copy into / out of a class folder), and
"Undo last change" takes back the last batch. After either, the page scans the folder again,
so the overview counts the new labels; the report stays, minus the rows fixed.

An edit names the labels.csv hash the finder saw (then the hash the previous edit left): a
file changed on disk since is refused in the engine's words, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelection, Qt, Signal, Slot
from PySide6.QtWidgets import QLabel, QPushButton, QWidget

from cheetahlion_gui.data.cleanup_actions import ask_quarantine_folder
from cheetahlion_gui.data.job_tab import JobTab
from cheetahlion_gui.data.label_suspects_model import DoubtRole, DoubtRow, Key, LabelDoubtsModel
from cheetahlion_gui.dialogs import show_error
from cheetahlion_gui.jobs import Job
from cheetahlion_gui.jobs.controller import JobController, Lifecycle
from cheetahlion_gui.jobs.multilabel_suspects import (
    Action,
    FindLabelSuspectsJob,
    LabelEditJob,
    LabelEditOutcome,
    LabelFix,
    LabelUndoJob,
    LabelUndoOutcome,
)
from cheetahlion_gui.session import Session
from cheetahlion_gui.widgets.icon_view import fit_tiles_to_lines, make_icon_view
from cheetahlion_gui.widgets.thumbnails import ThumbnailCache
from training.records.multilabel_suspects import LabelSuspectReport

if TYPE_CHECKING:
    from training.insight.suspect_progress import FinderProgress

NOTHING_SELECTED = "Select a photo to see why its labels are doubted."


class LabelSuspectsView(JobTab):
    """Find likely missing and wrong labels of a multi-label dataset, and fix them."""

    search_finished = Signal()
    """A search ended: its doubts are shown, or it failed or was cancelled."""
    labels_changed = Signal()
    """An edit or an undo changed the dataset's labels on disk: it needs scanning again."""

    def __init__(self, session: Session, thumbnails: ThumbnailCache, jobs: JobController,
                 submit: Callable[[Job, Lifecycle], None], parent: QWidget | None = None
                 ) -> None:
        super().__init__(jobs, "Look for labels that are probably missing or wrong.", parent)
        self.session, self.submit = session, submit
        self.report: LabelSuspectReport | None = None
        self._root: Path | None = None
        self._expected_hash: str | None = None
        """labels.csv's hash as the finder saw it, then as the last edit or undo left it."""
        self._batches: list[dict[int, Key]] = []
        """The edits made from this report, a batch per click: change number → row."""
        self._rescan_is_ours = False

        self.find_button = QPushButton("Find likely wrong labels")
        self.find_button.setToolTip("Score every label of every photo with models trained "
                                    "without that photo: labels it likely lacks, and labels "
                                    "it likely should not have")
        self.find_button.clicked.connect(self.find)
        self.model = LabelDoubtsModel(thumbnails, self)
        self.view = make_icon_view(self.model, thumbnails.size // 2 + 24)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.details = QLabel(NOTHING_SELECTED)
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.add_button = QPushButton("Add label")
        self.add_button.setToolTip("Give the selected photos the label they probably lack")
        self.add_button.clicked.connect(self.add_selected)
        self.remove_button = QPushButton("Remove label")
        self.remove_button.setToolTip("Take the doubtful label off the selected photos")
        self.remove_button.clicked.connect(self.remove_selected)
        self.undo_button = QPushButton("Undo last change")
        self.undo_button.setToolTip("Give the photos back the labels they had before the last "
                                    "Add or Remove")
        self.undo_button.clicked.connect(self.undo_last)
        self._lay_out()
        self._finding = self.job_lifecycle(
            self.find_button, "Could not check the labels", succeeded=self._found,
            failed=self._find_failed, progressed=self._progressed, finished=self.search_finished)
        self._editing = Lifecycle(succeeded=self._edited, failed=self._edit_failed,
                                  failure_title="The labels were not changed")
        self._undoing = Lifecycle(succeeded=self._undone, failed=self._edit_failed,
                                  failure_title="Could not undo")
        session.multilabel_changed.connect(self._dataset_changed)
        self._update_actions()

    def _lay_out(self) -> None:
        self.lay_out_tab([self.find_button], [], self.view, self.details,
                         [self.add_button, self.remove_button, self.undo_button])

    # --- the finder --------------------------------------------------------------------------

    @Slot()
    def find(self) -> bool:
        dataset = self.session.multilabel
        if dataset is None:
            show_error(self, "No multi-label dataset", "Open a multi-label dataset first.")
            return False
        return self.start_job(FindLabelSuspectsJob(dataset), self._finding,
                              "Looking for likely wrong labels…")

    @Slot(object)
    def _progressed(self, event: FinderProgress) -> None:
        self.show_phase(event)

    @Slot(object)
    def _found(self, report: LabelSuspectReport | None) -> None:
        self.job = None
        if report is None:
            self.status.setText("Cancelled.")
            self.session.report("Search for wrong labels cancelled")
            return
        self.report, self._expected_hash, self._batches = report, report.labels_file_hash, []
        self.model.set_report(report)
        fit_tiles_to_lines(self.view, self.model.caption_lines())
        self.status.setText(_found_text(report, self.model.rowCount()))
        self.session.report(f"{len(report.flagged)} photo(s) with a likely wrong or missing "
                            "label found")
        self._update_actions()

    @Slot(str, str)
    def _find_failed(self, _message: str, _details: str) -> None:
        self.job = None
        self.status.setText("The search failed.")

    @Slot()
    def _dataset_changed(self) -> None:
        """Another folder, a scan the user asked for, or back to single-label: the report
        is out of date. The scan after this view's own edit keeps it."""
        dataset = self.session.multilabel
        root = dataset.root if dataset is not None else None
        ours, self._rescan_is_ours = self._rescan_is_ours, False
        if root != self._root or not ours:
            self._root, self.report, self._batches = root, None, []
            self.model.set_report(None)
            self.status.setText("Look for labels that are probably missing or wrong.")
        self._update_actions()

    # --- edits -------------------------------------------------------------------------------

    def selected(self) -> list[DoubtRow]:
        rows = sorted(index.row() for index in self.view.selectionModel().selectedIndexes())
        return [self.model.index(row).data(DoubtRole) for row in rows]

    @Slot()
    def add_selected(self) -> bool:
        return self._fix("add")

    @Slot()
    def remove_selected(self) -> bool:
        return self._fix("remove")

    def _fix(self, action: Action) -> bool:
        kind = "missing" if action == "add" else "wrong"
        rows = [row for row in self.selected() if row.doubt.kind == kind]
        if not rows or self.report is None or self._root is None:
            return False
        quarantine = None
        if action == "remove" and self.report.source == "folders":
            quarantine = self.session.settings.quarantine_folder(self._root) or \
                ask_quarantine_folder(self, self.session, self._root)
            if quarantine is None:
                return False
        fixes = [LabelFix(row.suspect.path, row.suspect.relpath, row.doubt.label, action)
                 for row in rows]
        self.submit(LabelEditJob(self._root, fixes, self._expected_hash, quarantine),
                    self._editing)
        self.status.setText("Changing the labels…")
        return True

    @Slot()
    def undo_last(self) -> bool:
        if not self._batches or self._root is None:
            return False
        self.submit(LabelUndoJob(self._root, tuple(self._batches[-1])), self._undoing)
        self.status.setText("Undoing…")
        return True

    @Slot(object)
    def _edited(self, outcome: LabelEditOutcome) -> None:
        keys = [(fix.relpath, fix.label) for fix in outcome.fixes]
        self._batches.append(dict(zip(outcome.change_ids, keys, strict=True)))
        self._expected_hash = outcome.labels_hash
        self.model.mark_fixed(keys)
        text = "; ".join(f"{'added' if fix.action == 'add' else 'removed'} '{fix.label}' "
                         f"{'to' if fix.action == 'add' else 'from'} {fix.relpath}"
                         for fix in outcome.fixes)
        self.status.setText(f"Done: {escape(text, quote=False)}. “Undo last change” takes it "
                            "back.")
        self.session.report(f"{len(outcome.fixes)} label change(s) made")
        if outcome.failure:
            show_error(self, "Some labels were not changed", outcome.failure)
        self._changed()

    @Slot(object)
    def _undone(self, outcome: LabelUndoOutcome) -> None:
        keys = [batch.pop(change_id) for batch in self._batches
                for change_id in outcome.change_ids if change_id in batch]
        self._batches = [batch for batch in self._batches if batch]
        if outcome.labels_hash is not None:
            self._expected_hash = outcome.labels_hash
        self.model.mark_back(keys)
        self.status.setText("Undone: " + escape(" ".join(outcome.described), quote=False))
        self.session.report(f"{len(keys)} label change(s) undone")
        if outcome.failure:
            show_error(self, "Not everything was undone", outcome.failure)
        self._changed()

    def _changed(self) -> None:
        self._rescan_is_ours = True
        self.labels_changed.emit()
        self._update_actions()

    @Slot(str, str)
    def _edit_failed(self, _message: str, _details: str) -> None:
        self.status.setText("Nothing was changed.")

    # --- selection ---------------------------------------------------------------------------

    @Slot(QItemSelection, QItemSelection)
    def _selection_changed(self, *_args: object) -> None:
        chosen = self.selected()
        if len(chosen) == 1:
            suspect = chosen[0].suspect
            reasons = "".join(f"<li>{escape(doubt.reason, quote=False)}</li>"
                              for doubt in suspect.doubts)
            self.details.setText(
                f"<b>{escape(suspect.relpath)}</b> — labels: "
                f"<b>{escape(', '.join(suspect.labels) or 'none')}</b><ul>{reasons}</ul>")
        elif chosen:
            adds = sum(1 for row in chosen if row.doubt.kind == "missing")
            self.details.setText(f"{len(chosen)} selected: {adds} label(s) to add, "
                                 f"{len(chosen) - adds} to remove.")
        else:
            self.details.setText(NOTHING_SELECTED)
        self._update_actions()

    def _update_actions(self) -> None:
        kinds = {row.doubt.kind for row in self.selected()}
        self.add_button.setEnabled("missing" in kinds)
        self.remove_button.setEnabled("wrong" in kinds)
        self.undo_button.setEnabled(bool(self._batches))


def _found_text(report: LabelSuspectReport, rows: int) -> str:
    """What the search found, in one paragraph."""
    more = len(report.worth_a_look)
    unjudged = (f" Not checked (too few photos with or without them): "
                f"{escape(', '.join(report.unjudged_labels))}." if report.unjudged_labels
                else "")
    return (f"<b>{len(report.flagged)}</b> of {len(report.suspects)} photos have a label that "
            f"is likely missing or wrong (shown in red)"
            + (f", {more} more {'is' if more == 1 else 'are'} worth a look" if more else "")
            + f"; {rows} doubt(s) below, strongest first. Judged by models trained without "
            f"each photo ({report.folds} folds); {report.seconds:.0f} s.{unjudged}")
