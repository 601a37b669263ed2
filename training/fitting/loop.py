"""The epoch loop both training modes share.

Quick mode trains a linear head on cached features and fine-tune mode the whole network on
cached pixels; everything around the gradient step is the same: the schedule, validation
after every epoch, keeping the best weights (by validation loss), early stopping, progress
events and cancellation at batch boundaries. It lives here once.

After every epoch the loop can hand out a `LoopState`: everything it needs to carry on as if
it had never stopped (weights, optimizer and schedule state, counters, the best weights so
far, and every random number generator the epoch draws from: the run's own generator for
shuffling and augmentation, torch's global one for dropout and drop-path, Python's and
NumPy's). Started again from such a state, it continues with the very same numbers.
"""

from __future__ import annotations

import copy
import math
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from training.fitting.distributed import Workers
from training.records.config import TrainConfig
from training.records.events import Callback, Cancelled, EpochEnded, PhaseProgress, StepEnded

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass
class LoopOutcome:
    history: list[EpochEnded]
    step_losses: list[float]
    best_state: dict[str, torch.Tensor] | None
    best_epoch: int
    best_val_loss: float
    best_val_accuracy: float
    stopped: str


@dataclass
class LoopState:
    """The loop as it stood when `epoch` ended (tensors on the CPU, detached)."""

    epoch: int
    step: int
    epochs_without_progress: int
    outcome: LoopOutcome
    module: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: dict[str, Any]


@dataclass
class _Progress:
    """What one `EpochLoop.run` works with and carries from epoch to epoch."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    loss_fn: nn.Module
    total_steps: int
    outcome: LoopOutcome
    step: int = 0
    epochs_without_progress: int = 0


class LoopHooks(Protocol):
    """The run's bookkeeping the loop calls (`training.fitting.run_hooks.RunHooks`): it
    sees the loop's state, never the caller's callback."""

    def epoch_ended(self, state: LoopState) -> None:
        """After every epoch, before the epoch's event is reported."""

    def training_ended(self, outcome: LoopOutcome) -> None:
        """Once, after the last epoch (or a Stop or early stopping); it may replace the
        outcome's best weights."""


@dataclass
class EpochLoop:
    """`train_batches(epoch)` yields (inputs, labels); `forward(inputs)` gives logits.

    `generator` is the run's own generator (its state is saved and restored with the
    others); `hooks.epoch_ended(state)` is called after every epoch, before the epoch's
    event is reported, so a callback that fails leaves the epoch saved; `resume` continues
    after such a state; `hooks.training_ended(outcome)` once at the end.

    Under torchrun (`workers` several processes) each process runs this loop on its own
    shard, in step: `forward` is the DistributedDataParallel one, which averages gradients;
    a stop asked of any process stops all at the same batch; the epoch's sums (loss, correct,
    seen) are added over all processes, so each sees the same `EpochEnded` and takes the
    same best-model and early-stopping decisions. `scaler` (float16 on a GPU) scales the
    loss so small gradients survive half precision.
    """

    module: nn.Module
    forward: Callable[[torch.Tensor], torch.Tensor]
    train_batches: Callable[[int], Iterable[Batch]]
    val_batches: Callable[[], Iterable[Batch]]
    steps_per_epoch: int
    config: TrainConfig
    callback: Callback
    cancel: threading.Event
    generator: torch.Generator | None = None
    hooks: LoopHooks | None = None
    resume: LoopState | None = None
    workers: Workers = field(default_factory=Workers)
    scaler: torch.amp.GradScaler | None = None
    val_images: int = 0
    """This process's validation images: when given, each validation pass reports its
    progress as the "evaluate" phase (a fine-tune's pass takes seconds)."""
    loss_fn: nn.Module | None = None
    """The loss to minimise (None: cross-entropy with the config's label smoothing)."""
    figure: Callable[[torch.Tensor, torch.Tensor], float] | None = None
    """Given: the figure reported as "accuracy", from a whole pass's logits and labels (a
    multi-label run's mAP), and the one the best weights are kept by, higher being better.
    None: the share of argmax answers right, and the best weights by validation loss. (One
    process only: the pass's rows are not gathered across torchrun's processes.)"""

    def run(self) -> LoopOutcome:
        """Train from the first epoch (or the one after `resume`) to the last, or until early
        stopping or a cancel; the outcome holds the best weights seen (as the hooks chose)."""
        outcome = self._epochs()
        if self.hooks is not None:
            self.hooks.training_ended(outcome)
        return outcome

    def _epochs(self) -> LoopOutcome:
        """Every epoch `run` trains, and the outcome they leave."""
        parameters = [p for p in self.module.parameters() if p.requires_grad]
        optimizer = make_optimizer(self.config, parameters)
        total_steps = self.config.epochs * self.steps_per_epoch
        progress = _Progress(
            optimizer=optimizer,
            scheduler=make_scheduler(self.config, optimizer, total_steps),
            loss_fn=self._loss(),
            total_steps=total_steps,
            outcome=LoopOutcome([], [], None, 0, math.inf, 0.0, "completed"),
        )
        first_epoch = 1
        if self.resume is not None:
            first_epoch = self._restore(self.resume, progress, parameters)
            if self._out_of_patience(progress, self.resume.epoch):
                progress.outcome.stopped = "early_stopping"  # it had decided to stop, then died
                return progress.outcome
        for epoch in range(first_epoch, self.config.epochs + 1):
            if not self._run_epoch(epoch, progress):
                progress.outcome.stopped = "cancelled"
                return progress.outcome
            if self._out_of_patience(progress, epoch):
                progress.outcome.stopped = "early_stopping"
                break
        return progress.outcome

    def _restore(self, saved: LoopState, progress: _Progress, parameters: list[nn.Parameter]
                 ) -> int:
        """Put the module, optimizer, schedule, generators and counters back as `saved` had
        them; the epoch to carry on from."""
        self.module.load_state_dict(saved.module)
        progress.optimizer.load_state_dict(saved.optimizer)
        _match_layouts(progress.optimizer, parameters)
        progress.scheduler.load_state_dict(saved.scheduler)
        restore_rng(saved.rng, self.generator)
        progress.outcome = copy.copy(saved.outcome)
        progress.outcome.stopped = "completed"
        progress.epochs_without_progress, progress.step = saved.epochs_without_progress, saved.step
        return saved.epoch + 1

    def _out_of_patience(self, progress: _Progress, epoch: int) -> bool:
        """Early stopping: too many epochs without a better validation loss, and more to go."""
        patience = self.config.early_stopping_patience
        return bool(patience) and progress.epochs_without_progress >= patience \
            and epoch < self.config.epochs

    def _run_epoch(self, epoch: int, progress: _Progress) -> bool:
        """Train, validate, keep the best weights, save the state and report the epoch;
        False when cancelled on the way (nothing of the epoch is kept then)."""
        started = time.perf_counter()
        sums = self._train_epoch(epoch, progress)
        if sums is None:
            return False
        train_loss, train_accuracy = sums
        try:
            val_loss, val_accuracy = self._validate(progress.loss_fn)
        except Cancelled:
            return False
        is_best = self._keep_if_best(epoch, progress, val_loss, val_accuracy)
        event = EpochEnded(
            epoch=epoch, epochs=self.config.epochs,
            train_loss=train_loss, train_accuracy=train_accuracy,
            val_loss=val_loss, val_accuracy=val_accuracy,
            seconds=time.perf_counter() - started, is_best=is_best,
        )
        progress.outcome.history.append(event)
        if self.hooks is not None:
            self.hooks.epoch_ended(self._state(epoch, progress))
        self.callback(event)
        return True

    def _train_epoch(self, epoch: int, progress: _Progress) -> tuple[float, float] | None:
        """One pass over the training batches: the loss and accuracy (or figure) over all
        processes' images; None when a process was asked to stop."""
        self.module.train()
        seen = 0
        loss_sum = 0.0
        correct = torch.zeros((), dtype=torch.long)  # summed on the device: one sync a step
        rows: list[Batch] = []  # the pass's (logits, labels) when a figure needs them all
        for inputs, labels in self.train_batches(epoch):
            if self.workers.any(self.cancel.is_set()):
                return None
            step_started = time.perf_counter()
            logits, loss_value = self._step(inputs, labels, progress)
            count = labels.shape[0]
            seen += count
            loss_sum += loss_value * count
            if self.figure is None:
                correct = correct.to(labels.device) + (logits.argmax(1) == labels).sum()
            else:
                rows.append((logits.detach().cpu(), labels.cpu()))
            progress.outcome.step_losses.append(loss_value)
            self._report_step(epoch, progress, loss_value, count, step_started)
        loss_sum, right, seen = self.workers.sum([loss_sum, int(correct.item()), seen])
        return loss_sum / max(seen, 1), self._accuracy(right, seen, rows)

    def _accuracy(self, right: float, seen: float, rows: list[Batch]) -> float:
        """The share right, or the figure over a pass's `rows`."""
        if self.figure is None:
            return right / max(seen, 1)
        return self.figure(torch.cat([r[0] for r in rows]), torch.cat([r[1] for r in rows]))

    def _loss(self) -> nn.Module:
        if self.loss_fn is not None:
            return self.loss_fn
        return nn.CrossEntropyLoss(label_smoothing=self.config.label_smoothing)

    def _step(self, inputs: torch.Tensor, labels: torch.Tensor, progress: _Progress
              ) -> tuple[torch.Tensor, float]:
        """One gradient step (loss scaled under float16) and one schedule step: the logits
        and the loss."""
        logits = self.forward(inputs)
        loss = progress.loss_fn(logits, labels)
        optimizer = progress.optimizer
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)
            self.scaler.update()
        progress.scheduler.step()
        progress.step += 1
        return logits, loss.item()

    def _report_step(self, epoch: int, progress: _Progress, loss_value: float, count: int,
                     step_started: float) -> None:
        """A `StepEnded` about 50 times an epoch and at its last step, not at every step."""
        step = progress.step
        report_every = max(1, self.steps_per_epoch // 50)
        if step % report_every == 0 or step % self.steps_per_epoch == 0:
            elapsed = max(time.perf_counter() - step_started, 1e-9)
            self.callback(StepEnded(
                epoch=epoch, step=step, total_steps=progress.total_steps, loss=loss_value,
                learning_rate=float(progress.optimizer.param_groups[0]["lr"]),
                images_per_second=count / elapsed,
            ))

    def _keep_if_best(self, epoch: int, progress: _Progress, val_loss: float,
                      val_accuracy: float) -> bool:
        """Keep a copy of the weights when the validation loss (or figure) beat the best so
        far, else count one more epoch without progress; whether it did."""
        outcome = progress.outcome
        better = (val_loss < outcome.best_val_loss) if self.figure is None else (
            outcome.best_state is None or val_accuracy > outcome.best_val_accuracy)
        if better:
            outcome.best_state = copy.deepcopy(self.module.state_dict())
            outcome.best_epoch = epoch
            outcome.best_val_loss = val_loss
            outcome.best_val_accuracy = val_accuracy
            progress.epochs_without_progress = 0
            return True
        progress.epochs_without_progress += 1
        return False

    def score(self, state: dict[str, torch.Tensor]) -> tuple[float, float]:
        """Validation (loss, accuracy) of the module with `state` loaded (it stays loaded)."""
        self.module.load_state_dict(state)
        return self._validate(self._loss())

    def _state(self, epoch: int, progress: _Progress) -> LoopState:
        """The loop as it stands at the end of `epoch`, for `hooks.epoch_ended`."""
        return LoopState(
            epoch=epoch, step=progress.step,
            epochs_without_progress=progress.epochs_without_progress,
            outcome=copy.copy(progress.outcome), module=_cpu(self.module.state_dict()),
            optimizer=progress.optimizer.state_dict(), scheduler=progress.scheduler.state_dict(),
            rng=capture_rng(self.generator),
        )

    def _validate(self, loss_fn: nn.Module) -> tuple[float, float]:
        """Loss and accuracy over all processes' validation batches (each may have a
        different number: a stop is only agreed on once all are done)."""
        self.workers.align_buffers(self.module)
        self.module.eval()
        seen = correct = 0
        loss_sum = 0.0
        cancelled = False
        rows: list[Batch] = []
        started = time.perf_counter()
        with torch.no_grad():
            for inputs, labels in self.val_batches():
                if self.cancel.is_set():
                    cancelled = True
                    break
                logits = self.forward(inputs)
                loss_sum += float(loss_fn(logits, labels).item()) * labels.shape[0]
                if self.figure is None:
                    correct += int((logits.argmax(1) == labels).sum().item())
                else:
                    rows.append((logits.cpu(), labels.cpu()))
                seen += labels.shape[0]
                if self.val_images:
                    rate = seen / max(time.perf_counter() - started, 1e-9)
                    self.callback(PhaseProgress("evaluate", seen, self.val_images, rate))
        loss_sum, correct, seen, stops = self.workers.sum([loss_sum, correct, seen, cancelled])
        if stops:
            raise Cancelled
        return loss_sum / max(seen, 1), self._accuracy(correct, seen, rows)


def capture_rng(generator: torch.Generator | None) -> dict[str, Any]:
    """The state of every generator an epoch may draw from (see the module docstring)."""
    version, internal, gauss = random.getstate()
    kind, keys, position, has_gauss, cached = np.random.get_state()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": [version, list(internal), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached],
    }
    if generator is not None:
        states["generator"] = generator.get_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng(states: dict[str, Any], generator: torch.Generator | None) -> None:
    torch.set_rng_state(states["torch"])
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    if generator is not None and "generator" in states:
        generator.set_state(states["generator"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().cpu().clone() for name, tensor in state.items()}


def _match_layouts(optimizer: torch.optim.Optimizer, parameters: list[nn.Parameter]) -> None:
    """Give restored optimizer buffers their parameter's device and memory layout (saved
    ones are contiguous; channels-last weights had channels-last buffers), so the resumed
    updates run exactly the code path the uninterrupted run did."""
    for parameter in parameters:
        for key, value in optimizer.state.get(parameter, {}).items():
            if isinstance(value, torch.Tensor) and value.shape == parameter.shape:
                optimizer.state[parameter][key] = torch.empty_like(parameter).copy_(value)


def make_optimizer(config: TrainConfig, parameters: list[nn.Parameter]) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.learning_rate,
                                weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=config.learning_rate, momentum=0.9,
                               weight_decay=config.weight_decay, nesterov=True)
    return torch.optim.AdamW(parameters, lr=config.learning_rate,
                             weight_decay=config.weight_decay)


def make_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer, total_steps: int
                   ) -> torch.optim.lr_scheduler.LRScheduler:
    """Cosine decay stepped per batch (the tutorial's), or a constant rate."""
    if config.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _step: 1.0)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))
    )
