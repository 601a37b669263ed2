"""The finder's other signals: distance to the class mates, and the ImageNet model.

- outlier (`neighbour_distances`): how far the photo's features lie from its nearest class
  mates, compared with how far they usually lie. This catches what belongs to none of the
  classes (a statue, a drawing, a third animal), which a head forced to choose a class can
  miss.
- imagenet (`own_categories`): which ImageNet categories each class is, for the untouched
  ImageNet model's opinion to count: those its name matches, when the model agrees; else,
  whatever the name, the categories most of the folder's photos look like (the folder's
  kinds), when the folder agrees on them. A leopard in a folder of cheetahs named `group_1`
  is then "a different kind of thing" although the folder's name says nothing.

Copies of a photo in other class folders are judged in `suspect_copies`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from training.data.splitting import duplicate_group_of
from training.models.imagenet import match_class
from training.records.dataset import Dataset
from training.records.events import Cancelled

NEIGHBOURS = 5
"""How many nearest photos of a class measure an image's distance to it."""
_DISTANCE_ROWS = 1024
"""At most this many rows of the similarity matrix are computed at once."""
_SIMILARITY_ELEMENTS = 1 << 24
"""And at most this many similarities (64 MB of float32): on 50,000 images a block is 335
rows, so memory stays bounded however large the dataset, and Cancel is honoured within a
fraction of a second per block."""
OUTLIER_MIN_CLASS = 5
"""Classes smaller than this have no outlier statistics (a median of three says little)."""
IMAGENET_MIN_AGREEMENT = 0.5
"""A class's ImageNet categories count only if the model's first choice is one of them for
at least this share of the class's photos. A `jaguar/` folder of cars matches the animal;
without this check every car would be flagged. The same bar holds for a folder's kinds: a
folder whose photos the model sees as many different things (`not mine/`) has none."""
KIND_SHARE = 0.25
"""A category is one of a folder's kinds when the model's first choice is it for at least
this share of the folder's photos; what is rarer is "a different kind of thing" there. In
the real `cheetah/` the model's first choice is leopard for 22 of 150 photos (15 %): those
must be found. In a folder of spotted cats made of 40 cheetahs and the same leopards (21 of
65 first choices, 32 %), they are one of the folder's two kinds and must not be. Any share
from 0.15 to 0.30 does both on those photos (`benchmarks/_finder_sets.py`); 0.25 keeps a
margin on each side. Between the two the finder cannot know which the user meant."""
KINDS_MIN_PHOTOS = 8
"""A folder needs this many photos before its kinds are inferred: in a smaller one a single
photo is already an eighth of it, and "most photos" means little."""


@dataclass(frozen=True)
class OwnCategories:
    """The ImageNet categories one class is taken to be, and where that came from."""

    categories: tuple[int, ...] = ()
    """Empty when neither the name nor the folder says (the signal is off for the class)."""
    named: bool = False
    """True: matched by the class name; False: the folder's kinds, inferred from its photos."""
    photos: int = 0
    """How many of the class's photos the model sees first as one of `categories`."""
    size: int = 0
    """How many photos the class has."""

    def __bool__(self) -> bool:
        return bool(self.categories)


def own_categories(
    classes: tuple[str, ...], labels: torch.Tensor, imagenet: torch.Tensor
) -> tuple[OwnCategories, ...]:
    """Each class's ImageNet categories: by name where that is useful, else its kinds.

    The name wins where it matches usefully (see `IMAGENET_MIN_AGREEMENT`: a name can match
    a category of another sense). Otherwise the folder's kinds (`KIND_SHARE`) stand in for
    the name, if together they are most of the folder; so the signal needs no class name,
    and with real names that do match, the finder's answer is the same as before.
    """
    first = imagenet.argmax(1)
    owned = []
    for label, name in enumerate(classes):
        members = first[labels == label]
        named = _agreeing(match_class(name), members, named=True)
        owned.append(named or _agreeing(_kinds(members), members, named=False))
    return tuple(owned)


def _kinds(members: torch.Tensor) -> tuple[int, ...]:
    """The categories the model sees first in at least `KIND_SHARE` of a folder's photos."""
    if len(members) < KINDS_MIN_PHOTOS:
        return ()
    counts = torch.bincount(members, minlength=1000)
    return tuple(int(i) for i in (counts >= KIND_SHARE * len(members)).nonzero().squeeze(1))


def _agreeing(categories: tuple[int, ...], members: torch.Tensor, *,
              named: bool) -> OwnCategories:
    """`categories` if the model's first choice is one of them for most of the folder."""
    if not categories or not len(members):
        return OwnCategories()
    photos = int(torch.isin(members, torch.tensor(categories, dtype=torch.long)).sum())
    if photos < IMAGENET_MIN_AGREEMENT * len(members):
        return OwnCategories()
    return OwnCategories(categories, named, photos, len(members))


def centred_unit(features: torch.Tensor) -> torch.Tensor:
    """Unit-length features, centred on their mean first.

    A CNN's pooled features all point into the same orthant, so raw cosine similarities sit
    close together; centring spreads them and makes distances say more.
    """
    unit = F.normalize(features.float(), dim=1)
    return F.normalize(unit - unit.mean(0, keepdim=True), dim=1)


def group_ids(dataset: Dataset) -> list[int]:
    """For each image, the smallest index of the photos it duplicates (its own if none)."""
    return [min(group) for group in duplicate_group_of(dataset)]


def block_rows(count: int) -> int:
    """Rows of the (count, count) similarity matrix to compute at once."""
    return max(1, min(_DISTANCE_ROWS, _SIMILARITY_ELEMENTS // max(count, 1)))


def neighbour_distances(
    points: torch.Tensor, labels: torch.Tensor, group: torch.Tensor, n_classes: int,
    rows: int, step: Callable[[int], None], cancel: threading.Event,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image's distance to each class (N, C) relative to the class's usual, and its rank.

    The distance to a class is the mean cosine distance to its `NEIGHBOURS` nearest members,
    never counting the image's own duplicate group (a copy would always be nearest). Nearest
    neighbours, not a class centroid: a class has sub-kinds (cubs, close-ups of faces) that
    sit far from its centre but close to each other, while a statue or a meerkat is close to
    nothing. Each column is divided by the median of the class's own members' distances, so
    1.0 is usual for the class however tight or loose it is (a robust z-score was tried: on
    small, tight classes it called ordinary members extreme). Columns of classes with fewer
    than `OUTLIER_MIN_CLASS` images stay NaN. The rank is the share of the image's class
    mates that have nearer neighbours in the class than it has.

    All pairs are compared, `rows` images against all at a time, keeping only each row's
    nearest per class: memory is O(rows * N + N * C), and `cancel` is checked per block.
    `step` is told the number of images compared after each block.
    """
    distance = _nearest_distances(points, labels, group, n_classes, rows, step, cancel)
    relative = torch.full_like(distance, float("nan"))
    share = torch.zeros(len(points))
    for label in range(n_classes):
        members = (labels == label).nonzero().squeeze(1)
        own = distance[members, label]
        valid = own[~own.isnan()].sort().values
        if len(valid) > 1:
            nearer = torch.searchsorted(valid, own.nan_to_num(float("-inf")))
            share[members] = nearer.float() / (len(valid) - 1)
        if len(valid) < OUTLIER_MIN_CLASS:
            continue
        relative[:, label] = distance[:, label] / valid.median().clamp(min=1e-6)
    return relative, share


def _nearest_distances(
    points: torch.Tensor, labels: torch.Tensor, group: torch.Tensor, n_classes: int,
    rows: int, step: Callable[[int], None], cancel: threading.Event,
) -> torch.Tensor:
    """(N, C) mean cosine distance to each class's nearest members, block by block."""
    # Columns ordered by class, so each class's similarities are a slice, not a copy.
    order = labels.argsort(stable=True)
    columns, column_group = points[order].T, group[order]
    bounds = [0, *torch.bincount(labels, minlength=n_classes).cumsum(0).tolist()]
    distance = torch.full((len(points), n_classes), float("nan"))
    for start in range(0, len(points), rows):
        if cancel.is_set():
            raise Cancelled
        block = slice(start, start + rows)
        similarity = points[block] @ columns
        similarity[group[block, None] == column_group[None, :]] = float("-inf")
        for label in range(n_classes):
            mates = similarity[:, bounds[label]:bounds[label + 1]]
            if mates.shape[1] == 0:
                continue
            nearest = mates.topk(min(NEIGHBOURS, mates.shape[1]), dim=1).values
            nearest = nearest.masked_fill(nearest.isinf(), float("nan"))
            distance[block, label] = 1 - nearest.nanmean(1)
        step(len(similarity))
    return distance
