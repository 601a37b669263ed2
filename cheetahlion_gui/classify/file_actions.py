"""The Classify step's actions on files: export a CSV, copy or move into class folders, add
to the dataset. They apply to the selected tiles, or to every tile shown.

The copies, moves and the CSV run in the background (one at a time, beside a running
classification); a move updates the gallery's paths, so its results stay with the files.
A multi-label gallery exports `path,labels` and a probability per label
(`training.predict.multilabel_csv`), and copies each photo into the folder of every label it
has ("none of these" for a photo with none), as `cheetahlion-cli predict --sort-into` does;
it is never moved (a photo with two labels has no one folder).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.dialogs import ask_yes_no, choose_folder, start_folder
from cheetahlion_gui.jobs.call import CallJob
from cheetahlion_gui.jobs.controller import JobController, Lifecycle
from cheetahlion_gui.session import Session
from cheetahlion_gui.widgets.gallery_model import GalleryItem, GalleryModel
from cheetahlion_gui.widgets.gallery_proxy import GalleryProxy
from training.predict.multilabel_csv import write_multilabel_csv
from training.predict.results_csv import write_results_csv
from training.predict.sorting import (
    NONE_OF_THESE_FOLDER,
    SortSummary,
    sort_into_folders,
    sorting_label,
)
from training.records.multilabel import MultiLabelPrediction


class FileActions(QWidget):
    """A summary line (which the page also uses for the classification's counts) above
    Export CSV…, Copy/Move into class folders…, Add to dataset as ▸."""

    files_sorted = Signal()
    """Files were written (or writing them failed)."""

    def __init__(self, session: Session, model: GalleryModel, proxy: GalleryProxy,
                 view: QListView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.model, self.proxy, self.view = model, proxy, view
        self.files = JobController(self)
        """Copies, moves and the CSV export: one at a time, beside a classification."""
        self._moving = False
        self._multilabel = False
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(self.export_csv)
        self.copy_button = QPushButton("Copy into class folders…")
        self.copy_button.clicked.connect(self.copy_into_folders)
        self.move_button = QPushButton("Move into class folders…")
        self.move_button.clicked.connect(self.move_into_folders)
        # A push button with a menu sizes itself for its text and its arrow; a tool button
        # in instant-popup mode drew the arrow over the end of its text ("Add to dataset a").
        self.add_button = QPushButton("Add to dataset as")
        self.add_menu = QMenu(self)
        self.add_menu.triggered.connect(self._add_to_dataset)
        self.add_button.setMenu(self.add_menu)
        self.summary = QLabel()
        # Its own line, wrapping: in the buttons' row, a long count ("300 of 300 classified,
        # 12 none of these, …") made the row, and so the window, wider than a laptop's screen.
        self.summary.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(QLabel("Selection (or all shown):"))
        for widget in (self.export_button, self.copy_button, self.move_button, self.add_button):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        self.summary_row = QHBoxLayout()
        """The summary, and what the page puts beside it (Review unsure…)."""
        self.summary_row.addWidget(self.summary, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.summary_row)
        layout.addLayout(buttons)
        self._writing = Lifecycle(
            succeeded=self._files_done, failed=self._files_failed, finished=self.files_sorted,
            failure_title="Could not write the files",
            busy_message=("Busy", "Files are still being copied; wait a moment."))
        session.dataset_changed.connect(self._dataset_changed)
        self._dataset_changed()

    def chosen_items(self) -> list[GalleryItem]:
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
        suggested = Path(start_folder(self.session.settings)) / "results.csv"
        path, _ = QFileDialog.getSaveFileName(self, "Export results", str(suggested),
                                              "CSV files (*.csv)")
        if path:
            self.export_csv_to(Path(path), items)

    def export_csv_to(self, path: Path, items: list[GalleryItem]) -> bool:
        if self.model.multilabel:
            rows = [MultiLabelPrediction(item.path, item.labels or (), item.probabilities,
                                         item.error) for item in items]
            job = CallJob(write_multilabel_csv, path, rows, self.model.classes)
        else:
            job = CallJob(write_results_csv, path, items, self.model.classes)
        return self._run_file_job(job, f"Exporting {len(items)} rows…")

    def set_multilabel(self, multilabel: bool) -> None:
        """A multi-label gallery: its photos have several labels or none, so Copy puts a
        photo into each of its labels' folders, and Move and Add to dataset are off."""
        self._multilabel = multilabel
        self.move_button.setEnabled(not multilabel)
        self.move_button.setToolTip("A photo with several labels has no one folder to move "
                                    "to: copy instead" if multilabel else "")
        self.copy_button.setToolTip("Each photo into the folder of every label it has; one "
                                    "with none into \"none of these\"" if multilabel else "")
        self._dataset_changed()

    @Slot()
    def copy_into_folders(self) -> None:
        self._sort_into_folders(move=False)

    @Slot()
    def move_into_folders(self) -> None:
        self._sort_into_folders(move=True)

    def _sort_into_folders(self, move: bool) -> None:
        items = [i for i in self.chosen_items()
                 if (i.labels is not None if self.model.multilabel else i.label) and not i.error]
        if not items:
            QMessageBox.information(self, "Nothing to sort", "No classified images are shown.")
            return
        target = choose_folder(self, "Sort into which folder?", self.session.settings)
        if target is not None:
            self.sort_files_into(target, items, move)

    def sort_files_into(self, target: Path, items: list[GalleryItem], move: bool) -> bool:
        if self.model.multilabel:  # a copy into each label's folder; never a move
            pairs = [(item.path, label) for item in items if item.labels is not None
                     for label in (item.labels or (NONE_OF_THESE_FOLDER,))]
            return self._run_file_job(
                CallJob(sort_into_folders, pairs, target, False, self.model.classes),
                f"Copying {len(items)} files into their labels' folders…")
        pairs = [(item.path, sorting_label(item.label, item.unfamiliar, item.below_threshold))
                 for item in items]
        return self._run_file_job(CallJob(sort_into_folders, pairs, target, move),
                                  f"{'Moving' if move else 'Copying'} {len(pairs)} files…",
                                  move=move)

    @Slot()
    def _dataset_changed(self) -> None:
        self.add_menu.clear()
        dataset = self.session.dataset
        self.add_button.setEnabled(dataset is not None and not dataset.has_own_split
                                   and not self._multilabel)
        if dataset is not None:
            for name in dataset.classes:
                self.add_menu.addAction(name)

    @Slot(object)
    def _add_to_dataset(self, action: QAction) -> None:
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
        if not self.files.start(job, self._writing):
            return False
        self._moving = move
        self.summary.setText(text)
        return True

    @Slot(object)
    def _files_done(self, result: SortSummary | Path) -> None:
        """A sort's summary, or the CSV file written."""
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
