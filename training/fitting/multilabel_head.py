"""A multi-label head on stored features: one sigmoid per label, trained with BCE.

Single-label quick mode's `EpochLoop` is built around one softmax (cross-entropy, argmax
accuracy); a multi-label head needs a loss per label and another "accuracy", so it trains
here, with the same schedule, optimizer, validation after every epoch, best weights by
validation loss, early stopping and frozen events (`StepEnded`, `EpochEnded`): the live
plots draw it unchanged. Its "accuracy" is exact match at 0.5 (every label of a photo
right), the honest multi-label reading of the word.

Imbalance is the rule here (a label on 5 % of the photos), so each label's positives are
weighted by its negatives/positives ratio in training (`BCEWithLogitsLoss(pos_weight=…)`):
the loss then counts a label's positives and negatives equally, and a rare label is not
learned as "always absent", which the plain loss finds cheapest. The weights are capped at
`MAX_POSITIVE_WEIGHT` so that one positive among thousands cannot dominate the gradient.
Validation uses the same weighted loss, so early stopping watches what training optimises.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from dataclasses import dataclass

import torch
from torch import nn

from training.fitting.loop import make_optimizer, make_scheduler
from training.records.config import TrainConfig
from training.records.events import Callback, EpochEnded, StepEnded

MAX_POSITIVE_WEIGHT = 100.0


@dataclass(frozen=True)
class HeadOutcome:
    """The best head (None when cancelled before the first epoch ended) and its run."""

    state: dict[str, torch.Tensor] | None
    history: tuple[EpochEnded, ...]
    best_epoch: int
    best_val_loss: float
    best_val_exact: float
    stopped: str
    """"completed", "early_stopping" or "cancelled"."""


def positive_weights(targets: torch.Tensor) -> torch.Tensor:
    """Per label, negatives/positives in `targets` (N, L), capped; 1 for a label without
    positives or negatives (nothing to balance)."""
    positives = targets.sum(0)
    negatives = len(targets) - positives
    ratio = torch.where((positives > 0) & (negatives > 0),
                        negatives / positives.clamp(min=1), torch.ones_like(positives))
    return ratio.clamp(max=MAX_POSITIVE_WEIGHT)


@dataclass
class HeadTraining:
    """Train `head` on (features, 0/1 float targets); `run()` gives the `HeadOutcome`."""

    head: nn.Linear
    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    config: TrainConfig
    generator: torch.Generator
    emit: Callback
    cancel: threading.Event

    def __post_init__(self) -> None:
        self.loss_fn = nn.BCEWithLogitsLoss(pos_weight=positive_weights(self.train[1]))
        self.steps_per_epoch = max(1, -(-len(self.train[0]) // self.config.batch_size))
        self.total_steps = self.steps_per_epoch * self.config.epochs
        self.optimizer = make_optimizer(self.config, list(self.head.parameters()))
        self.scheduler = make_scheduler(self.config, self.optimizer, self.total_steps)
        self.step = 0

    def run(self) -> HeadOutcome:
        best_state, best_epoch, best_loss, best_exact = None, 0, math.inf, 0.0
        history: list[EpochEnded] = []
        stopped, waited = "completed", 0
        patience = self.config.early_stopping_patience
        for epoch in range(1, self.config.epochs + 1):
            started = time.perf_counter()
            sums = self._train_epoch(epoch)
            if sums is None:
                stopped = "cancelled"
                break
            val_loss, val_exact = self.score(self.val)
            is_best = val_loss < best_loss
            if is_best:
                best_state = copy.deepcopy(self.head.state_dict())
                best_epoch, best_loss, best_exact, waited = epoch, val_loss, val_exact, 0
            else:
                waited += 1
            event = EpochEnded(epoch=epoch, epochs=self.config.epochs, train_loss=sums[0],
                               train_accuracy=sums[1], val_loss=val_loss,
                               val_accuracy=val_exact, seconds=time.perf_counter() - started,
                               is_best=is_best)
            history.append(event)
            self.emit(event)
            if patience and waited >= patience and epoch < self.config.epochs:
                stopped = "early_stopping"
                break
        return HeadOutcome(best_state, tuple(history), best_epoch, best_loss, best_exact,
                           stopped)

    def _train_epoch(self, epoch: int) -> tuple[float, float] | None:
        """One shuffled pass: mean loss and exact match; None when cancelled."""
        features, targets = self.train
        self.head.train()
        order = torch.randperm(len(features), generator=self.generator).to(features.device)
        loss_sum = exact = 0.0
        for start in range(0, len(features), self.config.batch_size):
            if self.cancel.is_set():
                return None
            began = time.perf_counter()
            chosen = order[start:start + self.config.batch_size]
            logits = self.head(features[chosen])
            loss = self.loss_fn(logits, targets[chosen])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
            loss_sum += loss.item() * len(chosen)
            exact += float(_exact(logits.detach(), targets[chosen]).sum())
            self._report(epoch, loss.item(), len(chosen), began)
        return loss_sum / len(features), exact / len(features)

    def _report(self, epoch: int, loss: float, count: int, began: float) -> None:
        """A `StepEnded` about 50 times an epoch and at its last step, as quick mode does."""
        every = max(1, self.steps_per_epoch // 50)
        if self.step % every == 0 or self.step % self.steps_per_epoch == 0:
            self.emit(StepEnded(
                epoch=epoch, step=self.step, total_steps=self.total_steps, loss=loss,
                learning_rate=float(self.optimizer.param_groups[0]["lr"]),
                images_per_second=count / max(time.perf_counter() - began, 1e-9)))

    def score(self, part: tuple[torch.Tensor, torch.Tensor]) -> tuple[float, float]:
        """(weighted BCE, exact match at 0.5) of the head as it is on `part`."""
        features, targets = part
        self.head.eval()
        with torch.no_grad():
            logits = self.head(features)
            return (float(self.loss_fn(logits, targets).item()),
                    float(_exact(logits, targets).float().mean().item()))


def _exact(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per row, whether every label at 0.5 (logit 0) is right."""
    return ((logits >= 0) == (targets > 0.5)).all(1)
