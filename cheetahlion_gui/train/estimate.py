"""What to expect before Start: the chosen mode's time on this machine, and whether quick mode
may be all that is needed (issue 25).

A new user cannot tell "a few minutes" from "an hour" for their photos on their machine. The
estimate is measured, not guessed: `SpeedProbeJob` times the chosen network's forward pass
on this machine as loaded now (off the GUI thread, once per network and process), and a
mode's cost is counted in forward passes per image:

- quick: one per training view and validation photo (the feature pass; stored features
  make it faster, so the line says "up to");
- partial: quick mode's pass, then as many passes to the cut (activations), then each epoch
  a forward and backward through the top: about 0.3 of a forward pass per view (the top's
  step costs 0.10 of a full step, a full step about 3 forward passes: docs/benchmarks.md
  "What a step costs at each cut");
- finetune: each epoch a forward and backward through everything (about 3 passes) per
  training photo, and a forward pass per validation photo.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QLabel, QWidget

from cheetahlion_gui.jobs.controller import JobController, Lifecycle
from cheetahlion_gui.jobs.train_speed import SpeedProbeJob
from cheetahlion_gui.session import Session
from cheetahlion_gui.train.form import TrainForm
from cheetahlion_gui.train.progress import format_duration
from training.core.errors import ConfigError
from training.records.backbones import BACKBONES
from training.records.config import TrainConfig
from training.records.run_record import RunRecord

TOP_STEP_PASSES = 0.3
"""A training step through the last block and the head, in forward passes of the network."""
FULL_STEP_PASSES = 3.0
"""A training step through the whole network (forward and backward), in forward passes."""
QUICK_IS_ENOUGH = 0.98
"""A quick run's validation accuracy from which fine-tuning has little left to gain."""
MEASURED: dict[str, float] = {}
"""Images per second through each network's forward pass, measured in this process."""


def forward_passes(config: TrainConfig, images: int) -> float:
    """The chosen mode's work on `images` photos, in forward passes of the network (at
    most: early stopping and stored features make it less)."""
    val = round(images * config.val_fraction)
    train = images - val
    views = train * (1 + config.feature_views) + val
    if config.mode == "quick":
        return views
    if config.mode == "partial":
        epoch = train * (1 + config.feature_views) * TOP_STEP_PASSES
        return 2 * views + config.epochs * epoch
    return config.epochs * (train * FULL_STEP_PASSES + val)


def estimate_seconds(config: TrainConfig, images: int, images_per_second: float) -> float:
    """The estimate itself: forward passes over the measured rate, at the run's image size."""
    crop = BACKBONES[config.backbone].preprocessing.crop
    scale = ((config.image_size or crop) / crop) ** 2
    return forward_passes(config, images) * scale / images_per_second


def quick_advice(mode: str, runs: Sequence[RunRecord]) -> str:
    """For a fine-tune: that quick mode may be all that is needed, with the best quick run
    on these photos when there is one ("" for quick mode)."""
    if mode == "quick":
        return ""
    quick = [r for r in runs if r.config.get("mode") == "quick" and r.epochs
             and not r.is_multilabel]
    best = max(quick, key=lambda r: r.best_val_accuracy, default=None)
    if best is not None and best.best_val_accuracy >= QUICK_IS_ENOUGH:
        return (f" Quick mode already reached {best.best_val_accuracy:.3f} on validation "
                f"here (run {best.run_id}): it may be all that is needed.")
    if best is not None:
        return f" Quick mode reached {best.best_val_accuracy:.3f} on validation here."
    return " Quick mode (seconds) may be all that is needed: try it first."


class TrainEstimate(QLabel):
    """The line under the form before Start: "Expect up to about 2 min 10 s for 300 photos
    on this machine (…)". It follows the form, the dataset and the runs; it measures the
    network the first time the page is shown with it chosen."""

    def __init__(self, form: TrainForm, session: Session, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.setObjectName("trainEstimate")
        self.setWordWrap(True)
        self.form = form
        self.session = session
        self.jobs = JobController(self)
        self._probing = Lifecycle(succeeded=self._measured)
        for signal in (form.mode.currentIndexChanged, form.backbone.currentIndexChanged,
                       form.epochs.valueChanged, form.feature_views.valueChanged,
                       form.image_size.valueChanged):
            signal.connect(self.refresh)
        session.dataset_changed.connect(self.refresh)
        session.runs_changed.connect(self.refresh)
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        """Say what the chosen mode will cost on the open dataset; measure first if the
        network was not measured yet (and the line is on screen)."""
        dataset = self.session.dataset
        if dataset is None or self.session.multilabel is not None:
            self.setText("")
            return
        try:
            config = self.form.config()
        except ConfigError:
            self.setText("")
            return
        rate = MEASURED.get(config.backbone)
        if rate is None:
            self.setText("Measuring this machine's speed for an estimate…")
            if self.isVisible() and not self.jobs.busy:
                self.jobs.start(SpeedProbeJob(config.backbone), self._probing)
            return
        images = len(dataset.images)
        seconds = estimate_seconds(config, images, rate)
        self.setText(f"Expect up to about {format_duration(max(1.0, seconds))} for {images} "
                     f"photos on this machine (the network ran at {rate:.0f} images/s "
                     f"here).{quick_advice(config.mode, self.session.runs)}")

    @Slot(object)
    def _measured(self, result: tuple[str, float]) -> None:
        backbone, rate = result
        MEASURED[backbone] = rate
        self.refresh()
