"""Step 4, Classify: a gallery of new images classified in the background, with actions.

Images unlike anything the model was trained on are shown as "none of these"; the
percentile control decides how strange that is and re-flags the gallery without re-running
the model (the model's calibration travels with the results).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.dialogs import ask_yes_no
from cheetahlion_gui.gallery_model import (
    GalleryModel,
    GalleryProxy,
    make_icon_view,
)
from cheetahlion_gui.jobs.call import CallJob
from cheetahlion_gui.jobs.classify import ClassifyJob, GalleryFiles, PredictionBatch
from cheetahlion_gui.jobs.controller import JobController, Lifecycle
from cheetahlion_gui.preview_dialog import PREVIEW_SIZE, PreviewDialog
from cheetahlion_gui.session import Session
from cheetahlion_gui.thumbnails import ThumbnailCache
from training.predict.results_csv import write_results_csv
from training.predict.sorting import SortSummary, sort_into_folders, sorting_label

MODEL_CHOSEN_RUN = "run"
MODEL_FILE = "file"
MODEL_IMAGENET = "imagenet"


class ClassifyPage(QWidget):
    classification_finished = Signal()
    files_sorted = Signal()

    def __init__(self, session: Session, thumbnails: ThumbnailCache,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.jobs = JobController(self, session)
        self.files = JobController(self)
        """Copies, moves and the CSV export: one at a time, beside a classification."""
        self.runner, self.files_runner = self.jobs.runner, self.files.runner
        self.jobs.runner.finished.connect(self._start_queued)
        self.generation = 0
        self.sources: list[Path] = []
        self.model_file: str | None = None
        self.classified_with: str | None = None
        """The model (path, or None for ImageNet) the gallery's labels came from."""
        self._queued = False
        self._total = 0
        self._skipped: tuple[tuple[str, str], ...] = ()
        self._done = 0

        self.folder_button = QPushButton("Choose folder…")
        self.folder_button.clicked.connect(self.choose_folder)
        self.source_label = QLabel("Choose a folder of images, or drop files and folders here.")
        self.model_source = QComboBox()
        self.model_source.addItem("The chosen run's model", MODEL_CHOSEN_RUN)
        self.model_source.addItem("A model file…", MODEL_FILE)
        self.model_source.addItem("Built-in ImageNet model (no training needed)", MODEL_IMAGENET)
        self.model_source.activated.connect(self._model_source_chosen)
        self.classify_button = QPushButton("Classify")
        self.classify_button.setObjectName("primary")
        self.classify_button.clicked.connect(self.classify)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.jobs.cancel)
        top = QHBoxLayout()
        top.addWidget(self.folder_button)
        top.addWidget(self.source_label, 1)
        top.addWidget(QLabel("Model:"))
        top.addWidget(self.model_source)
        top.addWidget(self.classify_button)
        top.addWidget(self.stop_button)
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

        self.show_filter = QComboBox()
        self.show_filter.currentIndexChanged.connect(self._filter_chosen)
        self.sort = QComboBox()
        for text, key in (("Name", "name"), ("Confidence, lowest first", "confidence"),
                          ("Label", "label"), ("Strangeness, highest first", "novelty")):
            self.sort.addItem(text, key)
        self.sort.currentIndexChanged.connect(self._sort_chosen)
        self.threshold = QSlider(Qt.Orientation.Horizontal)
        self.threshold.setRange(50, 99)
        self.threshold.setValue(round(session.settings.unsure_threshold * 100))
        self.threshold.setMaximumWidth(160)
        self.threshold.valueChanged.connect(self._threshold_changed)
        self.threshold_label = QLabel()
        self._threshold_changed(self.threshold.value())
        self.unfamiliar_percentile = QSpinBox()
        self.unfamiliar_percentile.setRange(50, 100)
        self.unfamiliar_percentile.setValue(round(self.model.unfamiliar_percentile))
        self.unfamiliar_percentile.setSuffix(" %")
        self.unfamiliar_percentile.setPrefix("stranger than ")
        self.unfamiliar_percentile.setToolTip(
            "Call an image \"none of these\" when it looks less like the training photos than "
            "this share of the model's validation photos do. At 95 %, about 1 in 20 ordinary "
            "photos is flagged; raise it to flag fewer.")
        self.unfamiliar_percentile.valueChanged.connect(self._unfamiliar_changed)
        self.unfamiliar_label = QLabel("None of these:")
        filters = QHBoxLayout()
        filters.addWidget(QLabel("Show"))
        filters.addWidget(self.show_filter)
        filters.addWidget(QLabel("Sort by"))
        filters.addWidget(self.sort)
        filters.addStretch(1)
        filters.addWidget(self.unfamiliar_label)
        filters.addWidget(self.unfamiliar_percentile)
        filters.addWidget(QLabel("of validation photos"))
        filters.addWidget(self.threshold_label)
        filters.addWidget(self.threshold)

        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(self.export_csv)
        self.copy_button = QPushButton("Copy into class folders…")
        self.copy_button.clicked.connect(self.copy_into_folders)
        self.move_button = QPushButton("Move into class folders…")
        self.move_button.clicked.connect(self.move_into_folders)
        self.add_button = QToolButton()
        self.add_button.setText("Add to dataset as")
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.add_menu = QMenu(self)
        self.add_menu.triggered.connect(self._add_to_dataset)
        self.add_button.setMenu(self.add_menu)
        self.summary = QLabel()
        actions = QHBoxLayout()
        actions.addWidget(QLabel("Selection (or all shown):"))
        for widget in (self.export_button, self.copy_button, self.move_button, self.add_button):
            actions.addWidget(widget)
        actions.addWidget(self.summary, 1)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        layout.addLayout(filters)
        layout.addWidget(self.view, 1)
        layout.addLayout(actions)
        self._refresh_filters(())
        self._classifying = Lifecycle(
            succeeded=self._succeeded, progressed=self._progressed,
            finished=self.classification_finished, failure_title="Classification failed",
            failed_status="Classification failed", progress=self.progress, stop=self.stop_button)
        self._writing_files = Lifecycle(
            succeeded=self._files_done, failed=self._files_failed, finished=self.files_sorted,
            failure_title="Could not write the files",
            busy_message=("Busy", "Files are still being copied; wait a moment."))
        session.dataset_changed.connect(self._dataset_changed)
        self._dataset_changed()

    # --- choosing what and with what -------------------------------------------------------

    @Slot()
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of images")
        if folder:
            self.open_sources([Path(folder)])

    def open_sources(self, sources: list[Path], classify: bool = True) -> None:
        """Show these files/folders; classification starts right away unless told not to.

        A classification still running is cancelled; its results are dropped on arrival.
        """
        self.sources = sources
        names = ", ".join(p.name for p in sources[:3]) + ("…" if len(sources) > 3 else "")
        self.source_label.setText(names)
        if classify:
            self.classify()

    @Slot(int)
    def _model_source_chosen(self, _index: int) -> None:
        if self.model_source.currentData() == MODEL_FILE:
            path, _ = QFileDialog.getOpenFileName(self, "Open a model file", "",
                                                  "CheetahLion models (*.safetensors)")
            if path:
                self.use_model_file(path)
            else:
                self.model_source.setCurrentIndex(0)

    def use_model_file(self, path: str) -> None:
        self.model_file = path
        self.model_source.setCurrentIndex(self.model_source.findData(MODEL_FILE))
        self.model_source.setItemText(1, f"Model file: {Path(path).name}")
        self.session.settings.remember_model(path)
        self.session.settings.save()

    def _chosen_model(self) -> tuple[bool, str | None]:
        """(ok, model path or None for ImageNet)."""
        source = self.model_source.currentData()
        if source == MODEL_IMAGENET:
            return True, None
        if source == MODEL_FILE and self.model_file:
            return True, self.model_file
        if source == MODEL_CHOSEN_RUN and self.session.model_path:
            return True, self.session.model_path
        QMessageBox.information(
            self, "No model yet",
            "Train a model (or pick a run on the Train step), open a model file, or choose the "
            "built-in ImageNet model.")
        return False, None

    # --- classifying ------------------------------------------------------------------------

    @Slot()
    def classify(self) -> bool:
        if not self.sources:
            self.choose_folder()
            return False
        ok, model = self._chosen_model()
        if not ok:
            return False
        self.generation += 1
        self.model.set_items([])
        self._refresh_filters(())
        if self.jobs.busy:  # replace the running job: cancel it, start when it has ended
            self._queued = True
            self.jobs.cancel()
            return True
        return self._start(model)

    def _start(self, model: str | None) -> bool:
        self.classified_with = model
        self._total = self._done = 0
        self._skipped = ()
        self.summary.setText("")
        job = ClassifyJob(list(self.sources), model, self.generation)
        return self.jobs.start(job, self._classifying, "Classifying…")

    @Slot()
    def _start_queued(self) -> None:
        if self._queued:
            self._queued = False
            ok, model = self._chosen_model()
            if ok:
                self._start(model)

    @Slot(object)
    def _progressed(self, message: Any) -> None:
        if message.generation != self.generation:
            return  # from a job the user has replaced
        if isinstance(message, GalleryFiles):
            self.model.set_paths(message.paths)
            self._total = len(message.paths)
            self._skipped = message.skipped
            self.progress.setRange(0, max(self._total, 1))
            self.progress.setValue(0)
            self.summary.setToolTip("\n".join(f"{Path(path).name} {why}"
                                               for path, why in self._skipped[:40]))
            if not message.paths:
                self.summary.setText("No images found there" + self._skipped_text() + ".")
        elif isinstance(message, PredictionBatch):
            self.model.apply_predictions(message.predictions, message.classes,
                                         message.calibration)
            self._done += len(message.predictions)
            self.progress.setValue(self._done)
            if self._done == len(message.predictions):  # the first batch names the classes
                self._refresh_filters(message.classes)

    @Slot(object)
    def _succeeded(self, _count: int) -> None:
        self._show_counts()
        self._refresh_filters(self.model.classes)
        self.session.report("Classification finished")

    def _show_counts(self) -> None:
        items = self.model.items()
        broken = sum(1 for item in items if item.error)
        unsure = sum(1 for item in items if self.model.is_unsure(item))
        unfamiliar = sum(1 for item in items if item.unfamiliar)
        stopped = self._done < self._total
        self.summary.setText(
            f"{self._done} of {self._total} classified{' (stopped)' if stopped else ''}, "
            + (f"{unfamiliar} none of these, " if self.model.calibration else "")
            + f"{unsure} unsure, {broken} broken" + self._skipped_text())

    def _skipped_text(self) -> str:
        """", N skipped (not images)" when files were left out; the tooltip names them."""
        return f", {len(self._skipped)} skipped (not images)" if self._skipped else ""

    # --- viewing ----------------------------------------------------------------------------

    def _refresh_filters(self, classes: tuple[str, ...]) -> None:
        current = self.show_filter.currentText()
        self.show_filter.blockSignals(True)
        self.show_filter.clear()
        novel = [GalleryProxy.NONE_OF_THESE] if classes and self.model.calibration else []
        self.show_filter.addItems([GalleryProxy.ALL, *classes, *novel, GalleryProxy.UNSURE,
                                   GalleryProxy.BROKEN])
        index = self.show_filter.findText(current)
        self.show_filter.setCurrentIndex(max(index, 0))
        self.show_filter.blockSignals(False)
        self.proxy.set_label_filter(self.show_filter.currentText())
        scored = bool(classes) and self.model.calibration is not None
        self.unfamiliar_percentile.setEnabled(scored)
        self.unfamiliar_label.setEnabled(scored)
        self.unfamiliar_label.setToolTip("" if scored or not classes else
                                         "This model has no \"none of these\" data: models "
                                         "trained by this version have it; the built-in "
                                         "ImageNet model does not.")

    @Slot(int)
    def _filter_chosen(self, _index: int) -> None:
        self.proxy.set_label_filter(self.show_filter.currentText() or GalleryProxy.ALL)

    @Slot(int)
    def _sort_chosen(self, _index: int) -> None:
        self.proxy.set_sort_key(self.sort.currentData())

    @Slot(int)
    def _threshold_changed(self, value: int) -> None:
        self.threshold_label.setText(f"Unsure below {value}%")
        self.model.set_unsure_threshold(value / 100)
        self.session.settings.unsure_threshold = value / 100
        self.proxy.invalidate()

    @Slot(int)
    def _unfamiliar_changed(self, value: int) -> None:
        self.model.set_unfamiliar_percentile(float(value))
        self.session.settings.unfamiliar_percentile = float(value)
        self.proxy.invalidate()
        if not self.jobs.busy and self.model.calibration is not None and self._total:
            self._show_counts()

    @Slot(QModelIndex)
    def preview(self, index: QModelIndex) -> None:
        source = self.proxy.mapToSource(index)
        item = self.model.item(source.row())
        dialog = PreviewDialog(item, self.model.classes, self.preview_thumbnails,
                               self.classified_with, self.model.novelty_text(item), self)
        dialog.open()

    # --- actions on files ------------------------------------------------------------------

    def chosen_items(self) -> list[Any]:
        """The selected tiles, or every tile shown when nothing is selected."""
        selected = self.view.selectionModel().selectedIndexes()
        rows = [self.proxy.mapToSource(index).row() for index in selected]
        if not rows:
            rows = [self.proxy.mapToSource(self.proxy.index(r, 0)).row()
                    for r in range(self.proxy.rowCount())]
        return [self.model.item(row) for row in sorted(set(rows))]

    @Slot()
    def export_csv(self) -> None:
        items = self.chosen_items()
        if not items:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export results", "results.csv",
                                              "CSV files (*.csv)")
        if path:
            self.export_csv_to(Path(path), items)

    def export_csv_to(self, path: Path, items: list[Any]) -> bool:
        return self._run_file_job(CallJob(write_results_csv, path, items, self.model.classes),
                                  f"Exporting {len(items)} rows…")

    @Slot()
    def copy_into_folders(self) -> None:
        self._sort_into_folders(move=False)

    @Slot()
    def move_into_folders(self) -> None:
        self._sort_into_folders(move=True)

    def _sort_into_folders(self, move: bool) -> None:
        items = [i for i in self.chosen_items() if i.label and not i.error]
        if not items:
            QMessageBox.information(self, "Nothing to sort", "No classified images are shown.")
            return
        target = QFileDialog.getExistingDirectory(self, "Sort into which folder?")
        if target:
            self.sort_files_into(Path(target), items, move)

    def sort_files_into(self, target: Path, items: list[Any], move: bool) -> bool:
        pairs = [(item.path, sorting_label(item.label, item.unfamiliar)) for item in items]
        return self._run_file_job(CallJob(sort_into_folders, pairs, target, move),
                                  f"{'Moving' if move else 'Copying'} {len(pairs)} files…",
                                  move=move)

    @Slot()
    def _dataset_changed(self) -> None:
        self.add_menu.clear()
        dataset = self.session.dataset
        self.add_button.setEnabled(dataset is not None and not dataset.has_own_split)
        if dataset is not None:
            for name in dataset.classes:
                self.add_menu.addAction(name)

    @Slot(object)
    def _add_to_dataset(self, action: Any) -> None:
        dataset = self.session.dataset
        items = [i for i in self.chosen_items() if not i.error]
        if dataset is None or not items:
            return
        name = action.text()
        if ask_yes_no(self, "Add to dataset",
                      f"Copy {len(items)} image(s) into {dataset.root / name}? "
                      "Scan the dataset again afterwards to train with them."):
            pairs = [(item.path, name) for item in items]
            self._run_file_job(CallJob(sort_into_folders, pairs, dataset.root, False),
                               f"Adding {len(pairs)} images to '{name}'…")

    def _run_file_job(self, job: CallJob, text: str, move: bool = False) -> bool:
        if not self.files.start(job, self._writing_files):
            return False
        self._moving = move
        self.summary.setText(text)
        return True

    @Slot(object)
    def _files_done(self, result: Any) -> None:
        if isinstance(result, SortSummary):
            verb = "moved" if self._moving else "copied"
            if self._moving:
                self.model.replace_paths({str(s): str(d) for s, d in result.done})
            self.summary.setText(result.describe(verb))
        else:
            self.summary.setText(f"Saved {result}")

    @Slot(str, str)
    def _files_failed(self, _message: str, _details: str) -> None:
        self.summary.setText("Failed.")

