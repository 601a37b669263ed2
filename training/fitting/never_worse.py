"""Never worse than the start: the kept model is chosen among blends of the trained weights
and the weights training started from, on validation.

When every class name is an ImageNet category, training starts from a model that already
works: ImageNet's own classifier rows for those categories, i.e. the zero-shot baseline. On a
small dataset, training can make it worse (seen: validation accuracy 0.961 after quick
training against a baseline of 0.980). So the start is kept as a candidate, and so are the
weight-space blends between it and the trained weights, `start + share * (trained - start)`
(WiSE-FT, Wortsman et al. 2022: the blend is often better than either end, because it keeps
the broad knowledge of the start and the dataset's own corrections). The chosen candidate is
never worse than the start on validation, in accuracy and in loss; among those it is the most
accurate, then the lowest loss, then the most trained.

A linear head's blends cost nothing to score (one matrix product over the validation
features), so quick mode scores the whole grid. A fine-tuned network's blends cost a
validation pass each, so fine-tune mode scores them only when the trained weights alone are
worse than the start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from training.records.kept import Kept

State = dict[str, torch.Tensor]
Scores = tuple[float, float]
"""Validation (loss, accuracy)."""

QUICK_SHARES = tuple(step / 10 for step in range(11))
"""Quick mode: the share of the trained head in each candidate, 0 (the start) to 1."""
FINETUNE_SHARES = (0.75, 0.5, 0.25)
"""Fine-tune mode: the blends tried (most trained first) when the trained network is worse
than the start."""


def blend(start: State, trained: State, share: float) -> State:
    """`start + share * (trained - start)` for every floating tensor; counters (a batch
    norm's `num_batches_tracked`) are the trained ones."""
    return {
        name: torch.lerp(start[name].to(tensor), tensor, share)
        if tensor.is_floating_point() else tensor.clone()
        for name, tensor in trained.items()
    }


def choose(start: State, start_scores: Scores, trained: State, trained_scores: Scores,
           score: Callable[[State], Scores], shares: Iterable[float]) -> tuple[State, Kept]:
    """The best candidate that is not worse than the start (see the module docstring).

    `score` gives a state's validation (loss, accuracy); `shares` are the blends to try
    besides the two ends, whose scores are given.
    """
    candidates: dict[float, tuple[State, Scores]] = {
        0.0: (start, start_scores), 1.0: (trained, trained_scores)}
    for share in shares:
        if share not in candidates:
            state = blend(start, trained, share)
            candidates[share] = (state, score(state))
    start_loss, start_accuracy = start_scores

    def rank(share: float) -> tuple[float, float, float]:
        loss, accuracy = candidates[share][1]
        return (-accuracy, loss, -share)

    allowed = [share for share, (_, (loss, accuracy)) in candidates.items()
               if accuracy >= start_accuracy and loss <= start_loss]
    share = min(allowed, key=rank)
    state, (loss, accuracy) = candidates[share]
    return state, Kept(share, loss, accuracy, start_loss, start_accuracy)


def needs_blending(start_scores: Scores, trained_scores: Scores) -> bool:
    """Whether the trained weights are worse than the start in accuracy or loss."""
    return trained_scores[1] < start_scores[1] or trained_scores[0] > start_scores[0]
