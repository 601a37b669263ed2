"""A multi-label head on stored features: one sigmoid per label, fitted to convergence.

The features are stored and the head is one linear layer, so its loss is convex and small
enough to minimise outright: full-batch L-BFGS, as a per-label logistic regression is
fitted, instead of single-label quick mode's mini-batch Adam with early stopping. Measured
on the multi-label benchmark (docs/benchmarks.md, "Multi-label"), the early-stopped Adam head
was kept at epoch 3–9 by a validation loss over about six rare positives, and lost 0.06 mAP
to a plain converged regression; the converged head does not depend on when it stopped.

The objective is the pos-weighted BCE averaged over photos and labels plus
½·`L2`·‖W − W₀‖². W₀ is zero for a fresh head, or ImageNet's rows for labels that are
ImageNet categories (`multilabel.py`): there the prior is what the head is drawn back to,
the convex form of "start from ImageNet's rows". `L2` = 1e-3 was chosen on the benchmark's
validation images (3e-4 ties it; 1e-2 is about 0.01 mAP worse), never on its test images.

Imbalance is the rule here (a label on 5 % of the photos), so each label's positives are
weighted by its negatives/positives ratio in training (`pos_weight`): the loss then counts a
label's positives and negatives equally, and a rare label is not learned as "always absent",
which the plain loss finds cheapest. The weights are capped at `MAX_POSITIVE_WEIGHT` so that
one positive among thousands cannot dominate. On the benchmark the weighting leaves the
ranking (AP) as it is, lifts the mosaics' test macro-F1 (0.869 against 0.825) and leaves
the attribute sets' as it is (0.910 against 0.911).

The run still speaks quick mode's frozen events, so the live plots draw it unchanged: an
"epoch" is `ITERATIONS_PER_EPOCH` L-BFGS iterations over the whole training set (one
`StepEnded`), followed by the validation figures (`EpochEnded`: weighted BCE and exact
match at 0.5). Each epoch's head is the best so far (the objective only goes down), and
the run ends early, "completed", once L-BFGS has converged.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from dataclasses import dataclass

import torch
from torch import nn

from training.records.config import TrainConfig
from training.records.events import Callback, EpochEnded, StepEnded

MAX_POSITIVE_WEIGHT = 100.0
L2 = 1e-3
ITERATIONS_PER_EPOCH = 20


@dataclass(frozen=True)
class HeadOutcome:
    """The fitted head (None when cancelled before the first epoch ended) and its run."""

    state: dict[str, torch.Tensor] | None
    history: tuple[EpochEnded, ...]
    best_epoch: int
    best_val_loss: float
    best_val_exact: float
    stopped: str
    """"completed" or "cancelled"."""


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
    """Fit `head` on (features, 0/1 float targets), drawn towards `prior` (the weights W₀,
    zero when None); `run()` gives the `HeadOutcome`. `emit` receives the events; pass
    `ignore_event` for a fit the plots should not show."""

    head: nn.Linear
    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    config: TrainConfig
    emit: Callback
    cancel: threading.Event
    prior: torch.Tensor | None = None

    def __post_init__(self) -> None:
        self.loss_fn = nn.BCEWithLogitsLoss(pos_weight=positive_weights(self.train[1]))
        self.anchor = (torch.zeros_like(self.head.weight) if self.prior is None
                       else self.prior.detach().to(self.head.weight).clone())
        with torch.no_grad():
            self.head.weight.copy_(self.anchor)
            self.head.bias.zero_()
        self.optimizer = torch.optim.LBFGS(
            list(self.head.parameters()), lr=1, max_iter=ITERATIONS_PER_EPOCH,
            max_eval=10 * ITERATIONS_PER_EPOCH, tolerance_grad=1e-6, tolerance_change=1e-9,
            history_size=20,
            line_search_fn="strong_wolfe")

    def objective(self) -> torch.Tensor:
        """Weighted training BCE + ½·L2·‖W − W₀‖² (the bias is not drawn anywhere)."""
        features, targets = self.train
        loss = self.loss_fn(self.head(features), targets)
        return loss + 0.5 * L2 * ((self.head.weight - self.anchor) ** 2).sum()

    def run(self) -> HeadOutcome:
        state, history, stopped = None, [], "completed"
        self.head.train()
        for epoch in range(1, self.config.epochs + 1):
            if self.cancel.is_set():
                stopped = "cancelled"
                break
            started = time.perf_counter()
            converged = self._fit_epoch(epoch)
            train_loss, train_exact = self.score(self.train)
            val_loss, val_exact = self.score(self.val)
            state = copy.deepcopy(self.head.state_dict())
            event = EpochEnded(epoch=epoch, epochs=self.config.epochs, train_loss=train_loss,
                               train_accuracy=train_exact, val_loss=val_loss,
                               val_accuracy=val_exact, seconds=time.perf_counter() - started,
                               is_best=True)
            history.append(event)
            self.emit(event)
            if converged:
                break
        last = history[-1] if history else None
        return HeadOutcome(state, tuple(history), last.epoch if last else 0,
                           last.val_loss if last else math.inf,
                           last.val_accuracy if last else 0.0, stopped)

    def _fit_epoch(self, epoch: int) -> bool:
        """Up to `ITERATIONS_PER_EPOCH` L-BFGS iterations; whether it converged."""
        began = time.perf_counter()

        def closure() -> torch.Tensor:
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.objective()
            loss.backward()
            return loss

        before = self._iterations()
        loss = float(self.optimizer.step(closure).detach())
        done = self._iterations() - before
        self.emit(StepEnded(
            epoch=epoch, step=epoch, total_steps=self.config.epochs, loss=loss,
            learning_rate=1.0,
            images_per_second=len(self.train[0]) * max(done, 1)
            / max(time.perf_counter() - began, 1e-9)))
        return done < ITERATIONS_PER_EPOCH

    def _iterations(self) -> int:
        state = self.optimizer.state[self.head.weight]
        return int(state.get("n_iter", 0))

    def score(self, part: tuple[torch.Tensor, torch.Tensor]) -> tuple[float, float]:
        """(weighted BCE, exact match at 0.5) of the head as it is on `part`."""
        features, targets = part
        with torch.no_grad():
            logits = self.head(features)
            return (float(self.loss_fn(logits, targets).item()),
                    float(_exact(logits, targets).float().mean().item()))


def _exact(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per row, whether every label at 0.5 (logit 0) is right."""
    return ((logits >= 0) == (targets > 0.5)).all(1)
