"""Step 2, Train: a short form, Start/Stop, live curves, progress with ETA, and run history.

A fine-tune that was stopped, or whose process died, keeps a checkpoint of its last epoch;
its row in the history offers Resume, which carries it on in the background like Start,
its earlier curves continuing live.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.dialogs import show_error
from cheetahlion_gui.jobs.controller import JobController, Lifecycle
from cheetahlion_gui.jobs.dataset import RunsJob
from cheetahlion_gui.jobs.train import TrainJob, TrainOutcome
from cheetahlion_gui.plots import TrainingHistory, TrainingPlots
from cheetahlion_gui.run_export import RunExporter
from cheetahlion_gui.session import Session
from cheetahlion_gui.table_model import RecordsTableModel
from training.core.errors import ConfigError
from training.core.events import (
    BaselineMeasured,
    EpochEnded,
    PhaseProgress,
    RunFinished,
    RunStarted,
    StepEnded,
)
from training.fit.config import TrainConfig
from training.models.backbones import BACKBONES, DEFAULT_BACKBONE

Index = QModelIndex | QPersistentModelIndex
PHASE_NAMES = {"decode": "Reading images", "features": "Extracting features",
               "evaluate": "Evaluating", "baseline": "Measuring the baseline"}


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def data_details(record: Any) -> str:
    """Tooltip lines: images per class and the clean-up moves in effect when it trained."""
    if record.class_counts is None:
        return ""
    counts = ", ".join(f"{name} {count}" for name, count in record.class_counts.items())
    moves = record.cleanup_moves
    text = f"\ndata: {counts}"
    if moves:
        text += f" — after {moves} clean-up move(s) (Data step → Moves)"
    return text


class RunHistoryModel(RecordsTableModel):
    """The runs on the open dataset, newest first; column 0's checkbox overlays a run."""

    overlays_changed = Signal()
    HEADERS = ("Overlay", "Run", "Mode", "Backbone", "Val. accuracy", "Baseline", "Time",
               "Images", "Ended")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.overlaid: set[str] = set()

    def set_records(self, records: list[Any]) -> None:
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
            config = record.config
            return (f"{record.run_id}\nmodel: {record.model_path or 'none saved'}\n"
                    f"epochs {config['epochs']}, batch {config['batch_size']}, "
                    f"lr {config['learning_rate']:g}, seed {config['seed']}, "
                    f"augment {config['augment']}\ndevice: {record.device}"
                    + data_details(record))
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        baseline = record.baseline_accuracy
        return {
            1: record.created.replace("T", " ")[:16],
            2: record.config["mode"],
            3: record.config["backbone"],
            4: f"{record.best_val_accuracy:.3f}" if record.epochs else "—",
            5: f"{baseline:.3f}" if baseline is not None else "—",
            6: format_duration(record.seconds),
            7: record.data_used or "—",
            8: record.stopped.replace("_", " "),
        }.get(column)

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.CheckStateRole or index.column() != 0:
            return False
        run_id = self.records[index.row()].run_id
        checked = Qt.CheckState(value) == Qt.CheckState.Checked
        (self.overlaid.add if checked else self.overlaid.discard)(run_id)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])
        self.overlays_changed.emit()
        return True

    def overlay_records(self) -> list[Any]:
        return [r for r in self.records if r.run_id in self.overlaid]


class TrainPage(QWidget):
    training_finished = Signal()

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.jobs = JobController(self, session)
        self.jobs.runner.finished.connect(self._update_export_button)
        self.history_jobs = JobController(self)
        """Re-reads the run history after a failed run (it may have left a resumable one)."""
        self.runner, self.history_runner = self.jobs.runner, self.history_jobs.runner
        self._train_started: float | None = None
        self._first_step = 0
        self._epochs = 0

        self.backbone = QComboBox()
        for backbone in BACKBONES.values():
            suffix = "" if not backbone.needs_download else " — downloads on first use"
            self.backbone.addItem(backbone.title + suffix, backbone.name)
        self.backbone.setCurrentIndex(list(BACKBONES).index(DEFAULT_BACKBONE))
        self.mode = QComboBox()
        self.mode.addItem("Quick — train only the last layer (seconds)", "quick")
        self.mode.addItem("Fine-tune — train the whole network (minutes)", "finetune")
        self.mode.currentIndexChanged.connect(self._mode_chosen)
        self.recipe_button = QPushButton("Use the tutorial's recipe")
        self.recipe_button.setToolTip("Adam, lr 1e-4, cosine, 5 epochs, batch 32, 256 px, "
                                      "rotate ±45°, flip, cut-out")
        self.recipe_button.clicked.connect(self.use_tutorial_recipe)
        self.epochs = _spin(1, 10_000)
        self.learning_rate = QDoubleSpinBox()
        self.learning_rate.setDecimals(5)
        self.learning_rate.setRange(0.00001, 1.0)
        self.learning_rate.setSingleStep(0.0001)
        self.batch_size = _spin(1, 1024)
        self.augment = QCheckBox("Augment images (flips, rotations)")
        self.seed = _spin(0, 2**31 - 1)

        self.advanced = QGroupBox("Advanced")
        self.advanced.setCheckable(True)
        self.advanced.setChecked(False)
        self.image_size = _spin(0, 1024)
        self.image_size.setSpecialValueText("backbone default")
        self.patience = _spin(0, 10_000)
        self.patience.setSpecialValueText("never stop early")
        self.val_fraction = QDoubleSpinBox()
        self.val_fraction.setRange(0.05, 0.5)
        self.val_fraction.setSingleStep(0.05)
        self.feature_views = _spin(0, 16)
        self.weight_decay = QDoubleSpinBox()
        self.weight_decay.setDecimals(4)
        self.weight_decay.setRange(0, 1)
        advanced_form = QFormLayout(self.advanced)
        advanced_form.addRow("Image size (px)", self.image_size)
        advanced_form.addRow("Early stopping patience (epochs)", self.patience)
        advanced_form.addRow("Validation fraction", self.val_fraction)
        advanced_form.addRow("Augmented feature views (quick)", self.feature_views)
        advanced_form.addRow("Weight decay", self.weight_decay)
        self.advanced.toggled.connect(self._advanced_toggled)
        self._advanced_toggled(False)

        form = QFormLayout()
        form.addRow("Network", self.backbone)
        form.addRow("Mode", self.mode)
        form.addRow("", self.recipe_button)
        form.addRow("Epochs", self.epochs)
        form.addRow("Learning rate", self.learning_rate)
        form.addRow("Batch size", self.batch_size)
        form.addRow("", self.augment)
        form.addRow("Seed", self.seed)

        self.start_button = QPushButton("Start training")
        self.start_button.setObjectName("primary")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)

        self.phase_label = QLabel("Open a dataset on the Data step, then start training.")
        self.phase_label.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)

        left = QWidget()
        left.setMaximumWidth(420)
        left_layout = QVBoxLayout(left)
        left_layout.addLayout(form)
        left_layout.addWidget(self.advanced)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.progress)
        left_layout.addWidget(self.phase_label)
        left_layout.addStretch(1)

        self.plots = TrainingPlots()
        self.history_model = RunHistoryModel(self)
        self.history_model.overlays_changed.connect(self._overlays_changed)
        self.history_view = QTableView()
        self.history_view.setModel(self.history_model)
        self.history_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.history_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.history_view.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.history_view.horizontalHeader().setStretchLastSection(True)
        self.history_view.verticalHeader().setVisible(False)
        self.history_view.selectionModel().currentRowChanged.connect(self._run_selected)
        self.exporter = RunExporter(self)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the selected run's model as ONNX, TorchScript or "
                                      "PyTorch .pt2, to use it outside CheetahLion")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.export_selected_run)
        self.export_action = QAction("Export…", self.history_view)
        self.export_action.triggered.connect(self.export_selected_run)
        self.history_view.addAction(self.export_action)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Carry the selected stopped or interrupted fine-tune on "
                                      "from its last finished epoch")
        self.resume_button.setEnabled(False)
        self.resume_button.clicked.connect(self.resume_selected_run)
        self.resume_action = QAction("Resume training", self.history_view)
        self.resume_action.setEnabled(False)
        self.resume_action.triggered.connect(self.resume_selected_run)
        self.history_view.addAction(self.resume_action)
        self.history_view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.export_status = QLabel()
        self.exporter.status_changed.connect(self.export_status.setText)
        self.exporter.runner.finished.connect(self._update_export_button)
        history_box = QGroupBox("Run history — select a run to evaluate or classify with it")
        history_layout = QVBoxLayout(history_box)
        history_layout.addWidget(self.history_view)
        export_row = QHBoxLayout()
        export_row.addWidget(self.export_button)
        export_row.addWidget(self.resume_button)
        export_row.addWidget(self.export_status, 1)
        history_layout.addLayout(export_row)

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.plots)
        right.addWidget(history_box)
        right.setSizes([460, 200])

        layout = QHBoxLayout(self)
        layout.addWidget(left)
        layout.addWidget(right, 1)

        self._training = Lifecycle(
            succeeded=self._succeeded, failed=self._failed, progressed=self._progressed,
            finished=self.training_finished, failure_title="Training failed",
            failed_status="Training failed",
            busy_message=("Training running",
                          "A model is training; stop it or wait for it to finish."),
            progress=self.progress, keep_progress=True, idle_only=(self.start_button,),
            stop=self.stop_button)
        self._history_reading = Lifecycle(succeeded=self._history_reread)
        self.apply_config(TrainConfig.quick())
        session.runs_changed.connect(self._runs_changed)
        session.dataset_changed.connect(self._dataset_changed)

    # --- the form ---------------------------------------------------------------------------

    def apply_config(self, config: TrainConfig) -> None:
        self.backbone.setCurrentIndex(max(0, self.backbone.findData(config.backbone)))
        self.mode.blockSignals(True)
        self.mode.setCurrentIndex(self.mode.findData(config.mode))
        self.mode.blockSignals(False)
        self.epochs.setValue(config.epochs)
        self.learning_rate.setValue(config.learning_rate)
        self.batch_size.setValue(config.batch_size)
        self.augment.setChecked(config.augment)
        self.seed.setValue(config.seed)
        self.image_size.setValue(config.image_size or 0)
        self.patience.setValue(config.early_stopping_patience)
        self.val_fraction.setValue(config.val_fraction)
        self.feature_views.setValue(config.feature_views)
        self.weight_decay.setValue(config.weight_decay)
        self._preset = config

    def config(self) -> TrainConfig:
        """The form as a validated `TrainConfig`, keeping the preset's other settings."""
        from dataclasses import replace

        return replace(
            self._preset,
            backbone=self.backbone.currentData(), mode=self.mode.currentData(),
            epochs=self.epochs.value(), learning_rate=self.learning_rate.value(),
            batch_size=self.batch_size.value(), augment=self.augment.isChecked(),
            seed=self.seed.value(), image_size=self.image_size.value() or None,
            early_stopping_patience=self.patience.value(),
            val_fraction=round(self.val_fraction.value(), 4),
            feature_views=self.feature_views.value(),
            weight_decay=self.weight_decay.value(),
        ).validated()

    @Slot(int)
    def _mode_chosen(self, _index: int) -> None:
        keep = {"backbone": self.backbone.currentData(), "seed": self.seed.value()}
        preset = TrainConfig.quick if self.mode.currentData() == "quick" else TrainConfig.finetune
        self.apply_config(preset(**keep))

    @Slot()
    def use_tutorial_recipe(self) -> None:
        self.apply_config(TrainConfig.tutorial_recipe(seed=self.seed.value()))
        self.advanced.setChecked(True)

    @Slot(bool)
    def _advanced_toggled(self, shown: bool) -> None:
        for child in self.advanced.findChildren(QWidget):
            child.setVisible(shown)

    # --- running ----------------------------------------------------------------------------

    @Slot()
    def start(self) -> bool:
        dataset = self.session.dataset
        if dataset is None:
            QMessageBox.information(self, "No dataset", "Open a dataset folder first (Data step).")
            return False
        if not dataset.report.can_train:
            show_error(self, "This dataset cannot be trained yet",
                       dataset.report.errors[0].message)
            return False
        if not self.jobs.ready(self._training):
            return False
        try:
            config = self.config()
        except ConfigError as error:
            show_error(self, "Check the settings", str(error))
            return False
        return self._launch(TrainJob(config, dataset), TrainingHistory(),
                            f"Training ({config.mode})…")

    @Slot()
    def resume_selected_run(self) -> bool:
        """Carry the selected stopped fine-tune on from its checkpoint, in the background."""
        run = self.selected_run()
        dataset = self.session.dataset
        if run is None or not run.resumable or dataset is None:
            return False
        if not self.jobs.ready(self._training):
            return False
        try:
            config = TrainConfig.from_dict(run.config)
        except ConfigError as error:
            show_error(self, "This run cannot be resumed", str(error))
            return False
        # Its curves up to the checkpoint (a Stop mid-epoch recorded a few steps more).
        steps_per_epoch = -(-run.split["train"] // config.batch_size)
        kept = replace(run, step_losses=run.step_losses[:len(run.epochs) * steps_per_epoch])
        return self._launch(TrainJob(config, dataset, resume=run.run_id),
                            TrainingHistory.from_record(kept),
                            f"Resuming run {run.run_id} after epoch {len(run.epochs)}…")

    def _launch(self, job: TrainJob, history: TrainingHistory, status: str) -> bool:
        self.plots.show_history(history)
        self.plots.start_redrawing()
        self.stop_button.setText("Stop")
        self._train_started = None
        self.phase_label.setText("Loading the network…")
        started = self.jobs.start(job, self._training, status)
        self._update_export_button()
        return started

    @Slot()
    def stop(self) -> None:
        self.jobs.cancel()
        self.stop_button.setEnabled(False)
        self.stop_button.setText("Stopping…")
        self.phase_label.setText("Stopping after this batch; the best model so far is kept…")

    @Slot(object)
    def _progressed(self, event: Any) -> None:
        history = self.plots.history
        if isinstance(event, RunStarted):
            history.steps_per_epoch = event.steps_per_epoch
            self._epochs = event.epochs
            self.session.report(f"Training on {event.device}")
            self.phase_label.setText(f"{event.train_images} training and {event.val_images} "
                                     f"validation images on {event.device}")
        elif isinstance(event, PhaseProgress):
            if event.done <= 32 or self.progress.maximum() != event.total:
                self.progress.setRange(0, event.total)
            self.progress.setValue(event.done)
            eta = (event.total - event.done) / event.images_per_second \
                if event.images_per_second > 0 else 0
            self.phase_label.setText(
                f"{PHASE_NAMES.get(event.phase, event.phase)} {event.done}/{event.total} · "
                f"{event.images_per_second:.0f} images/s · about {format_duration(eta)} left")
        elif isinstance(event, BaselineMeasured):
            history.baseline = event.accuracy
        elif isinstance(event, StepEnded):
            now = time.perf_counter()
            if self._train_started is None:
                self._train_started, self._first_step = now, event.step
                self.progress.setRange(0, event.total_steps)
            history.add_step(event.step, event.loss)
            self.progress.setValue(event.step)
            done = event.step - self._first_step
            eta = (now - self._train_started) / done * (event.total_steps - event.step) \
                if done > 0 else 0
            self.phase_label.setText(
                f"Epoch {event.epoch}/{self._epochs} · step {event.step}/{event.total_steps} · "
                f"{event.images_per_second:.0f} images/s · about {format_duration(eta)} left")
        elif isinstance(event, EpochEnded):
            history.add_epoch(event.epoch, event.train_loss, event.val_loss,
                              event.train_accuracy, event.val_accuracy)
        elif isinstance(event, RunFinished):
            self.progress.setRange(0, 1)
            self.progress.setValue(1)

    @Slot(object)
    def _succeeded(self, outcome: TrainOutcome) -> None:
        result = outcome.result
        self._ended()
        self.session.set_runs(outcome.runs)
        if result.model_path is None:
            self.phase_label.setText("Stopped before the first epoch finished: no model was "
                                     "saved.")
        else:
            why = {"completed": "Finished", "early_stopping": "Stopped early (no more progress)",
                   "cancelled": "Stopped"}[result.stopped]
            self.phase_label.setText(
                f"{why}: best epoch {result.best_epoch}, validation accuracy "
                f"{result.best_val_accuracy:.3f}, {format_duration(result.seconds)}. "
                "The best model was saved.")
            self.session.set_model(str(result.model_path), f"run {result.run_id}")
            self._select_run(result.run_id)
        self.session.report("Training finished")
        if result.warnings:
            show_error(self, "Training finished with a problem", "\n\n".join(result.warnings))

    @Slot(str, str)
    def _failed(self, _message: str, _details: str) -> None:
        self._ended()
        self.phase_label.setText("Training failed.")
        dataset = self.session.dataset
        if dataset is not None:
            self.history_jobs.start(RunsJob(dataset.root), self._history_reading)

    @Slot(object)
    def _history_reread(self, records: list[Any]) -> None:
        self.session.set_runs(records)

    def _ended(self) -> None:
        """What the page undoes itself when a run ends (the controller enables Start)."""
        self.plots.stop_redrawing()
        self.stop_button.setText("Stop")
        self._update_export_button()

    # --- history ----------------------------------------------------------------------------

    @Slot()
    def _dataset_changed(self) -> None:
        self.phase_label.setText(f"Ready to train on {self.session.dataset.root.name}.")
        self.plots.show_history(TrainingHistory())

    @Slot()
    def _runs_changed(self) -> None:
        self.history_model.set_records(self.session.runs)
        self._overlays_changed()
        self._update_export_button()

    def _select_run(self, run_id: str) -> None:
        for row, record in enumerate(self.history_model.records):
            if record.run_id == run_id:
                self.history_view.selectRow(row)
                return

    @Slot(QModelIndex, QModelIndex)
    def _run_selected(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._update_export_button()
        if not current.isValid():
            return
        record = self.history_model.records[current.row()]
        if not self.jobs.busy:
            self.plots.show_history(TrainingHistory.from_record(record))
        if record.model_path and Path(record.model_path).exists():
            if record.model_path != self.session.model_path:
                self.session.set_model(record.model_path, f"run {record.run_id}")
        else:
            self.session.report("That run saved no model.")

    def selected_run(self) -> Any:
        current = self.history_view.currentIndex()
        return self.history_model.records[current.row()] if current.isValid() else None

    @Slot()
    def _update_export_button(self) -> None:
        run = self.selected_run()
        can_export = run is not None and bool(run.model_path) and not self.exporter.runner.busy
        self.export_button.setEnabled(can_export)
        self.export_action.setEnabled(can_export)
        can_resume = run is not None and run.resumable and not self.jobs.busy
        self.resume_button.setEnabled(can_resume)
        self.resume_action.setEnabled(can_resume)

    @Slot()
    def export_selected_run(self) -> None:
        run = self.selected_run()
        if run is None or not run.model_path:
            return
        if not Path(run.model_path).exists():
            show_error(self, "Model file missing", f"{run.model_path} no longer exists, so "
                       "this run cannot be exported. Train again to get a model.")
            return
        dataset = self.session.dataset
        images = list(dataset.images) if dataset is not None else []
        samples = [record.path for record in images[::max(1, len(images) // 8)]]
        name = f"{dataset.root.name}-{run.run_id}" if dataset is not None else run.run_id
        self.exporter.ask_and_export(run.model_path, name, samples)
        self._update_export_button()

    @Slot()
    def _overlays_changed(self) -> None:
        self.plots.set_overlays([(r.run_id[-6:], TrainingHistory.from_record(r))
                                 for r in self.history_model.overlay_records()])


def _spin(low: int, high: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    return spin
