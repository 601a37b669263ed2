"""The held-out signal: class probabilities from linear heads that never saw the image.

A small linear head is trained on the network's features K times, each time without one fold
of the images. A photo that a model not trained on it puts in another class is probably in
the wrong folder. Duplicate and near-duplicate photos share a fold, or a copy would leak its
label.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch
import torch.nn.functional as F

from training.data.splitting import draw_key, groups_by_class
from training.records.dataset import Dataset
from training.records.events import Cancelled

HEAD_L2 = 1e-4
"""Weight decay of the held-out head. Weak, so ordinary photos get confident held-out
probabilities (median 0.999 on the real photos) and doubt stands out; 1e-3 left a tenth of
the clean photos below 0.87."""
HEAD_ITERATIONS = 60
"""L-BFGS iterations per fold; the real photos' probabilities stop changing after ~30."""


def fold_count(dataset: Dataset, folds: int) -> int:
    """`folds`, but no more than the smallest class has images, so each fold can hold one.

    A class of one image does not count: it cannot be held out in any number of folds, and
    letting it cut the count to two would halve every other image's training data.
    """
    counts = [count for count in dataset.class_counts.values() if count > 1]
    return max(2, min(folds, *counts) if counts else folds)


def assign_folds(dataset: Dataset, folds: int, seed: int) -> torch.Tensor:
    """Fold number per image: stratified by class, each duplicate group inside one fold.

    A copy of a held-out photo in the training folds would teach the head that photo's
    label, and the held-out verdict would only repeat the folder name. Groups are dealt
    largest first, in an order drawn from `seed` by a keyed hash (the same on every machine),
    each to the fold that holds the fewest images of its class so far.
    """
    fold = [0] * len(dataset.images)
    for label, groups in sorted(groups_by_class(dataset).items()):
        groups.sort(key=lambda indices: (-len(indices), draw_key(dataset, indices, seed)))
        load = [0] * folds
        for indices in groups:
            # Ties go to a different fold for each class, so folds come out the same size.
            target = min(range(folds), key=lambda f: (load[f], (f - label) % folds))
            for index in indices:
                fold[index] = target
            load[target] += len(indices)
    return torch.tensor(fold, dtype=torch.long)


def held_out_probabilities(
    points: torch.Tensor, labels: torch.Tensor, fold: torch.Tensor, n_classes: int,
    step: Callable[[int], None], cancel: threading.Event,
) -> torch.Tensor:
    """(N, C) class probabilities from heads trained without each image's fold.

    Rows stay NaN for images whose class has no image in the training folds (a one-photo
    class): a head that never saw the class would call every such photo mislabelled.
    `step` is told the number of images judged after each fold.
    """
    probabilities = torch.full((len(points), n_classes), float("nan"))
    folds = int(fold.max()) + 1
    for current in range(folds):
        if cancel.is_set():
            raise Cancelled
        test = (fold == current).nonzero().squeeze(1)
        train = (fold != current).nonzero().squeeze(1)
        seen = torch.bincount(labels[train], minlength=n_classes) > 0
        head = _fit_head(points[train], labels[train], n_classes)
        with torch.no_grad():
            predicted = head(points[test]).softmax(1)
        judged = seen[labels[test]]
        probabilities[test[judged]] = predicted[judged]
        step(len(test))
    return probabilities


def _fit_head(points: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.nn.Linear:
    """Softmax regression; classes weighted by inverse frequency so a large class does not
    swallow a small one."""
    counts = torch.bincount(labels, minlength=n_classes).float()
    present = int((counts > 0).sum())
    weight = torch.where(counts > 0, len(labels) / (present * counts.clamp(min=1)), 0.0)
    return fit_linear_head(points, n_classes,
                           lambda logits: F.cross_entropy(logits, labels, weight=weight))


def fit_linear_head(points: torch.Tensor, outputs: int,
                    loss_of: Callable[[torch.Tensor], torch.Tensor]) -> torch.nn.Linear:
    """A linear head minimising `loss_of(logits)` plus an L2 pull (`HEAD_L2`), full batch, by
    L-BFGS from zero weights: the problem is convex and starts from zeros, so the result
    needs no random seed. The single- and multi-label finders both judge with it."""
    head = torch.nn.Linear(points.shape[1], outputs)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    optimiser = torch.optim.LBFGS(head.parameters(), max_iter=HEAD_ITERATIONS,
                                  line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = loss_of(head(points)) + HEAD_L2 * head.weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimiser.step(closure)
    return head
