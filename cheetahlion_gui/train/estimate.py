"""What to expect before Start: the chosen mode's time on this machine, and whether quick mode
may be all that is needed (issue 25).

A new user cannot tell "a few minutes" from "an hour" for their photos on their machine. The
estimate is measured, not guessed: `SpeedProbeJob` times the chosen network's forward pass
on this machine as loaded now (off the GUI thread, once per network and process), and a
mode's cost is counted in forward passes per image:

- quick: one per training view and validation photo (the feature pass; stored features
  make it faster, so the line says "up to");
- partial: quick mode's pass (one per training and validation photo: quick mode runs
  without views there), then one pass to the cut per training view and validation photo
  (the activations), then each epoch a forward and backward through the top: about 0.3 of
  a forward pass per view (the top's
  step costs 0.10 of a full step, a full step about 3 forward passes: docs/benchmarks.md
  "What a step costs at each cut");
- finetune: each epoch a forward and backward through everything (about 3 passes) per
  training photo, and a forward pass per validation photo.

The probe runs the bare network on PyTorch; a run also decodes photos, loads the network and
measures the baseline, but its frozen passes (quick mode's features, and the activations at
the cut since round 3) run on onnxruntime, several times faster than the probe's pass, and
early stopping ends most partial runs after 5–6 of 8 epochs. So the probe's rate is divided
by `PROBE_OVERHEAD`, measured on whole runs (docs/benchmarks.md "The bottom pass on
onnxruntime"). Once a run of the chosen mode and network is in the history, its own
seconds per forward pass (counted the same way) replace the probe: the machine as measured
by a real run.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QLabel, QWidget

from cheetahlion_gui.jobs.controller import JobController, Lifecycle
from cheetahlion_gui.jobs.train_speed import SpeedProbeJob
from cheetahlion_gui.session import Session
from cheetahlion_gui.train.fine_tune_gain import when
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
PROBE_OVERHEAD = 0.85
"""A run's seconds over the bare forward passes the probe times. Partial runs with the bottom
on onnxruntime, from an empty store, where the probe read 9.6–13.7 images/s: 0.85 (100
real photos), 0.82 (120), 0.17 (732 hard copies); the largest is kept so that the line stays
an "up to" (it over-states large sets: early stopping, and a fixed ~50 s that small runs
pay). Round 2's 3.5 came from one run with the activations on PyTorch and a quick pass
counted per view. The probe itself swings with the load (1.1–37 images/s on the same
loaded machine within an hour), and the estimate with it."""
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
        return images + views + config.epochs * epoch
    return config.epochs * (train * FULL_STEP_PASSES + val)


def estimate_seconds(config: TrainConfig, images: int, images_per_second: float) -> float:
    """The estimate itself: forward passes over the measured rate, at the run's image size."""
    crop = BACKBONES[config.backbone].preprocessing.crop
    scale = ((config.image_size or crop) / crop) ** 2
    return forward_passes(config, images) * scale / images_per_second


def measured_rate(config: TrainConfig, runs: Sequence[RunRecord]) -> tuple[float, str] | None:
    """(forward passes per second, when it ran) of the newest finished run of this mode and
    network in `runs`: what a real run achieved on this machine; None without one."""
    same = [r for r in runs if r.epochs and r.seconds > 0 and not r.is_multilabel
            and r.images and r.config.get("mode") == config.mode
            and r.config.get("backbone") == config.backbone]
    if not same:
        return None
    run = max(same, key=lambda r: r.created)
    try:
        ran = TrainConfig.from_dict(run.config)
    except ConfigError:
        return None
    return estimate_seconds(ran, run.images or 0, 1.0) / run.seconds, when(run)


def _quick_accuracy(record: RunRecord) -> float | None:
    """Quick mode's validation accuracy in a run: a quick run's own, or the quick model a
    partial fine-tune started from."""
    if not record.epochs or record.is_multilabel:
        return None
    if record.config.get("mode") == "quick":
        return record.best_val_accuracy
    return record.start_val_accuracy if record.config.get("mode") == "partial" else None


def quick_advice(mode: str, runs: Sequence[RunRecord]) -> str:
    """For a fine-tune: that quick mode may be all that is needed, with the best quick
    figure on these photos when there is one ("" for quick mode)."""
    if mode == "quick":
        return ""
    quick = [(accuracy, when(r)) for r in runs
             if (accuracy := _quick_accuracy(r)) is not None]
    if not quick:
        return " Quick mode (seconds) may be all that is needed: try it first."
    accuracy, run = max(quick)
    if accuracy >= QUICK_IS_ENOUGH:
        return (f" Quick mode already reached {accuracy:.3f} on validation here (the run of "
                f"{run}): it may be all that is needed.")
    return f" Quick mode reached {accuracy:.3f} on validation here (the run of {run})."


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
        self._probing = Lifecycle(succeeded=self._measured, failed=self._not_measured)
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
        measured = measured_rate(config, self.session.runs)
        probed = MEASURED.get(config.backbone)
        if measured is not None:
            rate, source = measured[0], f"as fast as the run of {measured[1]}"
        elif probed is not None:
            rate = probed / PROBE_OVERHEAD
            source = f"the network ran at {probed:.0f} images/s here just now"
        else:
            self.setText("Measuring this machine's speed for an estimate…")
            if self.isVisible() and not self.jobs.busy:
                self.jobs.start(SpeedProbeJob(config.backbone), self._probing)
            return
        images = len(dataset.images)
        seconds = estimate_seconds(config, images, rate)
        self.setText(f"Expect up to about {format_duration(max(1.0, seconds))} for {images} "
                     f"photos on this machine ({source})."
                     f"{quick_advice(config.mode, self.session.runs)}")

    @Slot(object)
    def _measured(self, result: tuple[str, float]) -> None:
        backbone, rate = result
        MEASURED[backbone] = rate
        self.refresh()

    @Slot(str, str)
    def _not_measured(self, _message: str, _details: str) -> None:
        """The probe failed (a network that cannot be built here): no estimate, no claim."""
        self.setText("")
