"""The Train step's progress: a bar with the phase and the time left, and the live curves.

The page hands engine events to `show_event`; the bar and the line under it change at once,
the curves on the plots' redraw timer (plots.py). The time left comes from a phase's images
per second, or from the steps done since this run's first step (a resumed run starts late).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

from cheetahlion_gui.jobs.train import FeaturesUsed
from cheetahlion_gui.train.fine_tune_gain import PARTIAL, finetune_line
from cheetahlion_gui.train.plots import TrainingHistory, TrainingPlots
from training.records.config import TrainConfig
from training.records.events import (
    BaselineMeasured,
    EpochEnded,
    PhaseProgress,
    RunFinished,
    RunStarted,
    StepEnded,
    TrainingEvent,
)
from training.records.fit_summary import FitSummary
from training.records.run_record import RunRecord
from training.records.run_summary import against_quick_mode, what_it_gained, why_it_ended
from training.records.runtime_words import label_words

PHASE_NAMES = {"decode": "Reading images", "features": "Extracting features",
               "evaluate": "Evaluating", "baseline": "Measuring ImageNet's own answer",
               "activations": "Storing activations for the top of the network"}
STOPPING = "Stopping after this batch; the best model so far is kept…"
ESTIMATING = "estimating the time left…"


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
    """Where a run stands (bar and one line of text) above its loss and accuracy curves.

    The bar never sits still at a phase's end while work goes on: when a phase is done and
    nothing countable follows yet (the first batches, saving), it turns busy and the line
    says what is happening. After Stop the line keeps saying so until the run has ended.
    """

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
        self._stopping = ""
        """What the line says while the run stops ("" while it is not stopping)."""
        self._phase_started: tuple[str, float, int] | None = None
        """(phase, when, images done then): a phase's own rate when its events carry none
        (a partial fine-tune's activation pass reports 0 images/s)."""
        self._features: str | None = None
        """What computed a quick run's features ("onnxruntime int8"; `FeaturesUsed`)."""
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
        self._stopping = ""
        self._features = None
        self._busy("Loading the network…")

    def show_stopping(self, text: str = STOPPING) -> None:
        """Stop was pressed: say so (`text`), and keep saying so until the run has ended."""
        self._stopping = text
        self._busy(text)

    def end(self) -> None:
        """The run has ended: the curves drawn once more, and no busy bar left running."""
        self.plots.stop_redrawing()
        self._stopping = ""
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)

    def _busy(self, text: str) -> None:
        """An honest busy bar: work goes on that cannot be counted."""
        self.progress.setRange(0, 0)
        self.phase_label.setText(text)

    def show_event(self, event: TrainingEvent | FeaturesUsed) -> None:
        """One engine event of the running run (training.records.events)."""
        history = self.plots.history
        if isinstance(event, RunStarted):
            history.steps_per_epoch = event.steps_per_epoch
            self._epochs = event.epochs
            self._say(f"{event.train_images} training and {event.val_images} validation "
                      f"images on {event.device}: loading them…")
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
            # what follows (the next epoch's first batch, or choosing and saving the model)
            # is not counted: busy until it reports
            self._busy(self._stopping or f"Epoch {event.epoch}/{event.epochs} done: "
                       f"validation accuracy {event.val_accuracy:.3f}…")
        elif isinstance(event, RunFinished):
            self._busy(self._stopping or "Saving the model and the run…")
        elif isinstance(event, FeaturesUsed):
            self._features = event.features

    def _say(self, text: str) -> None:
        """Show `text` unless Stop was pressed (then the line keeps saying so)."""
        if not self._stopping:
            self.phase_label.setText(text)

    def _show_phase(self, event: PhaseProgress) -> None:
        name = PHASE_NAMES.get(event.phase, event.phase)
        if event.phase == "evaluate":  # a validation pass: the line moves, the bar keeps steps
            left = f" · {self._left(event)}" if event.done < event.total else ""
            self._say(f"{name} on the validation images {event.done}/{event.total}{left}")
            return
        if event.done >= event.total:  # the phase is over; what follows is not counted
            then = "starting training (the first batches take longest)" \
                if self._train_started is None else "saving the model"
            self._busy(self._stopping or f"{name}: done; {then}…")
            return
        if event.done <= 32 or self.progress.maximum() != event.total:
            self.progress.setRange(0, event.total)
        self.progress.setValue(event.done)
        event = self._with_rate(event)
        rate = f"{event.images_per_second:.0f} images/s · " if event.images_per_second > 0 \
            else ""
        self._say(f"{name} {event.done}/{event.total} · {rate}{self._left(event)}")

    def _with_rate(self, event: PhaseProgress) -> PhaseProgress:
        """`event`, with the images per second measured here since its phase's first event
        when the engine sent none."""
        now = time.perf_counter()
        started = self._phase_started
        if started is None or started[0] != event.phase or event.done < started[2]:
            self._phase_started = started = (event.phase, now, event.done)
        if event.images_per_second > 0 or now <= started[1] or event.done <= started[2]:
            return event
        rate = (event.done - started[2]) / (now - started[1])
        return replace(event, images_per_second=rate)

    @staticmethod
    def _left(event: PhaseProgress) -> str:
        """The phase's time left, never "0 s" while images remain."""
        if event.images_per_second <= 0 or event.done <= 0:
            return ESTIMATING
        seconds = (event.total - event.done) / event.images_per_second
        return f"about {format_duration(max(1.0, seconds))} left"

    def _show_step(self, event: StepEnded) -> None:
        if self._stopping:  # the busy bar and its line stay until the run has ended
            return
        now = time.perf_counter()
        if self._train_started is None:
            self._train_started, self._first_step = now, event.step
        if self.progress.maximum() != event.total_steps:
            self.progress.setRange(0, event.total_steps)
        self.progress.setValue(event.step)
        done = event.step - self._first_step
        left = ESTIMATING
        if done > 0:
            seconds = (now - self._train_started) / done * (event.total_steps - event.step)
            left = f"about {format_duration(max(1.0, seconds))} left"
        self._say(f"Epoch {event.epoch}/{self._epochs} · step {event.step}/{event.total_steps} · "
                  f"{event.images_per_second:.0f} images/s · {left}")

    def show_result(self, result: FitSummary, config: TrainConfig,
                    runs: Sequence[RunRecord] = ()) -> None:
        """How the run ended: why, what it gained over the start (a full fine-tune: over
        the newest quick run on the same split among `runs`), and where its model is."""
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        text = result_text(result, config)
        words = label_words(self._features) if config.mode == "quick" else None
        text += f" Ran on {words}." if words else ""
        quick = finetune_line(result.record, runs) \
            if config.mode == "finetune" and result.record and result.history else None
        self.phase_label.setText(f"{text}\n{quick}" if quick else text)


def result_text(result: FitSummary, config: TrainConfig) -> str:
    """The line under the bar when a run has ended: why, what it gained over ImageNet's own
    answer (training.records.run_summary), how the kept model was chosen, where it is."""
    reason = why_it_ended(result.stopped, len(result.history), config.epochs,
                          config.early_stopping_patience)
    if result.model_path is None:
        return f"{_capital(reason)}: no epoch finished, so no model was saved."
    share = result.kept.trained_share if result.kept else None
    if config.mode == PARTIAL:  # kept against quick mode's model, not ImageNet's
        gained = _capital(what_it_gained(result.best_val_accuracy, result.baseline_accuracy,
                                         None)) + "."
        quick = result.kept.start_accuracy if result.kept else None
        line = against_quick_mode(result.best_val_accuracy, share, quick) or \
            "Kept quick mode's model: the top of the network did not train."
        gained = f"{line} {gained}"
        return (f"{_capital(reason)}. {gained} The model was saved "
                f"({format_duration(result.seconds)} in all).")
    kept_start = share == 0.0 and result.kept_note is not None
    gained = _capital(what_it_gained(result.best_val_accuracy, result.baseline_accuracy,
                                     None if kept_start else share)) + "."
    if result.kept_note:  # the start kept, or a blend: the note says which, and why
        gained = f"{result.kept_note} {gained}" if kept_start else f"{gained} {result.kept_note}"
    return (f"{_capital(reason)}. {gained} Best epoch {result.best_epoch}; the model was saved "
            f"({format_duration(result.seconds)} in all).")


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
