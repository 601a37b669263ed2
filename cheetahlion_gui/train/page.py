"""Step 2, Train: the settings, what to expect, Start/Stop, live progress and curves, history.

The page puts its panels side by side (form, estimate, progress, compare_panel, run_history)
and runs the training job through its lifecycle (jobs.controller). "Compare networks" runs a
quick head on each offline network instead, through the same controller (one heavy job at a
time). A fine-tune that was stopped, or whose process died, keeps a checkpoint of its last
epoch; its history row offers Resume, which carries it on in the background like Start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.dialogs import show_error
from cheetahlion_gui.jobs.compare import CompareJob, CompareOutcome
from cheetahlion_gui.jobs.controller import JobController, Lifecycle
from cheetahlion_gui.jobs.dataset import RunsJob
from cheetahlion_gui.jobs.train import TrainJob
from cheetahlion_gui.jobs.train_multilabel import MultiLabelTrained, MultiLabelTrainJob
from cheetahlion_gui.session import Session
from cheetahlion_gui.train.compare_panel import ComparePanel
from cheetahlion_gui.train.estimate import TrainEstimate
from cheetahlion_gui.train.form import TrainForm
from cheetahlion_gui.train.plots import TrainingHistory
from cheetahlion_gui.train.progress import TrainingProgress
from cheetahlion_gui.train.run_history import RunHistoryPanel
from cheetahlion_gui.widgets.step_page import StepPage
from training.core.errors import ConfigError
from training.records.backbones import OFFLINE_BACKBONES
from training.records.comparison import NetworkComparison
from training.records.config import TrainConfig
from training.records.dataset import Dataset
from training.records.events import RunStarted, TrainingEvent
from training.records.fit_summary import FitSummary
from training.records.run_record import RunRecord

if TYPE_CHECKING:
    from cheetahlion_gui.jobs.training_process import TrainingProcessKeeper

ACCURACY_TITLE = "Validation accuracy"
MULTILABEL_ACCURACY_TITLE = "Validation exact match (every label right at 0.5)"
MULTILABEL_MAP_TITLE = "Validation mAP (mean average precision)"
CLOSING = "Stopping training… the window closes as soon as it has stopped (its best model is kept)."


class TrainPage(StepPage):
    training_finished = Signal()
    """A run ended (finished, stopped or failed); the run history is up to date."""
    comparison_finished = Signal()
    """A comparison ended (finished, cancelled or failed); its rows are on the page."""

    def __init__(self, session: Session, processes: TrainingProcessKeeper | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.processes = processes
        """Where fine-tunes take their (warm) training process; None: a fresh one each."""
        self.history_jobs = JobController(self)
        """Re-reads the run history after a failed run (it may have left a resumable one)."""
        self.history_runner = self.history_jobs.runner
        self.form = TrainForm()
        if processes is not None:
            self.form.finetune_chosen.connect(processes.prepare_in_background)
        self.progress_panel = TrainingProgress()
        self.estimate = TrainEstimate(self.form, session)
        self.history_panel = RunHistoryPanel(session, self.runner)
        self.start_button = QPushButton("Start training")
        self.start_button.setObjectName("primary")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.compare_button = QPushButton("Compare networks")
        self.compare_button.setToolTip(
            "Train a quick head on each offline network (" + ", ".join(OFFLINE_BACKBONES)
            + ") on the same split, and see accuracy, time, speed and size side by side")
        self.compare_button.clicked.connect(self.compare)
        self.compare_panel = ComparePanel()
        self.compare_panel.cancel_button.clicked.connect(self.jobs.cancel)
        self.compare_panel.network_chosen.connect(self.use_network)
        self._lay_out()
        self.history_panel.run_chosen.connect(self._show_run)
        self.history_panel.overlays_changed.connect(self._show_overlays)
        self.history_panel.resume_requested.connect(self.resume_selected_run)
        self._training = Lifecycle(
            succeeded=self._succeeded, failed=self._failed, progressed=self._progressed,
            finished=self.training_finished, failure_title="Training failed",
            failed_status="Training failed",
            busy_message=("Training running",
                          "A model is training; stop it or wait for it to finish."),
            progress=self.progress_panel.progress, keep_progress=True,
            idle_only=(self.start_button, self.compare_button, self.form),
            stop=self.stop_button)
        self._closing = False
        """The window waits for the run to stop before it closes (`stop_to_close`)."""
        self._config: TrainConfig | None = None
        """The settings of the run training now (or last), which the form shows."""
        self._comparing = Lifecycle(
            succeeded=self._compared, failed=self._compare_failed,
            progressed=self.compare_panel.show_event, finished=self.comparison_finished,
            failure_title="Comparison failed", failed_status="Comparison failed",
            busy_message=("Training running",
                          "A model is training; stop it or wait for it to finish."),
            idle_only=(self.start_button, self.compare_button),
            stop=self.compare_panel.cancel_button)
        self._history_reading = Lifecycle(succeeded=self._history_reread)
        session.dataset_changed.connect(self._dataset_changed)
        session.multilabel_changed.connect(self._multilabel_changed)

    def _lay_out(self) -> None:
        """The form and Start/Stop on the left; progress and curves above the history."""
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        left = QWidget()
        left.setMaximumWidth(380)
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(self.form)
        left_layout.addWidget(self.estimate)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.compare_button)
        left_layout.addStretch(1)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.progress_panel)
        right.addWidget(self.compare_panel)
        right.addWidget(self.history_panel)
        right.setSizes([460, 0, 200])
        self.splitter = right
        layout = QHBoxLayout(self)
        layout.addWidget(left)
        layout.addWidget(right, 1)

    def selected_run(self) -> RunRecord | None:
        """The run selected in the history, or None."""
        return self.history_panel.selected_run()

    # --- running ----------------------------------------------------------------------------

    @Slot()
    def start(self) -> bool:
        if self.session.multilabel is not None:
            return self._start_multilabel()
        dataset = self._trainable_dataset()
        config = self._settings() if dataset is not None else None
        if config is None:
            return False
        return self._launch(TrainJob(config, dataset, processes=self.processes),
                            TrainingHistory(), f"Training ({config.mode})…")

    def _settings(self) -> TrainConfig | None:
        """The form's settings for a run about to start; None (with a message) when one is
        already running or a setting is wrong."""
        if not self.jobs.ready(self._training):
            return None
        try:
            return self.form.config()
        except ConfigError as error:
            show_error(self, "Check the settings", str(error))
            return None

    def _start_multilabel(self) -> bool:
        """Train the open multi-label dataset, quick or fine-tuned. Its curve of "accuracy"
        is exact match in quick mode, the validation mAP in a fine-tune (whose best epoch is
        chosen by it)."""
        dataset, split = self.session.multilabel, self.session.multilabel_split
        if dataset is None or split is None:
            errors = dataset.report.errors if dataset is not None else ()
            show_error(self, "This dataset cannot be trained yet",
                       errors[0].message if errors else "Open a dataset folder first.")
            return False
        config = self._settings()
        if config is None:
            return False
        self._name_accuracy_plot(multilabel=True, finetune=config.mode == "finetune")
        return self._launch(MultiLabelTrainJob(config, dataset, split), TrainingHistory(),
                            f"Training multi-label ({config.mode})…")

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
        self.form.apply_config(config)  # the form shows the settings of the run that trains
        return self._launch(TrainJob(config, dataset, resume=run.run_id,
                                     processes=self.processes),
                            TrainingHistory.from_record(kept),
                            f"Resuming run {run.run_id} after epoch {len(run.epochs)}…")

    def _trainable_dataset(self) -> Dataset | None:
        """The open dataset if it can be trained on; else None, the user told why."""
        if self.session.multilabel is not None:
            QMessageBox.information(self, "Not for multi-label datasets yet",
                                    "Comparing networks needs class folders; Start training "
                                    "trains this multi-label dataset.")
            return None
        dataset = self.session.dataset
        if dataset is None:
            QMessageBox.information(self, "No dataset", "Open a dataset folder first (Data step).")
            return None
        if not dataset.report.can_train:
            show_error(self, "This dataset cannot be trained yet",
                       dataset.report.errors[0].message)
            return None
        return dataset

    def _launch(self, job: TrainJob | MultiLabelTrainJob, history: TrainingHistory,
                status: str) -> bool:
        self._config = job.config
        if isinstance(job, TrainJob):
            self._name_accuracy_plot(multilabel=False)
        self.progress_panel.begin(history)
        self.stop_button.setText("Stop")
        started = self.jobs.start(job, self._training, status)
        self.session.set_training(started)
        self.history_panel.update_buttons()
        return started

    @Slot()
    def compare(self) -> bool:
        """Train a quick head on each offline network, in the background, and compare them.

        The form's settings apply when it is in quick mode; in fine-tune mode the quick
        preset is used with the form's seed and validation fraction (the same split)."""
        dataset = self._trainable_dataset()
        if dataset is None:
            return False
        if not self.jobs.ready(self._comparing):
            return False
        try:
            config = self.form.config()
            if config.mode != "quick":
                config = TrainConfig.quick(seed=config.seed, val_fraction=config.val_fraction,
                                           image_size=config.image_size)
        except ConfigError as error:
            show_error(self, "Check the settings", str(error))
            return False
        if not self.compare_panel.isVisible():  # room for its rows; later, the user's sizes
            self.splitter.setSizes([300, 260, 200])
        self.compare_panel.begin(len(OFFLINE_BACKBONES))
        return self.jobs.start(CompareJob(config, dataset, OFFLINE_BACKBONES), self._comparing,
                               f"Comparing {len(OFFLINE_BACKBONES)} networks…")

    @Slot(object)
    def _compared(self, outcome: CompareOutcome) -> None:
        self.session.set_runs(outcome.runs)
        cancelled = any(row.stopped == "cancelled" for row in outcome.rows) or \
            len(outcome.rows) < len(OFFLINE_BACKBONES)
        self.compare_panel.end(outcome.rows, cancelled)
        self.history_panel.update_buttons()
        self.session.report("Comparison cancelled" if cancelled else "Comparison finished")

    @Slot(str, str)
    def _compare_failed(self, message: str, _details: str) -> None:
        self.compare_panel.failed(message)

    @Slot(object)
    def use_network(self, row: NetworkComparison) -> None:
        """Go on with a compared network: the form trains it next, and its run's model (a
        real quick run) is the one the next steps use, so nothing trains again."""
        self.form.backbone.setCurrentIndex(max(0, self.form.backbone.findData(row.network)))
        self.history_panel.select_run(row.run_id or "")
        self.session.report(f"Using {row.title}: its model from run {row.run_id}")

    @Slot()
    def stop(self) -> None:
        self.jobs.cancel()
        self.stop_button.setEnabled(False)
        self.stop_button.setText("Stopping…")
        self.progress_panel.show_stopping()

    def stop_to_close(self, close: Callable[[], object]) -> bool:
        """The window is asked to close: if a run is training, Stop it, say so at once, and
        call `close` (a GUI-thread slot) as soon as it has ended, its best model saved; True
        then, and the window waits. False when nothing trains or this was asked already
        (a second close does not wait for the run)."""
        if not isinstance(self.runner.job, TrainJob) or self._closing:
            return False
        self._closing = True
        self.stop()
        self.progress_panel.show_stopping(CLOSING)
        self.session.report(CLOSING)
        self.runner.finished.connect(close)
        return True

    @Slot(object)
    def _progressed(self, event: TrainingEvent) -> None:
        if isinstance(event, RunStarted):
            self.session.report(f"Training on {event.device}")
        self.progress_panel.show_event(event)

    @Slot(object)
    def _succeeded(self, result: FitSummary | MultiLabelTrained) -> None:
        if isinstance(result, MultiLabelTrained):
            self._multilabel_trained(result)
            return
        self._ended()
        if result.record is not None:
            self.session.add_run(result.record)
        self.progress_panel.show_result(result, self._config or TrainConfig(), self.session.runs)
        if result.model_path is not None:
            self.session.set_model(str(result.model_path), f"run {result.run_id}")
            self.history_panel.select_run(result.run_id)
        self.session.report("Training finished")
        if result.warnings:
            show_error(self, "Training finished with a problem", "\n\n".join(result.warnings))

    def _name_accuracy_plot(self, multilabel: bool, finetune: bool = False) -> None:
        """A multi-label run's "accuracy" events are exact match at 0.5 (quick) or the
        validation mAP (fine-tune): the plot says which."""
        plot = self.progress_panel.plots.accuracy_plot
        if multilabel:
            title, axis = ((MULTILABEL_MAP_TITLE, "mAP") if finetune
                           else (MULTILABEL_ACCURACY_TITLE, "exact match"))
        else:
            title, axis = ACCURACY_TITLE, "accuracy"
        plot.setTitle(title)
        plot.setLabel("left", axis)

    def _multilabel_trained(self, result: MultiLabelTrained) -> None:
        """The figures go on the page, the run joins the history, and its model becomes the
        one Evaluate and Classify use."""
        self._ended()
        if result.record is not None:
            self.session.add_run(result.record)
        self.progress_panel.phase_label.setText(result.describe())
        if result.model_path is not None:
            self.progress_panel.progress.setRange(0, 1)
            self.progress_panel.progress.setValue(1)
            self.session.set_model(result.model_path, f"multi-label run {result.run_id}")
        self.session.report("Training finished")
        if result.warnings:
            show_error(self, "Training finished with a problem", "\n\n".join(result.warnings))

    @Slot(str, str)
    def _failed(self, _message: str, _details: str) -> None:
        self._ended()
        self.progress_panel.phase_label.setText("Training failed.")
        dataset = self.session.dataset
        if dataset is not None:
            self.history_jobs.start(RunsJob(dataset.root), self._history_reading)

    @Slot(object)
    def _history_reread(self, records: list[RunRecord]) -> None:
        self.session.set_runs(records)

    def _ended(self) -> None:
        """What the page undoes itself when a run ends (the controller enables Start)."""
        self.progress_panel.end()
        self.session.set_training(False)
        self.stop_button.setText("Stop")
        self.history_panel.update_buttons()

    # --- the panels --------------------------------------------------------------------------

    @Slot()
    def _dataset_changed(self) -> None:
        self.form.set_multilabel(False)
        self.progress_panel.show_ready(self.session.dataset.root.name)
        self.compare_panel.clear()

    @Slot()
    def _multilabel_changed(self) -> None:
        dataset = self.session.multilabel
        self.form.set_multilabel(dataset is not None)
        if dataset is not None and not self.jobs.busy:
            self.progress_panel.show_ready(f"{dataset.root.name} (multi-label: "
                                           f"{', '.join(dataset.labels)})")

    @Slot(object)
    def _show_run(self, record: RunRecord) -> None:
        """A run was selected in the history: its curves, unless a run is live."""
        if not self.jobs.busy:
            self.progress_panel.plots.show_history(TrainingHistory.from_record(record))

    @Slot(list)
    def _show_overlays(self, runs: list[tuple[str, TrainingHistory]]) -> None:
        self.progress_panel.plots.set_overlays(runs)
