"""Step 4, Classify: a gallery of new images classified in the background, with actions.

The page runs the classification and shows its gallery between three panels: what to
classify and with which model (`classify_sources`), what the gallery shows
(`gallery_filters`), and what to do with the files (`file_actions`). Images unlike anything
the model was trained on are shown as "none of these"; the percentile control decides how
strange that is and re-flags the gallery without re-running the model (the model's
calibration travels with the results). "Review unsure…" walks through the unsure and "none
of these" photos one at a time to put them into the dataset's classes (`review_dialog`).
A multi-label model's gallery shows every label a photo has, with its probability, and
counts photos per label; its "Review unsure…" walks through the photos with a label near
its threshold to add them to the open multi-label dataset with the labels the user ticks
(`multilabel_review`). Both reviews come in the order a label teaches most
(`review_order`).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, Signal, Slot
from PySide6.QtWidgets import (
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.classify.count_line import Progress, count_line, skipped_words
from cheetahlion_gui.classify.file_actions import FileActions
from cheetahlion_gui.classify.filters import GalleryFilters
from cheetahlion_gui.classify.multilabel_review import MultiLabelReviewDialog
from cheetahlion_gui.classify.review_dialog import ReviewDialog
from cheetahlion_gui.classify.review_order import ReviewOrdering, ReviewPlan
from cheetahlion_gui.classify.sources import SourcesBar
from cheetahlion_gui.dialogs import choose_folder
from cheetahlion_gui.jobs.classify import (
    ClassifyJob,
    GalleryFiles,
    MultiLabelBatch,
    PredictionBatch,
)
from cheetahlion_gui.jobs.controller import Lifecycle
from cheetahlion_gui.session import Session
from cheetahlion_gui.widgets.gallery_model import GalleryItem, GalleryModel
from cheetahlion_gui.widgets.gallery_proxy import GalleryProxy
from cheetahlion_gui.widgets.icon_view import (
    fit_tiles_to_classes,
    fit_tiles_to_lines,
    make_icon_view,
)
from cheetahlion_gui.widgets.preview_dialog import PREVIEW_SIZE, PreviewDialog
from cheetahlion_gui.widgets.step_page import StepPage
from cheetahlion_gui.widgets.thumbnails import ThumbnailCache


class ClassifyPage(StepPage):
    classification_finished = Signal()
    """A classification ended (finished, stopped or failed)."""
    photos_added = Signal(int, bool)
    """A review put (count) photos into the dataset; whether the user asked to train again."""
    precision = "float"
    """The precision of the gallery's features: "int8" (the 8-bit graph) or "float"."""

    def __init__(self, session: Session, thumbnails: ThumbnailCache,
                 parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.jobs.runner.finished.connect(self._start_queued)
        self.generation = 0
        self.sources: list[Path] = []
        self.classified_with: str | None = None
        """The model (path, or None for ImageNet) the gallery's labels came from."""
        self.runtime: str | None = None
        """What ran the network for the gallery ("onnxruntime", "pytorch"); None while
        nothing ran, or when every photo's features came from the feature store."""
        self._queued = False
        self._total = 0
        self._skipped: tuple[tuple[str, str], ...] = ()
        self._done = 0

        self.sources_bar = SourcesBar(session)
        self.sources_bar.folder_button.clicked.connect(self.choose_folder)
        self.sources_bar.classify_button.clicked.connect(self.classify)
        self.sources_bar.stop_button.clicked.connect(self.jobs.cancel)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.progress.setFormat("Classified %v / %m")
        self.model = GalleryModel(thumbnails, self)
        self.model.set_unsure_threshold(session.settings.unsure_threshold)
        self.model.set_unfamiliar_percentile(session.settings.unfamiliar_percentile)
        self.proxy = GalleryProxy(self)
        self.proxy.setSourceModel(self.model)
        self.view = make_icon_view(self.proxy, thumbnails.size)
        self.view.doubleClicked.connect(self.preview)
        self.preview_thumbnails = ThumbnailCache(self, size=PREVIEW_SIZE)
        self.filters = GalleryFilters(self.model, self.proxy, session.settings)
        self.filters.percentile_changed.connect(self._flags_changed)
        self.filters.threshold.valueChanged.connect(self._flags_changed)
        self.file_actions = FileActions(session, self.model, self.proxy, self.view)
        self.review_button = QPushButton("Review unsure…")
        self.review_button.clicked.connect(self.review_unsure)
        self.review_dialog: ReviewDialog | MultiLabelReviewDialog | None = None
        self.ordering = ReviewOrdering(self.review_button, self)
        self.ordering.planned.connect(self._review_planned)
        self.ordering.jobs.runner.finished.connect(self._update_review_button)
        self.filters.threshold.valueChanged.connect(self._update_review_button)
        self.filters.percentile_changed.connect(self._update_review_button)
        self.classification_finished.connect(self._update_review_button)
        session.dataset_changed.connect(self._update_review_button)
        session.multilabel_changed.connect(self._update_review_button)
        self._update_review_button()
        # Beside the counts it reviews; the filters' row is as wide as a laptop allows.
        self.file_actions.summary_row.addWidget(self.review_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.sources_bar)
        layout.addWidget(self.progress)
        layout.addWidget(self.filters)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.file_actions)
        self._classifying = Lifecycle(
            succeeded=self._succeeded, progressed=self._progressed,
            finished=self.classification_finished, failure_title="Classification failed",
            failed_status="Classification failed", progress=self.progress,
            stop=self.sources_bar.stop_button)

    # --- choosing what and with what -------------------------------------------------------

    @Slot()
    def choose_folder(self) -> None:
        folder = choose_folder(self, "Choose a folder of images", self.session.settings)
        if folder is not None:
            self.open_sources([folder])

    def open_sources(self, sources: list[Path], classify: bool = True) -> None:
        """Show these files/folders; classification starts right away unless told not to.

        A classification still running is cancelled; its results are dropped on arrival.
        """
        self.sources = sources
        self.sources_bar.show_sources(sources)
        if classify:
            self.classify()

    def use_model_file(self, path: str) -> None:
        """Classify with this model file from now on (and remember it)."""
        self.sources_bar.use_model_file(path)

    # --- classifying ------------------------------------------------------------------------

    @Slot()
    def classify(self) -> bool:
        if not self.sources:
            self.choose_folder()
            return False
        ok, model = self.sources_bar.chosen_model()
        if not ok:
            return False
        self.generation += 1
        self.model.set_items([])
        self.filters.refresh(())
        if self.jobs.busy:  # replace the running job: cancel it, start when it has ended
            self._queued = True
            self.jobs.cancel()
            return True
        return self._start(model)

    def _start(self, model: str | None) -> bool:
        self.classified_with = model
        self.runtime, self.precision = None, "float"
        self._total = self._done = 0
        self._skipped = ()
        self.file_actions.summary.setText("")
        self.file_actions.set_multilabel(False)
        job = ClassifyJob(list(self.sources), model, self.generation)
        return self.jobs.start(job, self._classifying, "Classifying…")

    @Slot()
    def _start_queued(self) -> None:
        if self._queued:
            self._queued = False
            ok, model = self.sources_bar.chosen_model()
            if ok:
                self._start(model)

    @Slot(object)
    def _progressed(self, message: GalleryFiles | PredictionBatch | MultiLabelBatch) -> None:
        if message.generation != self.generation:
            return  # from a job the user has replaced
        if isinstance(message, GalleryFiles):
            self.model.set_paths(message.paths)
            self._total = len(message.paths)
            self._skipped = message.skipped
            self.progress.setRange(0, max(self._total, 1))
            self.progress.setValue(0)
            summary = self.file_actions.summary
            summary.setToolTip("\n".join(f"{Path(path).name} {why}"
                                          for path, why in self._skipped[:40]))
            if not message.paths:
                summary.setText("No images found there" + skipped_words(len(self._skipped))
                                + ".")
        elif isinstance(message, PredictionBatch):
            self.model.apply_predictions(message.predictions, message.classes,
                                         message.calibration)
            self._counted(message)
            if self._done == len(message.predictions):  # the first batch names the classes
                self.filters.refresh(message.classes)
                fit_tiles_to_classes(self.view, message.classes)
        elif isinstance(message, MultiLabelBatch):
            self._labelled(message)

    def _labelled(self, message: MultiLabelBatch) -> None:
        """A multi-label batch: its tiles, and tiles wide enough for every label line yet."""
        first = self._done == 0
        self.model.apply_multilabel(message.predictions, message.labels, message.thresholds)
        self._counted(message)
        if first:
            self.filters.refresh(message.labels, multilabel=True)
            self.file_actions.set_multilabel(True)
        fit_tiles_to_lines(self.view, [self.model.labels_text(item)
                                       for item in self.model.items() if item.labels])

    def _counted(self, message: PredictionBatch | MultiLabelBatch) -> None:
        """A batch's photos counted, and what ran the network for them."""
        self.runtime = message.runtime or self.runtime
        self.precision = message.precision
        self._done += len(message.predictions)
        self.progress.setValue(self._done)

    @Slot(object)
    def _succeeded(self, _count: int) -> None:
        self._show_counts()
        self.filters.refresh(self.model.classes, self.model.multilabel)
        self.session.report("Classification finished")

    def _show_counts(self) -> None:
        progress = Progress(self._done, self._total, self.runtime, self.precision,
                            len(self._skipped))
        self.file_actions.summary.setText(count_line(self.model, progress,
                                                     len(self.review_items())))

    # --- viewing ----------------------------------------------------------------------------

    @Slot()
    def _flags_changed(self) -> None:
        """A threshold moved: the counts of "none of these" and "unsure" with it."""
        if not self.jobs.busy and self._total:
            self._show_counts()

    @Slot(QModelIndex)
    def preview(self, index: QModelIndex) -> None:
        source = self.proxy.mapToSource(index)
        item = self.model.item(source.row())
        dialog = PreviewDialog(item, self.model.classes, self.preview_thumbnails,
                               self.classified_with, self.model.novelty_text(item), self)
        dialog.open()

    # --- reviewing the unsure ones -----------------------------------------------------------

    def review_items(self) -> list[GalleryItem]:
        """The classified photos the model is unsure of or calls "none of these" (a
        multi-label gallery: with a label near its threshold, most unsure first), but those
        in the open dataset already (a review copies photos in; those are moved on the Data
        step)."""
        if self.model.multilabel:
            return self._unsure_labelled()
        root = self.session.dataset_root
        return [item for item in self.model.items() if item.label is not None and not item.error
                and (item.unfamiliar or self.model.is_unsure(item))
                and not (root is not None and Path(item.path).is_relative_to(root))]

    def _unsure_labelled(self) -> list[GalleryItem]:
        multilabel = self.session.multilabel
        root = multilabel.root if multilabel is not None else None
        unsure = [item for item in self.model.items() if item.labels is not None
                  and not item.error and self.model.is_unsure(item)
                  and not (root is not None and Path(item.path).is_relative_to(root))]
        return sorted(unsure, key=lambda item: self.model.doubt(item) or 0.0)

    @Slot()
    def _update_review_button(self) -> None:
        if self.ordering.busy:
            return  # it shows the ordering's progress; updated when that ends
        count = len(self.review_items())
        multilabel = self.model.multilabel
        target = self.session.multilabel if multilabel else self.session.dataset
        self.review_button.setText(f"Review unsure ({count})…" if count else "Review unsure…")
        self.review_button.setEnabled(bool(count) and target is not None)
        self.review_button.setToolTip(
            ("Tick the labels of the unsure photos one at a time by keyboard, into the open "
             "multi-label dataset" if target is not None else "Open a multi-label dataset "
             "(Data step) to add the unsure photos to it with their labels") if multilabel
            else "Label the unsure and \"none of these\" photos one at a time by keyboard, "
            "into the open dataset's classes" if target is not None
            else "Open a dataset (Data step) to put the unsure photos into its classes")

    @Slot()
    def review_unsure(self) -> ReviewDialog | MultiLabelReviewDialog | None:
        """Open the review of the unsure photos, for the open dataset's classes (or labels).
        It first orders them by what a label would teach (`review_order`) and opens when
        that ends; clicked again meanwhile, it stops the ordering and opens in listing order
        (a multi-label gallery: most unsure first)."""
        if self.ordering.busy:
            self.ordering.stop()
            return None
        multilabel = self.model.multilabel
        dataset = self.session.multilabel if multilabel else self.session.dataset
        items = self.review_items()
        if not items or self.review_dialog is not None or dataset is None:
            return None
        if not self.ordering.start(items, self.model.classes, dataset.paths,
                                   self.classified_with, self.generation,
                                   self.model.thresholds if multilabel else None):
            return self._review(ReviewPlan(tuple(items), (), "", self.generation))
        return None

    @Slot(object)
    def _review_planned(self, plan: ReviewPlan) -> None:
        if plan.generation == self.generation and self.review_dialog is None:
            self._review(plan)

    def _review(self, plan: ReviewPlan) -> ReviewDialog | MultiLabelReviewDialog | None:
        return self._review_labels(plan) if self.model.multilabel else \
            self._review_classes(plan)

    def _review_classes(self, plan: ReviewPlan) -> ReviewDialog | None:
        dataset = self.session.dataset
        if dataset is None:
            return None
        self.review_dialog = ReviewDialog(plan.items, self.model.classes, dataset.classes,
                                          dataset.root, not dataset.has_own_split, self,
                                          reasons=plan.reasons, note=plan.note)
        self.review_dialog.finished.connect(self._review_finished)
        self.review_dialog.open()
        return self.review_dialog

    def _review_labels(self, plan: ReviewPlan) -> MultiLabelReviewDialog | None:
        dataset = self.session.multilabel
        if dataset is None:
            return None
        dialog = MultiLabelReviewDialog(plan.items, self.model.classes, self.model.thresholds,
                                        dataset.labels, dataset.root, self,
                                        reasons=plan.reasons, note=plan.note)
        self.review_dialog = dialog
        dialog.finished.connect(self._review_finished)
        dialog.open()
        return dialog

    @Slot(int)
    def _review_finished(self, _result: int) -> None:
        dialog, self.review_dialog = self.review_dialog, None
        if dialog is None:
            return
        if dialog.queue.idle:
            dialog.deleteLater()
        if dialog.queue.added:
            self.photos_added.emit(dialog.queue.added, dialog.train_requested)

    # --- actions on files (the file actions panel's) ------------------------------------------

    def chosen_items(self) -> list[GalleryItem]:
        """The selected tiles, or every tile shown when nothing is selected."""
        return self.file_actions.chosen_items()

    def export_csv_to(self, path: Path, items: list[GalleryItem]) -> bool:
        return self.file_actions.export_csv_to(path, items)

    def sort_files_into(self, target: Path, items: list[GalleryItem], move: bool) -> bool:
        return self.file_actions.sort_files_into(target, items, move)
