"""The Evaluate step's operating points: a threshold per class, with its precision, recall
and unsure photos on the evaluated photos as the slider moves, saved into the model file.

A photo whose most probable class is below that class's threshold is "unsure" in Classify
and the CLI, never given another class; "none of these" is decided first. The figures come
from the evaluation already in memory (`training.records.operating_points`: plain NumPy,
O(photos) for the one class whose slider moves), so they follow the slider on the GUI
thread; saving rewrites the model file's header in a job, refused if the file changed since
it was evaluated.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelection, QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSlider,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.jobs.controller import JobController, Lifecycle
from cheetahlion_gui.jobs.thresholds import SaveThresholdsJob
from cheetahlion_gui.widgets.table_model import Index, RecordsTableModel
from training.records.evaluation import EvaluationReport
from training.records.operating_points import (
    OperatingPoint,
    SavedThresholds,
    Thresholds,
    ValidationOutcomes,
    no_thresholds,
)

STEPS = 1000
"""The slider's positions: 0 is "none", 1-1000 a threshold of 0.1 % to 100 %. Tenths of a
per cent matter: a trained model gives most photos over 99 %, and the photos it doubts
are among those below 99.9 %."""
PAGE_STEP = 50
"""Page Up/Down moves 5 %; the arrow keys move 0.1 %."""
EXPLANATION = ("Below its class's threshold a photo is “unsure” instead of getting the "
               "class (never another one); “none of these” is decided first. Pick a class, "
               "move the slider.")


def threshold_text(threshold: float | None) -> str:
    return "none" if threshold is None else f"{round(threshold * 100, 1):g}%"


def _figure(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


class OperatingPointsModel(RecordsTableModel[OperatingPoint]):
    """A row per class at its threshold; the tooltips give the figures without one."""

    HEADERS = ("Class", "Threshold", "Precision", "Recall", "Unsure")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.without: list[OperatingPoint] = []
        """Each class's figures with no threshold, to compare with."""

    def set_point(self, row: int, point: OperatingPoint) -> None:
        self.records[row] = point
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.HEADERS) - 1))

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        point = self.records[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (point.name, threshold_text(point.threshold), _figure(point.precision),
                    _figure(point.recall), str(point.unsure))[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole and index.row() < len(self.without):
            plain = self.without[index.row()]
            return (f"{point.name}: given to {point.given} photo(s), {point.correct} of them "
                    f"right, {point.unsure} left unsure, of {point.support} truly "
                    f"{point.name}.\nWithout a threshold: precision {_figure(plain.precision)}, "
                    f"recall {_figure(plain.recall)}.")
        return None


class ThresholdsPanel(QWidget):
    """The operating-point table, the selected class's slider, Save and Clear all."""

    save_finished = Signal()
    """A save ended, either way (after the panel's own handlers)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.outcomes: ValidationOutcomes | None = None
        self.model_path: str | None = None
        self.digest: str | None = None
        self.thresholds: Thresholds = ()
        self.saved: Thresholds = ()
        """What the model file holds."""
        self._part = ""
        """"54 validation": the photos the figures are on."""
        self.points = OperatingPointsModel(self)
        self.table = QTableView()
        self.table.setModel(self.points)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(self._class_chosen)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, STEPS)
        self.slider.setPageStep(PAGE_STEP)
        self.slider.setToolTip("The selected class's threshold: far left is none; the arrow "
                               "keys move it by 0.1 %, Page Up/Down by 5 %")
        self.slider.setEnabled(False)
        self.slider.valueChanged.connect(self._slider_moved)
        self.slider_label = QLabel()
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.save_button = QPushButton("Save thresholds to the model")
        self.save_button.setObjectName("primary")
        self.save_button.clicked.connect(self.save)
        self.clear_button = QPushButton("Clear all")
        self.clear_button.setToolTip("Every class back to no threshold (Save writes it into "
                                     "the model)")
        self.clear_button.clicked.connect(self.clear_all)
        self.jobs = JobController(self)
        self._saving = Lifecycle(succeeded=self._saved, failed=self._save_failed,
                                 finished=self.save_finished,
                                 failure_title="The thresholds were not saved",
                                 idle_only=(self.save_button,))
        self._lay_out()
        self.show_report(None)

    def _lay_out(self) -> None:
        explanation = QLabel(EXPLANATION)
        explanation.setWordWrap(True)
        slider_row = QHBoxLayout()
        slider_row.addWidget(self.slider_label)
        slider_row.addWidget(self.slider, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        controls = QVBoxLayout()  # beside the table: what it means, the slider, Save
        controls.addWidget(explanation)
        controls.addLayout(slider_row)
        controls.addWidget(self.summary)
        controls.addStretch(1)
        controls.addLayout(buttons)
        layout = QHBoxLayout(self)
        layout.addWidget(self.table, 3)
        layout.addLayout(controls, 2)

    # --- what it shows ------------------------------------------------------------------------

    def show_report(self, report: EvaluationReport | None, model_path: str | None = None,
                    digest: str | None = None) -> None:
        """A single-label report's photos, at the thresholds the model held when evaluated;
        None: nothing to show (no report, or a multi-label one)."""
        self.model_path, self.digest = model_path, digest
        if report is None or not report.outcomes:
            self.outcomes, self.thresholds, self.saved = None, (), ()
            self.points.without = []
            self.points.set_records([])
        else:
            self.outcomes = ValidationOutcomes.of_report(report)
            self.saved = report.thresholds or no_thresholds(report.classes)
            self.thresholds = self.saved
            self.points.without = list(self.outcomes.points(no_thresholds(report.classes)))
            self.points.set_records(list(self.outcomes.points(self.thresholds)))
            self._part = (f"{report.images} "
                          f"{'validation' if report.part == 'val' else report.part}")
        self.slider.setEnabled(False)
        if self.points.rowCount():
            self.table.selectRow(0)
        self._show_state()

    def _show_state(self) -> None:
        """The slider's class and value, the unsure count, and whether Save has work."""
        row = self._row()
        ready = self.outcomes is not None and self.model_path is not None
        if row is None or not ready:
            self.slider_label.setText("Threshold: –")
        else:
            self.slider_label.setText(f"{self.points.records[row].name}: "
                                      f"{threshold_text(self.thresholds[row])}")
        changed = self.thresholds != self.saved
        if not ready:
            self.summary.setText("Evaluate a single-label model to choose its thresholds.")
        else:
            unsure = sum(point.unsure for point in self.points.records)
            state = "not saved yet" if changed else (
                "as saved in the model" if any(t is not None for t in self.saved)
                else "the model has none")
            flagged = int(self.outcomes.unfamiliar.sum()) if self.outcomes is not None else 0
            strangers = f"; {flagged} “none of these”, given no class" if flagged else ""
            self.summary.setText(f"{unsure} of the {self._part} photos unsure{strangers} "
                                 f"({state}).")
        self.save_button.setEnabled(ready and changed)
        self.clear_button.setEnabled(ready and any(t is not None for t in self.thresholds))

    def _row(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    # --- moving a threshold ---------------------------------------------------------------------

    @Slot(QItemSelection, QItemSelection)
    def _class_chosen(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        row = self._row()
        self.slider.setEnabled(row is not None and self.outcomes is not None)
        if row is not None and row < len(self.thresholds):
            threshold = self.thresholds[row]
            self.slider.blockSignals(True)
            self.slider.setValue(0 if threshold is None else round(threshold * STEPS))
            self.slider.blockSignals(False)
        self._show_state()

    @Slot(int)
    def _slider_moved(self, value: int) -> None:
        """The selected class's threshold is now `value` %: its row again, at once."""
        row = self._row()
        if row is None or self.outcomes is None:
            return
        self._set(row, None if value == 0 else value / STEPS)
        self._show_state()

    def _set(self, row: int, threshold: float | None) -> None:
        changed = list(self.thresholds)
        changed[row] = threshold
        self.thresholds = tuple(changed)
        if self.outcomes is not None:
            self.points.set_point(row, self.outcomes.point(row, threshold))

    @Slot()
    def clear_all(self) -> None:
        if self.outcomes is None:
            return
        for row in range(len(self.thresholds)):
            self._set(row, None)
        self.slider.blockSignals(True)
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self._show_state()

    # --- saving ---------------------------------------------------------------------------------

    @Slot()
    def save(self) -> bool:
        """Write the thresholds into the model file, in a job."""
        if self.model_path is None or self.outcomes is None:
            return False
        job = SaveThresholdsJob(self.model_path, self.thresholds, self.digest)
        started = self.jobs.start(job, self._saving)
        self._show_state()
        return started

    @Slot(object)
    def _saved(self, saved: SavedThresholds) -> None:
        self.digest = saved.digest
        self.saved = saved.thresholds
        self._show_state()
        if any(t is not None for t in saved.thresholds):
            note = "saved; Classify and the CLI use them the next time they classify"
        else:
            note = "removed: the most probable class wins again"
        self.summary.setText(f"{self.summary.text()} Thresholds {note}.")

    @Slot(str, str)
    def _save_failed(self, _message: str, _details: str) -> None:
        self._show_state()

    def select_class(self, name: str) -> None:
        """Choose the class whose threshold the slider moves (tests and scripts)."""
        for row, point in enumerate(self.points.records):
            if point.name == name:
                self.table.selectRow(row)
                return
