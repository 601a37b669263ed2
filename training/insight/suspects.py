"""The likely-mislabelled finder: which photos probably do not belong in their class folder.

Web-gathered datasets are never clean: a `cheetah/` folder holds leopards, a house cat and
some meerkats; `lion/` holds a stone lion and two pumas. Each kind of error shows in a
different signal, so every usable image gets three, all computed from one forward pass of the
pretrained ImageNet network (its features kept in the feature store, so quick training,
evaluation and classification of the same photos do not compute them again):

- held-out: a small linear head is trained on the network's features K times, each time
  without one fold of the images, and gives the held-out images' class probabilities. A photo
  that a model not trained on it puts in another class is probably in the wrong folder.
  Duplicate and near-duplicate photos share a fold, or a copy would leak its label.
- outlier: how far the photo's features lie from its nearest class mates, compared with how
  far they usually lie. This catches what belongs to none of the classes (a statue, a
  drawing, a third animal), which the held-out head, forced to choose a class, can miss.
- imagenet: the untouched ImageNet model's opinion against what the class is: the ImageNet
  categories its name matches (`imagenet.match_class`) or, for a name ImageNet does not know
  (`group_1`, `defect`), the folder's kinds: the categories the model sees first in most of
  its photos. A photo in a folder of cheetahs that it calls a leopard with high confidence
  is "a different kind of thing" either way. This catches a whole cluster of wrong photos
  (two dozen leopards in `cheetah/`), which the other two signals learn to accept as normal
  for the class. A name that matches a category of another sense, and a folder that the
  model sees as many different things, are ignored (`suspect_signals.own_categories`).
  Where the ImageNet model surely sees a photo as its folder's kind, the held-out head's
  doubt about it counts for less (`suspect_verdict.imagenet_agreement`).

Copies of one photo in two class folders (`Dataset.duplicate_groups`) are judged together
(`suspect_copies`): the copy whose folder the evidence disagrees with is flagged, naming
where the right copy is; the right copy is not. Where the evidence cannot tell, the pair is
one entry.

At most `FLAG_SHARE` of the photos are flagged; the rest of the doubtful ones are "also
worth a look" (`Suspect.worth_a_look`), ranked below, so the first screen is what to fix.

The signals are combined into one score in [0, 1] (see `suspect_verdict.combine`), with
reasons in words. Nothing is written anywhere; the caller decides what to do with the report.

This module runs the finder; `suspect_held_out` and `suspect_signals` compute the signals and
`suspect_verdict` weighs and words them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import torch

from training.core.errors import DatasetError
from training.core.events import PhaseProgress, ignore_event
from training.data.dataset import Dataset
from training.insight.suspect_copies import judge_copies
from training.insight.suspect_held_out import assign_folds, fold_count, held_out_probabilities
from training.insight.suspect_signals import (
    block_rows,
    centred_unit,
    group_ids,
    neighbour_distances,
    own_categories,
)
from training.insight.suspect_verdict import (
    FLAG_SCORE,
    Suspect,
    SuspectReport,
    cap_flags,
    judge,
)
from training.models.backbones import DEFAULT_BACKBONE
from training.models.embedding import default_store, embed_dataset
from training.models.features import FeatureCounter
from training.models.frozen import pretrained_frozen

__all__ = ["FLAG_SCORE", "Suspect", "SuspectReport", "assess", "assign_folds", "find_suspects"]


def find_suspects(
    dataset: Dataset,
    callback: Callable[[PhaseProgress], None] | None = None,
    cancel: threading.Event | None = None,
    *,
    folds: int = 5,
    seed: int = 0,
    backbone: str = DEFAULT_BACKBONE,
) -> SuspectReport:
    """Score every usable image of `dataset`; the report lists them most suspicious first.

    Progress arrives as `PhaseProgress` events for "features" and "check" (one step
    per block of rows of the neighbour distances, then one per fold); setting `cancel` raises
    `Cancelled` at the next batch, block or fold. `seed` fixes the folds, so the same dataset
    gives the same report.

    Raises `DatasetError` when fewer than two classes have images: with one class there is
    nothing to be mislabelled as. Smaller problems degrade instead of failing: a class whose
    images are all one photo (or a single image) cannot be checked held-out, and a class of
    fewer than `suspect_signals.OUTLIER_MIN_CLASS` images has no outlier statistics, so
    those images are judged by the signals that remain; an image that none can judge scores
    0 with the reason that it was not checked (headline "not checked").
    """
    started = time.perf_counter()
    emit = callback or ignore_event
    cancel = cancel or threading.Event()
    _check_classes(dataset)
    frozen = pretrained_frozen(backbone)
    counter = FeatureCounter(len(dataset.paths), emit)
    features = embed_dataset(dataset.paths, frozen, default_store(), cancel, counter.advance)
    with torch.no_grad():
        logits = frozen.network.get_classifier()(features.to(frozen.device)).float().cpu()
    suspects, signals = assess(dataset, features, logits, emit, cancel, folds=folds, seed=seed)
    return SuspectReport(suspects, dataset.classes, signals, time.perf_counter() - started)


def _check_classes(dataset: Dataset) -> None:
    populated = [name for name, count in dataset.class_counts.items() if count]
    if len(populated) < 2:
        found = ", ".join(f"'{name}'" for name in populated) or "none"
        raise DatasetError(
            f"{dataset.root}: finding mislabelled photos needs at least two classes with "
            f"images; found {found}. Make one sub-folder per class and put its photos in it."
        )


def assess(
    dataset: Dataset,
    features: torch.Tensor,
    logits: torch.Tensor,
    emit: Callable[[PhaseProgress], None] = ignore_event,
    cancel: threading.Event | None = None,
    *,
    folds: int = 5,
    seed: int = 0,
) -> tuple[tuple[Suspect, ...], tuple[str, ...]]:
    """The scoring half of `find_suspects`, from pooled features and ImageNet logits.

    Kept separate so the combination can be studied and tuned on features computed once.
    """
    cancel = cancel or threading.Event()
    labels = torch.tensor(dataset.labels, dtype=torch.long)
    n_classes = len(dataset.classes)
    points = centred_unit(features)
    fold = assign_folds(dataset, fold_count(dataset, folds), seed)
    group = torch.tensor(group_ids(dataset), dtype=torch.long)
    rows = block_rows(len(points))
    progress = _CheckProgress(math.ceil(len(points) / rows) + int(fold.max()) + 1, emit)
    distance, own_share = neighbour_distances(points, labels, group, n_classes, rows,
                                              progress.step, cancel)
    held_out = held_out_probabilities(points, labels, fold, n_classes, progress.step, cancel)
    imagenet = logits.float().softmax(1)
    matches = own_categories(dataset.classes, labels, imagenet)
    copies = judge_copies(dataset, held_out, imagenet, matches)

    suspects = [
        judge(dataset, index, held_out[index], distance[index], float(own_share[index]),
              imagenet[index], matches, copies.get(index))
        for index in range(len(dataset.images))
    ]
    suspects.sort(key=lambda suspect: (-suspect.score, suspect.relpath))
    suspects = cap_flags(suspects)
    signals = ["held-out"] if not held_out.isnan().all() else []
    signals += ["outlier"] if not distance.isnan().all() else []
    signals += ["imagenet"] if any(own.named for own in matches) else []
    signals += ["kinds"] if any(own and not own.named for own in matches) else []
    signals += ["copies"] if copies else []
    return tuple(suspects), tuple(signals)


class _CheckProgress:
    """"check" progress over both passes that compare each image with the others.

    The neighbour-distance blocks and then the held-out folds make one phase (one bar, from
    0 to `total` steps), so a front end needs no new phase name; the rate is images per
    second over the whole phase. A first event at 0 says the phase has begun.
    """

    def __init__(self, total: int, emit: Callable[[PhaseProgress], None]) -> None:
        self.total, self.emit, self.done, self.images = total, emit, 0, 0
        self.started = time.perf_counter()
        emit(PhaseProgress("check", 0, total, 0.0))

    def step(self, images: int) -> None:
        self.done += 1
        self.images += images
        rate = self.images / max(time.perf_counter() - self.started, 1e-9)
        self.emit(PhaseProgress("check", self.done, self.total, rate))
