"""The epoch loop both training modes share.

Quick mode trains a linear head on cached features and fine-tune mode the whole network on
cached pixels; everything around the gradient step is the same: the schedule, validation
after every epoch, keeping the best weights (by validation loss), early stopping, progress
events and cancellation at batch boundaries. It lives here once.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from training.config import TrainConfig
from training.events import Callback, Cancelled, EpochEnded, StepEnded

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
class EpochLoop:
    """`train_batches(epoch)` yields (inputs, labels); `forward(inputs)` gives logits."""

    module: nn.Module
    forward: Callable[[torch.Tensor], torch.Tensor]
    train_batches: Callable[[int], Iterable[Batch]]
    val_batches: Callable[[], Iterable[Batch]]
    steps_per_epoch: int
    config: TrainConfig
    callback: Callback
    cancel: threading.Event

    def run(self) -> LoopOutcome:
        config = self.config
        optimizer = make_optimizer(config, [p for p in self.module.parameters() if p.requires_grad])
        total_steps = config.epochs * self.steps_per_epoch
        scheduler = make_scheduler(config, optimizer, total_steps)
        loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        report_every = max(1, self.steps_per_epoch // 50)
        outcome = LoopOutcome([], [], None, 0, math.inf, 0.0, "completed")
        epochs_without_progress = 0
        step = 0
        for epoch in range(1, config.epochs + 1):
            started = time.perf_counter()
            self.module.train()
            seen = 0
            loss_sum = 0.0
            correct = torch.zeros((), dtype=torch.long)  # summed on the device: one sync a step
            for inputs, labels in self.train_batches(epoch):
                if self.cancel.is_set():
                    outcome.stopped = "cancelled"
                    return outcome
                step_started = time.perf_counter()
                logits = self.forward(inputs)
                loss = loss_fn(logits, labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                step += 1
                loss_value = loss.item()
                count = labels.shape[0]
                seen += count
                loss_sum += loss_value * count
                correct = correct.to(labels.device) + (logits.argmax(1) == labels).sum()
                outcome.step_losses.append(loss_value)
                if step % report_every == 0 or step % self.steps_per_epoch == 0:
                    elapsed = max(time.perf_counter() - step_started, 1e-9)
                    self.callback(StepEnded(
                        epoch=epoch, step=step, total_steps=total_steps, loss=loss_value,
                        learning_rate=float(optimizer.param_groups[0]["lr"]),
                        images_per_second=count / elapsed,
                    ))
            try:
                val_loss, val_accuracy = self._validate(loss_fn)
            except Cancelled:
                outcome.stopped = "cancelled"
                return outcome
            is_best = val_loss < outcome.best_val_loss
            if is_best:
                outcome.best_state = copy.deepcopy(self.module.state_dict())
                outcome.best_epoch = epoch
                outcome.best_val_loss = val_loss
                outcome.best_val_accuracy = val_accuracy
                epochs_without_progress = 0
            else:
                epochs_without_progress += 1
            event = EpochEnded(
                epoch=epoch, epochs=config.epochs,
                train_loss=loss_sum / max(seen, 1),
                train_accuracy=int(correct.item()) / max(seen, 1),
                val_loss=val_loss, val_accuracy=val_accuracy,
                seconds=time.perf_counter() - started, is_best=is_best,
            )
            outcome.history.append(event)
            self.callback(event)
            patience = config.early_stopping_patience
            if patience and epochs_without_progress >= patience and epoch < config.epochs:
                outcome.stopped = "early_stopping"
                break
        return outcome

    def _validate(self, loss_fn: nn.Module) -> tuple[float, float]:
        self.module.eval()
        seen = correct = 0
        loss_sum = 0.0
        with torch.no_grad():
            for inputs, labels in self.val_batches():
                if self.cancel.is_set():
                    raise Cancelled
                logits = self.forward(inputs)
                loss_sum += float(loss_fn(logits, labels).item()) * labels.shape[0]
                correct += int((logits.argmax(1) == labels).sum().item())
                seen += labels.shape[0]
        return loss_sum / max(seen, 1), correct / max(seen, 1)


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
