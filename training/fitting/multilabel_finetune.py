"""Multi-label fine-tuning: the whole network trains, starting from quick mode's head.

`fit_multilabel` in fine-tune mode first fits quick mode's head on the stored features
(`multilabel_head`, to convergence), so fine-tuning never starts from a random head: the
pretrained network with that head is the start. Every weight then trains as single-label
fine-tuning trains it: `finetune`'s forward pass (channels-last, autocast on a GPU), its
shuffled and augmented batches of the decoded-once pixels, and `loop.EpochLoop`'s optimiser,
cosine schedule, epochs, early stopping, progress events and Stop at the next batch. Three
things differ; the loop takes the first two as arguments:

- the loss is BCE with logits, each label's positives weighted by its negatives/positives
  ratio in training (`multilabel_head.positive_weights`, capped at 100), so a label on 5 % of
  the photos is learned instead of being answered "absent", which the plain loss finds
  cheapest;
- the figure the events report as "accuracy" (the Train page's curve, titled so) is the
  validation mAP, over the labels with a positive there, and the best epoch is the one with
  the highest;
- batch normalisation keeps its pretrained running statistics (its scales and shifts still
  train). The head was fitted on features normalised by those statistics; with batch
  statistics (batches of 16) and running statistics drifting towards them, the features
  move under the head. Measured on the benchmark's mosaics (seed 0, 480 training photos,
  2 epochs): validation mAP 0.926 / 0.927 after epochs 1 / 2 with the statistics training,
  0.988 / 0.985 kept, against the quick head's 0.989 (docs/benchmarks.md, "Multi-label").

Never worse: the kept epoch must beat the start's validation mAP (the quick head's, on the
same validation photos), or the start is kept, and a note says so (as single-label's
never-worse choice does); a run stopped before its first epoch ended keeps the start too
(Stop keeps the best model so far).
The kept network's validation logits then choose each label's threshold and temperature
(`multilabel.py`).

Not done: resuming a stopped run (no checkpoint is kept), torchrun, the "none of these"
reference.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from training.fitting.finetune import _forward, _train_batches, _val_batches
from training.fitting.loop import Batch, EpochLoop
from training.fitting.multilabel_head import positive_weights
from training.fitting.multilabel_metrics import average_precision
from training.fitting.run_context import RunContext
from training.records.events import Cancelled, EpochEnded, PhaseProgress

STOPPED_FIRST = ("Stopped before the first fine-tuning epoch ended, so the quick-mode model "
                 "was kept.")


@dataclass(frozen=True)
class Tuned:
    """What fine-tuning ended with. `logits` (validation, in the split's order) are the
    fine-tuned network's, which the context's network now holds; None when the start was
    kept (the network holds it again)."""

    history: tuple[EpochEnded, ...]
    step_losses: tuple[float, ...]
    best_epoch: int
    """The kept epoch; 0 when the start was kept."""
    best_val_loss: float
    best_val_map: float
    stopped: str
    logits: torch.Tensor | None
    note: str | None = None
    """Why the start was kept, when it was."""


def mean_average_precision(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean AP of `scores` (N, L: logits or probabilities) against 0/1 `targets`, over the
    labels with a positive among the N (0 when none has)."""
    values = scores.detach().float().cpu().numpy()
    truth = targets.detach().cpu().numpy() > 0.5
    aps = [average_precision(values[:, j], truth[:, j]) for j in range(truth.shape[1])
           if truth[:, j].any()]
    return float(np.mean(aps)) if aps else 0.0


def finetune_multilabel(run: RunContext, targets: torch.Tensor, start: tuple[float, float]
                        ) -> Tuned:
    """Fine-tune `run.network` (its classifier already quick mode's head) on `targets` (N, L
    floats for every photo of the dataset); `start` is that network's validation (mAP, loss),
    the figure to beat."""
    config, split, network = run.config, run.split, run.network
    start_map, start_loss = start
    start_state = copy.deepcopy(network.state_dict())
    try:
        train_pixels, val_pixels = run.decode(split.train)
    except Cancelled:
        return Tuned((), (), 0, start_loss, start_map, "cancelled", None, STOPPED_FIRST)
    train_targets, val_targets = targets[list(split.train)], targets[list(split.val)]
    network = network.to(run.device, memory_format=torch.channels_last)
    forward, scaler = _forward(run, network)
    forward = _keeping_norm_statistics(network, forward)
    val_batches = _val_batches(run, val_pixels, val_targets)
    loop = EpochLoop(
        network, forward, _train_batches(run, train_pixels, train_targets), val_batches,
        -(-len(split.train) // config.batch_size), config, run.emit, run.cancel,
        generator=run.draws, scaler=scaler, val_images=len(split.val),
        loss_fn=nn.BCEWithLogitsLoss(pos_weight=positive_weights(train_targets).to(run.device)),
        figure=mean_average_precision)
    outcome = loop.run()
    history, steps = tuple(outcome.history), tuple(outcome.step_losses)
    if outcome.best_state is None or not outcome.best_val_accuracy > start_map:
        network.load_state_dict(start_state)
        note = STOPPED_FIRST if outcome.best_state is None else (
            f"Fine-tuning did no better than the quick-mode head on validation (mAP "
            f"{outcome.best_val_accuracy:.3f} at its best epoch, {outcome.best_epoch}, against "
            f"{start_map:.3f}), so the quick-mode model was kept. More photos per label "
            "usually help.")
        return Tuned(history, steps, 0, start_loss, start_map, outcome.stopped, None, note)
    network.load_state_dict(outcome.best_state)
    logits = _logits(run, forward, network, val_batches)
    return Tuned(history, steps, outcome.best_epoch, outcome.best_val_loss,
                 outcome.best_val_accuracy, outcome.stopped, logits)


def _keeping_norm_statistics(network: nn.Module,
                             forward: Callable[[torch.Tensor], torch.Tensor]
                             ) -> Callable[[torch.Tensor], torch.Tensor]:
    """`forward`, with every batch-norm layer in eval mode while the network trains (the
    loop sets the whole network to training mode each epoch): normalised by the running
    statistics the head was fitted under, which stay as they are."""
    norms = [m for m in network.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def keeping(inputs: torch.Tensor) -> torch.Tensor:
        if network.training:
            for norm in norms:
                norm.train(False)
        return forward(inputs)

    return keeping


def _logits(run: RunContext, forward: Callable[[torch.Tensor], torch.Tensor],
           network: nn.Module, batches: Callable[[], Iterator[Batch]]) -> torch.Tensor:
    """The kept network's logits on the validation photos, for the thresholds and the
    calibration (logits, not sigmoids: a float32 sigmoid of 20 is 1, whose logit is lost). Not
    cancellable: a Stop keeps the best model so far, and this pass is what saving it needs
    (seconds, reported as the "evaluate" phase)."""
    network.eval()
    chunks: list[torch.Tensor] = []
    started, done, total = time.perf_counter(), 0, len(run.split.val)
    with torch.no_grad():
        for inputs, _ in batches():
            chunks.append(forward(inputs).float().cpu())
            done += len(inputs)
            run.emit(PhaseProgress("evaluate", done, total,
                                   done / max(time.perf_counter() - started, 1e-9)))
    return torch.cat(chunks)
