"""The Train step's progress: a bar with the phase and the time left, and the live curves.

The page hands engine events to `show_event`; the bar and the line under it change at once,
the curves on the plots' redraw timer (plots.py). The time left comes from a phase's images
per second, or from the steps done since this run's first step (a resumed run starts late).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

from cheetahlion_gui.plots import TrainingHistory, TrainingPlots
from training.core.events import (
    BaselineMeasured,
    EpochEnded,
    PhaseProgress,
    RunFinished,
    RunStarted,
    StepEnded,
)

if TYPE_CHECKING:
    from cheetahlion_gui.jobs.engine_types import FitResult
    from training.core.events import TrainingEvent

PHASE_NAMES = {"decode": "Reading images", "features": "Extracting features",
               "evaluate": "Evaluating", "baseline": "Measuring the baseline"}
STOPPED_BECAUSE = {"completed": "Finished", "early_stopping": "Stopped early (no more progress)",
                   "cancelled": "Stopped"}


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class TrainingProgress(QWidget):
    """Where a run stands (bar and one line of text) above its loss and accuracy curves."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.phase_label = QLabel("Open a dataset on the Data step, then start training.")
        self.phase_label.setWordWrap(True)
        self.plots = TrainingPlots()
        self._train_started: float | None = None
        self._first_step = 0
        self._epochs = 0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.progress)
        layout.addWidget(self.phase_label)
        layout.addWidget(self.plots, 1)

    def show_ready(self, dataset_name: str) -> None:
        self.phase_label.setText(f"Ready to train on {dataset_name}.")
        self.plots.show_history(TrainingHistory())

    def begin(self, history: TrainingHistory) -> None:
        """A run starts, continuing `history` (empty, or a resumed run's curves so far)."""
        self.plots.show_history(history)
        self.plots.start_redrawing()
        self._train_started = None
        self.phase_label.setText("Loading the network…")

    def show_stopping(self) -> None:
        self.phase_label.setText("Stopping after this batch; the best model so far is kept…")

    def end(self) -> None:
        self.plots.stop_redrawing()

    def show_event(self, event: TrainingEvent) -> None:
        """One engine event of the running run (training.core.events)."""
        history = self.plots.history
        if isinstance(event, RunStarted):
            history.steps_per_epoch = event.steps_per_epoch
            self._epochs = event.epochs
            self.phase_label.setText(f"{event.train_images} training and {event.val_images} "
                                     f"validation images on {event.device}")
        elif isinstance(event, PhaseProgress):
            self._show_phase(event)
        elif isinstance(event, BaselineMeasured):
            history.baseline = event.accuracy
        elif isinstance(event, StepEnded):
            history.add_step(event.step, event.loss)
            self._show_step(event)
        elif isinstance(event, EpochEnded):
            history.add_epoch(event.epoch, event.train_loss, event.val_loss,
                              event.train_accuracy, event.val_accuracy)
        elif isinstance(event, RunFinished):
            self.progress.setRange(0, 1)
            self.progress.setValue(1)

    def _show_phase(self, event: PhaseProgress) -> None:
        if event.done <= 32 or self.progress.maximum() != event.total:
            self.progress.setRange(0, event.total)
        self.progress.setValue(event.done)
        eta = (event.total - event.done) / event.images_per_second \
            if event.images_per_second > 0 else 0
        self.phase_label.setText(
            f"{PHASE_NAMES.get(event.phase, event.phase)} {event.done}/{event.total} · "
            f"{event.images_per_second:.0f} images/s · about {format_duration(eta)} left")

    def _show_step(self, event: StepEnded) -> None:
        now = time.perf_counter()
        if self._train_started is None:
            self._train_started, self._first_step = now, event.step
            self.progress.setRange(0, event.total_steps)
        self.progress.setValue(event.step)
        done = event.step - self._first_step
        eta = (now - self._train_started) / done * (event.total_steps - event.step) \
            if done > 0 else 0
        self.phase_label.setText(
            f"Epoch {event.epoch}/{self._epochs} · step {event.step}/{event.total_steps} · "
            f"{event.images_per_second:.0f} images/s · about {format_duration(eta)} left")

    def show_result(self, result: FitResult) -> None:
        """How the run ended."""
        if result.model_path is None:
            self.phase_label.setText("Stopped before the first epoch finished: no model was "
                                     "saved.")
            return
        self.phase_label.setText(
            f"{STOPPED_BECAUSE[result.stopped]}: best epoch {result.best_epoch}, validation "
            f"accuracy {result.best_val_accuracy:.3f}, {format_duration(result.seconds)}. "
            "The best model was saved." + (f" {result.kept_note}" if result.kept_note else ""))
