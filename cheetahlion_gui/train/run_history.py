"""The Train step's run history: every run on the open dataset, to compare, reuse, export, resume.

Selecting a run makes its model the one the Evaluate and Classify steps use; ticking its box
overlays its curves. Export… writes its model for use outside the app (run_export); Resume
asks the page to carry a stopped fine-tune on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.dialogs import show_error
from cheetahlion_gui.jobs import JobRunner
from cheetahlion_gui.session import Session
from cheetahlion_gui.train import fine_tune_gain
from cheetahlion_gui.train.plots import TrainingHistory
from cheetahlion_gui.train.progress import format_duration
from cheetahlion_gui.train.run_export import RunExporter
from cheetahlion_gui.widgets.table_model import RecordsTableModel
from training.records.backbones import BACKBONES
from training.records.evaluation import small_class_note
from training.records.run_record import RunRecord
from training.records.run_summary import short_reason, what_it_gained, why_it_ended

Index = QModelIndex | QPersistentModelIndex
MODE_NAMES = {"finetune": "fine-tune", "partial": "top"}
"""The Mode column's word for each mode (narrow: "top" is "Fine-tune the top", the CLI's
partial mode)."""


def data_details(record: RunRecord) -> str:
    """Tooltip lines: images per class and the clean-up moves in effect when it trained."""
    if record.class_counts is None:
        return ""
    counts = ", ".join(f"{name} {count}" for name, count in record.class_counts.items())
    moves = record.cleanup_moves
    text = f"\ndata: {counts}"
    if moves:
        text += f" — after {moves} clean-up move(s) (Data step → Moves)"
    return text


def network_name(backbone: str) -> str:
    """The network's name without the notes in its title ("EfficientNet-Lite0")."""
    known = BACKBONES.get(backbone)
    return known.title.split(" (")[0] if known is not None else backbone


def _gain(accuracy: float, baseline: float | None) -> str:
    """The accuracy gained over ImageNet's own answer: "+0.067", "−0.012", "0.000", "—"."""
    if baseline is None:
        return "—"
    gain = round(accuracy - baseline, 3)
    return f"{gain:+.3f}".replace("-", "−") if gain else "0.000"


def _accuracy(record: RunRecord) -> str:
    """The accuracy column: "0.933 (blend 60%)", a multi-label run's "mAP 0.912", or "—"
    (no epoch finished; or no mAP: no validation photo had a label)."""
    if not record.epochs:
        return "—"
    if record.is_multilabel:
        return "—" if record.val_map is None else f"mAP {record.val_map:.3f}"
    return f"{record.best_val_accuracy:.3f} {fine_tune_gain.kept_mark(record)}".rstrip()


def balance_line(record: RunRecord) -> str:
    """The line under the table for the selected run: its balanced accuracy, each class's
    recall, and the classes too few in validation to trust ("" for a record without them).
    A line, not a column: at 1280 px the table has no room left for one."""
    if record.val_balanced_accuracy is None or record.val_recall is None:
        return ""
    recalls = ", ".join(f"{name} {value:.3f}" for name, value in record.val_recall.items())
    line = f"Balanced accuracy {record.val_balanced_accuracy:.3f} — recall: {recalls}"
    note = small_class_note(record.val_support or {})
    return line + (f"\n⚠ {note}" if note else "")


def balance_details(record: RunRecord) -> str:
    """Tooltip lines: the balanced accuracy, each class's recall, the rare-class adjustment,
    and the classes whose validation photos are too few to trust ("" for older records)."""
    if record.val_balanced_accuracy is None or record.val_recall is None:
        return ""
    recalls = ", ".join(f"{name} {value:.3f}" for name, value in record.val_recall.items())
    text = (f"\nvalidation balanced accuracy {record.val_balanced_accuracy:.3f}; "
            f"recall: {recalls}")
    if record.logit_adjustment:
        text += f"\nadjusted for rare classes (τ {record.logit_adjustment:g})"
    note = small_class_note(record.val_support or {})
    return text + (f"\n{note}" if note else "")


def run_tooltip(record: RunRecord, runs: Sequence[RunRecord] = ()) -> str:
    """Everything about a run the row has no room for: why it ended and what it gained, in
    whole sentences (a fine-tune's gain over quick mode among them), its settings, model,
    device and data."""
    config = record.config
    ended = why_it_ended(record.stopped, len(record.epochs), config["epochs"],
                         config.get("early_stopping_patience", 0))
    partial = config["mode"] == fine_tune_gain.PARTIAL  # kept against quick mode's model
    gained = (what_it_gained(record.best_val_accuracy, record.baseline_accuracy,
                             None if partial else record.trained_share)
              if record.epochs else "no epoch finished")
    note = fine_tune_gain.record_line(record, runs) or ("" if partial else record.kept_note)
    return (f"Ended: {ended}.\nResult: {gained}."
            + (f"\n{note}" if note else "")
            + f"\n{record.run_id}: {config['mode']}, {config['backbone']}\n"
            f"epochs {config['epochs']}, batch {config['batch_size']}, "
            f"lr {config['learning_rate']:g}, patience {config.get('early_stopping_patience')}, "
            f"seed {config['seed']}, augment {config['augment']}\n"
            f"model: {record.model_path or 'none saved'}\ndevice: {record.device}"
            + data_details(record) + balance_details(record))


class RunHistoryModel(RecordsTableModel["RunRecord"]):
    """The runs on the open dataset, newest first; column 0's checkbox overlays a run."""

    overlays_changed = Signal()
    HEADERS = ("Plot", "Run", "Mode", "Network", "Val. acc.", "Gain", "Time", "Images",
               "Ended")
    HEADER_TIPS = ("Tick to overlay the run's curves on the plots",
                   "When the run started (its id in the tooltip)",
                   "Quick, top (fine-tune the top of the network) or fine-tune",
                   "The network it trained",
                   "The kept model's validation accuracy (mAP for a multi-label run; the "
                   "balanced accuracy and each class's recall under the table)",
                   "Validation accuracy gained over ImageNet's own answer (the zero-shot "
                   "baseline, the dashed line), when the class names are ImageNet's",
                   "Training time", "Images it trained on (after clean-up moves)",
                   "Why it ended (the whole story in each row's tooltip)")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.overlaid: set[str] = set()

    def set_records(self, records: list[RunRecord]) -> None:
        self.overlaid &= {r.run_id for r in records}
        super().set_records(list(reversed(records)))

    def flags(self, index: Index) -> Qt.ItemFlag:
        flags = super().flags(index)
        if index.isValid() and index.column() == 0:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.records):
            return None
        record = self.records[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.CheckStateRole and column == 0:
            return (Qt.CheckState.Checked if record.run_id in self.overlaid
                    else Qt.CheckState.Unchecked)
        if role == Qt.ItemDataRole.ToolTipRole:
            return run_tooltip(record, self.records)
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        baseline = record.baseline_accuracy
        return {
            1: record.created.replace("T", " ")[5:16],
            2: MODE_NAMES.get(record.config["mode"], record.config["mode"]),
            3: network_name(record.config["backbone"]),
            4: _accuracy(record),
            5: _gain(record.best_val_accuracy, baseline) if record.epochs else "—",
            6: format_duration(record.seconds),
            7: record.data_used or "—",
            8: short_reason(record.stopped),
        }.get(column)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return self.HEADER_TIPS[section]
        return super().headerData(section, orientation, role)

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.CheckStateRole or index.column() != 0:
            return False
        run_id = self.records[index.row()].run_id
        checked = Qt.CheckState(value) == Qt.CheckState.Checked
        (self.overlaid.add if checked else self.overlaid.discard)(run_id)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])
        self.overlays_changed.emit()
        return True

    def overlay_records(self) -> list[RunRecord]:
        return [r for r in self.records if r.run_id in self.overlaid]


class RunHistoryPanel(QGroupBox):
    """The runs table with Export… and Resume; `training` is the runner of the page's runs."""

    run_chosen = Signal(object)
    """A run (RunRecord) was selected: its curves can be shown."""
    overlays_changed = Signal(list)
    """The (name, TrainingHistory) of every run ticked to be overlaid."""
    resume_requested = Signal()
    """Resume was asked for the selected run."""

    def __init__(self, session: Session, training: JobRunner,
                 parent: QWidget | None = None) -> None:
        super().__init__("Run history — select a run to evaluate or classify with it", parent)
        self.session = session
        self.training = training
        self._following_model = False
        """The selection is being moved to the model in use, not by the user."""
        self.model = RunHistoryModel(self)
        self.model.overlays_changed.connect(self._overlays_changed)
        self.view = _table(self.model)
        self.view.selectionModel().currentRowChanged.connect(self._run_selected)
        self.exporter = RunExporter(self)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the selected run's model as ONNX, TorchScript or "
                                      "PyTorch .pt2, to use it outside CheetahLion")
        self.export_button.clicked.connect(self.export_selected_run)
        self.export_action = QAction("Export…", self.view)
        self.export_action.triggered.connect(self.export_selected_run)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Carry the selected stopped or interrupted fine-tune on "
                                      "from its last finished epoch")
        self.resume_button.clicked.connect(self.resume_requested)
        self.resume_action = QAction("Resume training", self.view)
        self.resume_action.triggered.connect(self.resume_requested)
        self.view.addActions([self.export_action, self.resume_action])
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.export_status = QLabel()
        self.exporter.status_changed.connect(self.export_status.setText)
        self.balance = QLabel()
        """The selected run's balanced accuracy, per-class recall and classes too small to
        trust (`balance_line`; hidden for a run without them)."""
        self.balance.setWordWrap(True)
        self.balance.setVisible(False)
        row = QHBoxLayout()
        row.addWidget(self.export_button)
        row.addWidget(self.resume_button)
        row.addWidget(self.export_status, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)
        layout.addWidget(self.balance)
        layout.addLayout(row)
        for widget in (self.export_button, self.resume_button, self.resume_action):
            widget.setEnabled(False)
        training.finished.connect(self.update_buttons)
        self.exporter.runner.finished.connect(self.update_buttons)
        session.runs_changed.connect(self._runs_changed)
        session.model_changed.connect(self._select_model_run)

    def selected_run(self) -> RunRecord | None:
        current = self.view.currentIndex()
        return self.model.records[current.row()] if current.isValid() else None

    def select_run(self, run_id: str) -> None:
        for row, record in enumerate(self.model.records):
            if record.run_id == run_id:
                self.view.selectRow(row)
                return

    @Slot()
    def update_buttons(self) -> None:
        """Export needs a saved model and no export running; Resume, a resumable run and no
        training running."""
        run = self.selected_run()
        can_export = run is not None and bool(run.model_path) and not self.exporter.runner.busy
        self.export_button.setEnabled(can_export)
        self.export_action.setEnabled(can_export)
        can_resume = run is not None and run.resumable and not self.training.busy
        self.resume_button.setEnabled(can_resume)
        self.resume_action.setEnabled(can_resume)
        lines = [fine_tune_gain.record_line(run, self.model.records), balance_line(run)] \
            if run is not None else []
        line = "\n".join(text for text in lines if text)
        self.balance.setText(line)
        self.balance.setVisible(bool(line))

    @Slot()
    def export_selected_run(self) -> None:
        run = self.selected_run()
        if run is None or not run.model_path:
            return
        if run.model_note or not Path(run.model_path).exists():
            show_error(self, "Model file missing", run.model_note or f"{run.model_path} no "
                       "longer exists, so this run cannot be exported. Train again to get a "
                       "model.")
            return
        dataset = self.session.dataset
        images = list(dataset.images) if dataset is not None else []
        samples = [record.path for record in images[::max(1, len(images) // 8)]]
        name = f"{dataset.root.name}-{run.run_id}" if dataset is not None else run.run_id
        self.exporter.ask_and_export(run.model_path, name, samples)
        self.update_buttons()

    @Slot()
    def _runs_changed(self) -> None:
        self.model.set_records(self.session.runs)
        self._overlays_changed()
        self._select_model_run()
        self.update_buttons()

    @Slot()
    def _select_model_run(self) -> None:
        """Select the run whose model the session uses (the one the window's title names),
        so the title, the selection and Export/Resume agree; none when the model is a file
        of no run in this history."""
        path = self.session.model_path
        rows = [row for row, record in enumerate(self.model.records)
                if path and record.model_path == path]
        self._following_model = True  # the plots keep what they show (a run just ended)
        try:
            if rows and self.view.currentIndex().row() != rows[0]:
                self.view.selectRow(rows[0])
            elif not rows and self.view.currentIndex().isValid():
                self.view.setCurrentIndex(QModelIndex())
                self.view.clearSelection()
        finally:
            self._following_model = False
        self.update_buttons()

    @Slot(QModelIndex, QModelIndex)
    def _run_selected(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.update_buttons()
        if not current.isValid():
            return
        record = self.model.records[current.row()]
        if not self._following_model:
            self.run_chosen.emit(record)
        if record.model_note:  # its file is gone, or a later run wrote over it
            self.session.report(record.model_note)
        elif record.model_path and Path(record.model_path).exists():
            if record.model_path != self.session.model_path:
                self.session.set_model(record.model_path, f"run {record.run_id}")
        else:
            self.session.report("That run saved no model.")

    @Slot()
    def _overlays_changed(self) -> None:
        self.overlays_changed.emit([(r.run_id[-6:], TrainingHistory.from_record(r))
                                    for r in self.model.overlay_records()])


def _table(model: RunHistoryModel) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    # The last column takes the room left. Not setStretchLastSection: it keeps that column
    # at least 100 px wide, which alone pushed the table past its width at 1280×800.
    header.setSectionResizeMode(len(model.HEADERS) - 1, QHeaderView.ResizeMode.Stretch)
    view.verticalHeader().setVisible(False)
    return view
