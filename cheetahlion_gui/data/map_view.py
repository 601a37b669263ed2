"""The "Map" tab on the Data step: the whole dataset at a glance, and clean-up by region.

Draw the map (`training.insight.dataset_map` in the page's job runner: the photos' features,
from the feature store when the finder has already looked at them, projected to two
dimensions) and every photo is a point coloured by its class folder; the finder's flagged
photos are ringed in red, copies linked by a grey line. Hover a point for its thumbnail,
click it for the photo. Lasso a region (the Select tool, or Shift+drag) and keep, move or
quarantine the photos in it through the `CleanupController`: the same journalled, undoable
moves as on the other tabs. After a move the folder is scanned again and the map follows it
without recomputing (`DatasetMap.for_dataset`): photos keep their places, moved-out ones
leave, an undone move brings its photo back.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, Qt, Signal, Slot
from PySide6.QtGui import QAction, QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QMenu,
    QPushButton,
    QToolButton,
    QWidget,
)

from cheetahlion_gui.data.cleanup_actions import CleanupController
from cheetahlion_gui.data.job_tab import JobTab
from cheetahlion_gui.data.map_card import HoverCard
from cheetahlion_gui.data.map_plot import FLAG_COLOUR, LINK_COLOUR, MapPlot, class_colour
from cheetahlion_gui.data.map_selection import Chosen, SelectionStrip
from cheetahlion_gui.data.photo_dialog import PhotoDialog
from cheetahlion_gui.dialogs import show_error
from cheetahlion_gui.jobs.cleanup import CleanupOutcome
from cheetahlion_gui.jobs.controller import JobController
from cheetahlion_gui.jobs.dataset_map import DatasetMapJob, MapOutcome
from cheetahlion_gui.session import Session
from cheetahlion_gui.widgets.preview_dialog import PREVIEW_SIZE
from cheetahlion_gui.widgets.thumbnails import ThumbnailCache
from training.records.dataset_map import DatasetMap
from training.records.events import PhaseProgress
from training.records.suspects import SuspectReport

INTRO = ("Every photo as a point: look-alikes sit together. Drawing it looks at each photo "
         "once (instant after \"Find likely mislabelled images\").")


class MapView(JobTab):
    """Draw the dataset map; hover, open, lasso and clean up the photos on it."""

    drawn = Signal()
    """A map job ended: the map is shown, or it failed or was cancelled."""

    def __init__(self, session: Session, thumbnails: ThumbnailCache,
                 controller: CleanupController, jobs: JobController,
                 parent: QWidget | None = None) -> None:
        super().__init__(jobs, INTRO, parent)
        self.session, self.controller = session, controller
        self.computed: DatasetMap | None = None
        """The map as computed, with the finder's flags; `shown` derives from it."""
        self.shown: DatasetMap | None = None
        """`computed` placed on the dataset as it is now (after clean-up moves)."""
        self.kept: frozenset[str] = frozenset()
        self.report: SuspectReport | None = None
        self.photo: PhotoDialog | None = None
        self.ringed = 0
        """How many photos are ringed (flagged and not kept)."""
        self.large = ThumbnailCache(self, size=PREVIEW_SIZE)
        self._root: Path | None = None
        self._build(thumbnails)
        self._drawing = self.job_lifecycle(
            self.draw_button, "Could not draw the map", succeeded=self._drawn,
            failed=self._draw_failed, progressed=self._progressed, finished=self.drawn,
            follow_progress=True)
        controller.acted.connect(self._acted)
        session.dataset_changed.connect(self._dataset_changed)
        self._update_actions()

    def _build(self, thumbnails: ThumbnailCache) -> None:
        self.draw_button = QPushButton("Draw the map")
        self.draw_button.clicked.connect(self.draw)
        self.pan_tool = _tool("Pan", "Drag to move around; the wheel zooms")
        self.select_tool = _tool("Select", "Drag around photos to select them (or Shift+drag "
                                 "with Pan); Ctrl adds to the selection")
        self.pan_tool.setChecked(True)
        self.tools = QButtonGroup(self)
        for tool in (self.pan_tool, self.select_tool):
            self.tools.addButton(tool)
        self.select_tool.toggled.connect(self._select_tool_toggled)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        # Three lines whatever it says (the legend of a few classes wraps once at 1280 px,
        # then its caption), so the plot does not jump when the legend arrives.
        self.status.setMinimumHeight(3 * self.status.fontMetrics().lineSpacing() + 4)
        self.plot = MapPlot()
        self.plot.hovered.connect(self._hovered)
        self.plot.clicked.connect(self.open_photo)
        self.plot.selection_changed.connect(self._update_actions)
        self.card = HoverCard(thumbnails, self.plot)
        self.selection = SelectionStrip(thumbnails)
        self.selection.opened.connect(self.open_photo)
        self.details = self.selection.count
        self.keep_button = QPushButton("Keep")
        self.keep_button.setToolTip("Reviewed: they are right where they are (no more rings)")
        self.keep_button.clicked.connect(self.keep_selected)
        self.class_menu = QMenu(self)
        # A push button with a menu sizes itself for its text and its arrow (a tool button
        # drew the arrow over "Move to class ▸").
        self.move_button = QPushButton("Move to class")
        self.move_button.setMenu(self.class_menu)
        self.quarantine_button = QPushButton("Move to quarantine")
        self.quarantine_button.setToolTip("Take the photos out of the dataset into a folder "
                                          "you choose (asked the first time)")
        self.quarantine_button.clicked.connect(self.quarantine_selected)
        self.clear_button = QPushButton("Clear selection")
        self.clear_button.clicked.connect(self.clear_selection)
        self._lay_out()

    def _lay_out(self) -> None:
        self.lay_out_tab([self.draw_button], [self.pan_tool, self.select_tool], self.plot,
                         self.selection, [self.keep_button, self.move_button,
                                          self.quarantine_button, self.clear_button])

    # --- drawing -------------------------------------------------------------------------

    @Slot()
    def draw(self) -> bool:
        dataset = self.session.dataset
        if dataset is None or not dataset.images:
            show_error(self, "No photos", "Open a dataset folder with photos first.")
            return False
        return self.start_job(DatasetMapJob(dataset, self.report), self._drawing,
                              "Drawing the dataset map…")

    def showEvent(self, event: QShowEvent) -> None:
        """Opened after the finder has looked at every photo: their features are stored,
        so the map takes a moment; draw it without being asked."""
        super().showEvent(event)
        if self.computed is None and self.report is not None and not self.jobs.busy:
            self.draw()

    @Slot(object)
    def _progressed(self, event: PhaseProgress) -> None:
        self.status.setText(f"Looking at each photo: {event.done} / {event.total}")

    @Slot(object)
    def _drawn(self, outcome: MapOutcome) -> None:
        self.job = None
        if outcome.map is None:
            self.status.setText("Cancelled.")
            return
        self.computed, self.kept = outcome.map, outcome.kept
        self._show(keep_view=False)
        self.session.report(f"Dataset map drawn: {len(outcome.map)} photos")

    @Slot(str, str)
    def _draw_failed(self, _message: str, _details: str) -> None:
        self.job = None
        self.status.setText("The map could not be drawn.")

    def show_report(self, report: SuspectReport | None) -> None:
        """The finder's latest report: ring its flagged photos (and draw the next map so)."""
        self.report = report
        if self.computed is not None:
            self.computed = self.computed.with_report(report)
            self._show(keep_view=True)

    def _show(self, keep_view: bool) -> None:
        """Place `computed` on the dataset as it is now and draw it."""
        dataset = self.session.dataset
        if self.computed is None or dataset is None:
            return
        self.shown = shown = self.computed.for_dataset(dataset)
        self.plot.show_points(np.column_stack([shown.x, shown.y]), np.asarray(shown.labels),
                              np.asarray(shown.links).reshape(-1, 2), keep_view)
        self._ring()
        self.status.setText(self._legend(shown))
        self._update_actions()

    def _ring(self) -> None:
        """Ring the flagged photos the user has not marked "keep"."""
        shown = self.shown
        if shown is not None:
            ringed = np.array([bool(shown.flag(i)) and shown.content_hashes[i] not in self.kept
                               for i in range(len(shown))], dtype=bool)
            self.ringed = int(ringed.sum())
            self.plot.ring(ringed)

    def _legend(self, shown: DatasetMap) -> str:
        """One entry per class and mark, each kept on one line (a wrap between "—" and
        "copies" left the mark and its meaning on different lines)."""
        counts = np.bincount(np.asarray(shown.labels, dtype=np.intp),
                             minlength=len(shown.classes))
        entries = [f"<span style='color:{class_colour(i)}'>●</span>&nbsp;{escape(name)} "
                   f"({counts[i]})" for i, name in enumerate(shown.classes)]
        if self.report is not None:
            entries.append(f"<span style='color:{FLAG_COLOUR}'>○</span>&nbsp;likely "
                           f"mislabelled ({self.ringed})")
        if shown.links:
            # A word joiner: Qt breaks a line before an em dash, even inside "nowrap".
            entries.append(f"<span style='color:{LINK_COLOUR}'>□&#8288;—</span>&nbsp;copies")
        if shown.unplaced:
            entries.append(f"{shown.unplaced} new photo(s) not on the map: draw it again")
        legend = " &nbsp; ".join(f"<span style='white-space:nowrap'>{entry}</span>"
                                 for entry in entries)
        return (f"{legend}<br><small>{len(shown)} photos; the two directions in which their "
                f"ImageNet features vary most ({shown.explained:.0%} of the variation)."
                f"</small>")

    # --- following the folder ---------------------------------------------------------------

    @Slot()
    def _dataset_changed(self) -> None:
        dataset = self.session.dataset
        root = dataset.root if dataset is not None else None
        if root != self._root:
            self._root, self.computed, self.shown, self.report = root, None, None, None
            self.plot.show_points(np.zeros((0, 2)), np.zeros(0, dtype=np.intp),
                                  np.zeros((0, 2), dtype=np.intp))
            self.status.setText(INTRO)
        else:
            self._show(keep_view=True)
        self.class_menu.clear()
        for name in (dataset.classes if dataset is not None else ()):
            action = QAction(name, self.class_menu)
            action.setData(name)
            action.triggered.connect(self._move_chosen)
            self.class_menu.addAction(action)
        self._update_actions()

    @Slot(object)
    def _acted(self, outcome: CleanupOutcome) -> None:
        if outcome.action.changes_kept:
            self.kept = outcome.journal.kept_hashes
            self._ring()
            if self.shown is not None:
                self.status.setText(self._legend(self.shown))

    # --- looking at photos ----------------------------------------------------------------

    @Slot(int)
    def _hovered(self, index: int) -> None:
        shown = self.shown
        if index < 0 or shown is None:
            self.card.hide()
            return
        spot = self.plot.mapFromScene(self.plot.scene_position(index))
        self.card.show_photo(str(shown.paths[index]), _caption(shown, index),
                             QPoint(spot.x(), spot.y()))

    @Slot(int)
    def open_photo(self, index: int) -> None:
        shown = self.shown
        if shown is None:
            return
        if self.photo is not None:
            self.photo.close()
        self.card.hide()
        self.photo = PhotoDialog(shown.paths[index], shown.classes[shown.labels[index]],
                                 shown.flag(index), self.large, self)
        self.photo.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.photo.destroyed.connect(self._photo_closed)
        self.photo.open()

    @Slot()
    def _photo_closed(self) -> None:
        self.photo = None

    # --- acting on the selection ---------------------------------------------------------

    def selected_paths(self) -> list[Path]:
        shown = self.shown
        return [] if shown is None else [shown.paths[i] for i in self.plot.selected_indices()]

    @Slot()
    def keep_selected(self) -> None:
        if chosen := self.selected_paths():
            self.controller.keep(chosen)

    @Slot()
    def _move_chosen(self) -> None:
        action = self.sender()
        shown = self.shown
        if not isinstance(action, QAction) or shown is None:
            return
        name = action.data()
        chosen = [shown.paths[i] for i in self.plot.selected_indices()
                  if shown.classes[shown.labels[i]] != name]
        if chosen:
            self.controller.move_to_class(chosen, name)

    @Slot()
    def quarantine_selected(self) -> None:
        if chosen := self.selected_paths():
            self.controller.quarantine(chosen)

    @Slot()
    def clear_selection(self) -> None:
        self.plot.select(np.zeros(len(self.plot.xy), dtype=bool))

    @Slot(bool)
    def _select_tool_toggled(self, selecting: bool) -> None:
        self.plot.box.selecting = selecting

    @Slot()
    def _update_actions(self) -> None:
        chosen = self.plot.selected_indices()
        for widget in (self.keep_button, self.move_button, self.quarantine_button,
                       self.clear_button):
            widget.setEnabled(bool(chosen))
        shown = self.shown
        if shown is None or not chosen:
            self.selection.show_selection([])
            return
        classes = {shown.classes[shown.labels[i]] for i in chosen}
        for action in self.class_menu.actions():
            action.setEnabled(classes != {action.data()})
        self.selection.show_selection([
            Chosen(i, shown.paths[i], _where(shown, i), shown.classes[shown.labels[i]],
                   shown.flag(i)) for i in chosen])


def _tool(text: str, tip: str) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.setCheckable(True)
    button.setAutoRaise(False)
    return button


def _where(shown: DatasetMap, index: int) -> str:
    """Where the photo is, inside the dataset folder."""
    path = shown.paths[index]
    return path.relative_to(shown.root).as_posix() if path.is_relative_to(shown.root) \
        else path.name


def _caption(shown: DatasetMap, index: int) -> str:
    """What the hover card says under the thumbnail: where the photo is, and its flag."""
    flag = shown.flag(index)
    marked = f"<br><span style='color:{FLAG_COLOUR}'>{escape(flag)}</span>" if flag else ""
    return escape(_where(shown, index)) + marked
