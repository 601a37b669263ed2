"""Progress events the engine reports, and how a caller cancels it.

Events are frozen dataclasses of plain Python numbers and strings (never tensors), so a
front end may pass them across threads and keep them as long as it likes. The engine calls
the callback from its own thread; a GUI re-emits them as a signal. Cancellation is a
`threading.Event` that the engine checks at every batch boundary.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

CancelToken = threading.Event


class Cancelled(Exception):
    """Raised inside the engine when the caller's cancel token is set; caught by `fit`."""


@dataclass(frozen=True)
class ScanProgress:
    done: int
    total: int


@dataclass(frozen=True)
class RunStarted:
    """Training began. `phases` lists what will happen, e.g. ("features", "train")."""

    mode: str
    backbone: str
    device: str
    phases: tuple[str, ...]
    epochs: int
    steps_per_epoch: int
    total_steps: int
    train_images: int
    val_images: int


@dataclass(frozen=True)
class PhaseProgress:
    """Work inside a phase that is not a training step, e.g. feature extraction i of n."""

    phase: str
    done: int
    total: int
    images_per_second: float


@dataclass(frozen=True)
class BaselineMeasured:
    """The untouched ImageNet model's validation accuracy (only when class names match)."""

    accuracy: float


@dataclass(frozen=True)
class StepEnded:
    epoch: int
    step: int
    """Global step, counted from 1 over the whole run."""
    total_steps: int
    loss: float
    learning_rate: float
    images_per_second: float


@dataclass(frozen=True)
class EpochEnded:
    epoch: int
    epochs: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float
    is_best: bool


@dataclass(frozen=True)
class RunFinished:
    best_epoch: int
    best_val_loss: float
    best_val_accuracy: float
    epochs_run: int
    seconds: float
    stopped: str
    """Why training ended: "completed", "early_stopping" or "cancelled"."""
    model_path: str | None
    trained_share: float | None = None
    """How much of the trained weights the kept model holds (`training.fitting.never_worse`):
    1 the trained weights, 0 the ImageNet start, between a blend; None when training did not
    start from ImageNet's rows."""


TrainingEvent = (
    RunStarted | PhaseProgress | BaselineMeasured | StepEnded | EpochEnded | RunFinished
)
Callback = Callable[[TrainingEvent], None]


def ignore_event(_event: object) -> None:
    """The callback used when the caller passes none."""
