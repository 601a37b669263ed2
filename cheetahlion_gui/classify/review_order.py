"""Review unsure's order: the photos whose label would teach the model most come first.

Before the review opens, a background job (`jobs.labelling_order`) orders the photos by
how unsure the model is of each and how unlike it is the photos labelled so far, and says
why each comes where it does (a multi-label model's photos by how close each label is to
its threshold). The Review button shows the job's progress meanwhile; a click on it then
stops the ordering and opens the review in the order it was given (listing order; a
multi-label gallery's most unsure first). A failed or stopped ordering falls back to that
order with a one-line note, so the review always opens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QPushButton, QWidget

from cheetahlion_gui.jobs.controller import JobController, Lifecycle
from cheetahlion_gui.jobs.labelling_order import LabellingOrder, LabellingOrderJob
from cheetahlion_gui.widgets.gallery_model import GalleryItem
from training.records.events import PhaseProgress

ORDERING = "Ordering by what a label would teach…"
ORDERED = ("In the order a label teaches most: the photos the model is least sure of "
           "first, near-copies of those labelled or shown before held back.")
LISTING = "Listing order"
MOST_UNSURE = "Most unsure first"
"""The fallback orders: the gallery's listing; a multi-label gallery's label nearest its
threshold first."""


@dataclass(frozen=True)
class ReviewPlan:
    """The photos to review in their order, each one's reason (none in the fallback order), a
    line for the review's status (empty, or why it is in the fallback order), and the
    gallery generation it was made for."""

    items: tuple[GalleryItem, ...]
    reasons: tuple[str, ...]
    note: str
    generation: int


class ReviewOrdering(QObject):
    """Runs the ordering job for the Review button (`button` shows its progress)."""

    planned = Signal(object)
    """A `ReviewPlan`: ordered, or in the order given when ordering failed or was stopped."""

    def __init__(self, button: QPushButton, parent: QWidget) -> None:
        super().__init__(parent)
        self.button = button
        self.jobs = JobController(parent)
        self._items: tuple[GalleryItem, ...] = ()
        self._generation = 0
        self._fallback = LISTING
        self._lifecycle = Lifecycle(succeeded=self._ordered, failed=self._failed,
                                    progressed=self._progressed)

    @property
    def busy(self) -> bool:
        return self.jobs.busy

    def start(self, items: Sequence[GalleryItem], classes: Sequence[str],
              dataset_paths: Sequence[Path], model: str | None, generation: int,
              thresholds: Sequence[float] | None = None) -> bool:
        """Order `items` (their probabilities are over `classes`, from the model file
        `model`, None for ImageNet's) against the dataset's photos. A multi-label model's
        `thresholds` (one per label) make it the multi-label order, and the fallback
        `items`' own order, most unsure first."""
        self._items, self._generation = tuple(items), generation
        self._fallback = LISTING if thresholds is None else MOST_UNSURE
        job = LabellingOrderJob([item.path for item in items],
                                [item.probabilities for item in items],
                                [item.unfamiliar for item in items], classes, dataset_paths,
                                model, thresholds)
        self.button.setText(ORDERING)
        self.button.setToolTip("Click to stop ordering and review " + (
            "in listing order" if thresholds is None else "most unsure first"))
        return self.jobs.start(job, self._lifecycle)

    def stop(self) -> None:
        """Stop ordering: the review opens in listing order once the job has ended."""
        self.jobs.cancel()

    @Slot(object)
    def _progressed(self, event: PhaseProgress) -> None:
        self.button.setText(f"{ORDERING} {event.done * 100 // max(event.total, 1)} %")

    @Slot(object)
    def _ordered(self, order: LabellingOrder | None) -> None:
        if order is None:
            self._fallback_order(f"{self._fallback}: ordering by what a label would teach "
                                 "was stopped.")
            return
        items = tuple(self._items[row] for row in order.rows)
        self.planned.emit(ReviewPlan(items, order.reasons, ORDERED, self._generation))

    @Slot(str, str)
    def _failed(self, message: str, _details: str) -> None:
        self._fallback_order(f"{self._fallback}: could not order by what a label would "
                             f"teach ({message})")

    def _fallback_order(self, note: str) -> None:
        self.planned.emit(ReviewPlan(self._items, (), note, self._generation))
