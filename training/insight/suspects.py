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
from training.insight.suspect_copies import judge_copies, one_entry
from training.insight.suspect_held_out import assign_folds, fold_count, held_out_probabilities
from training.insight.suspect_progress import FinderMeter, FinderProgress
from training.insight.suspect_signals import (
    block_rows,
    centred_unit,
    group_ids,
    neighbour_distances,
    own_categories,
)
from training.insight.suspect_verdict import cap_flags, judge
from training.insight.suspect_weights import confusion_rates
from training.models.embedding import default_store, embed_dataset
from training.models.frozen import pretrained_frozen
from training.records.backbones import DEFAULT_BACKBONE
from training.records.dataset import Dataset
from training.records.events import PhaseProgress, ignore_event
from training.records.suspects import FLAG_SCORE, Suspect, SuspectReport

__all__ = ["FLAG_SCORE", "FinderProgress", "Suspect", "SuspectReport", "assess", "assign_folds",
           "find_suspects"]


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

    Progress arrives as `FinderProgress` events (`PhaseProgress` with the whole search's
    `fraction`, which never goes back) for "features" and "check" (one step per block of
    rows of the neighbour distances, one per fold, one for judging); setting `cancel`
    raises `Cancelled` at the next batch, block or fold. `seed` fixes the folds, so the same
    dataset gives the same report.

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
    meter = FinderMeter(len(dataset.paths), emit)
    features = embed_dataset(dataset.paths, frozen, default_store(), cancel, meter.features)
    with torch.no_grad():
        logits = frozen.network.get_classifier()(features.to(frozen.device)).float().cpu()
    suspects, signals = assess(dataset, features, logits, emit, cancel, folds=folds, seed=seed,
                               meter=meter)
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
    meter: FinderMeter | None = None,
) -> tuple[tuple[Suspect, ...], tuple[str, ...]]:
    """The scoring half of `find_suspects`, from pooled features and ImageNet logits.

    Kept separate so the combination can be studied and tuned on features computed once.
    `meter`: the search's progress so far (`find_suspects`'); else the check phase is all.
    """
    cancel = cancel or threading.Event()
    labels = torch.tensor(dataset.labels, dtype=torch.long)
    n_classes = len(dataset.classes)
    points = centred_unit(features)
    fold = assign_folds(dataset, fold_count(dataset, folds), seed)
    group = torch.tensor(group_ids(dataset), dtype=torch.long)
    rows = block_rows(len(points))
    meter = meter or FinderMeter(len(points), emit, features=False)
    meter.start_check(math.ceil(len(points) / rows), int(fold.max()) + 1)
    distance, own_share = neighbour_distances(points, labels, group, n_classes, rows,
                                              meter.compared, cancel)
    held_out = held_out_probabilities(points, labels, fold, n_classes, meter.fold_done, cancel)
    imagenet = logits.float().softmax(1)
    matches = own_categories(dataset.classes, labels, imagenet)
    copies = judge_copies(dataset, held_out, imagenet, matches)
    confusion = confusion_rates(held_out, labels, n_classes)

    def judged(index: int, with_copies: bool = True) -> Suspect:
        return judge(dataset, index, held_out[index], distance[index],
                     float(own_share[index]), imagenet[index], matches, confusion,
                     copies.get(index) if with_copies else None)

    suspects = [judged(index) for index in range(len(dataset.images))]
    for index in one_entry(copies, [suspect.score for suspect in suspects]):
        suspects[index] = judged(index, with_copies=False)
    suspects.sort(key=lambda suspect: (-suspect.score, suspect.relpath))
    suspects = cap_flags(suspects)
    meter.judged(len(suspects))
    signals = ["held-out"] if not held_out.isnan().all() else []
    signals += ["outlier"] if not distance.isnan().all() else []
    signals += ["imagenet"] if any(own.named for own in matches) else []
    signals += ["kinds"] if any(own and not own.named for own in matches) else []
    signals += ["copies"] if copies else []
    return tuple(suspects), tuple(signals)

