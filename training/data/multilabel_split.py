"""A train/validation split of a multi-label dataset that keeps every label in both parts.

Drawing per class, as the single-label split does, has no meaning when a photo has several
labels; drawing at random leaves a rare label out of validation (or out of training) by
chance. Iterative stratification (Sechidis, Tsoumakas and Vlahavas, "On the stratification of
multi-label data", ECML PKDD 2011) places the photos of the rarest label first, each into the
part that still wants most of that label, then those of the next rarest, so every label is
split close to the asked fraction. Two changes make the promise exact: each label wants at
least one photo in each part (the paper's real-valued wants can send both photos of a
2-photo label to training), and a last pass moves a photo across when a label still misses a
part. Photos with no label are stratified as if "none" were one more label.

Like the single-label split, ties are broken by a keyed hash of each photo's relative path,
not a random generator: the same seed gives the same split on every machine and with every
library version. Identical copies are one `LabelledImage` already, so none leaks.
"""

from __future__ import annotations

import hashlib
import random

from training.core.errors import DatasetError
from training.data.multilabel_health import MIN_POSITIVES, positives_problem
from training.records.dataset import Split
from training.records.multilabel import MultiLabelDataset

TRAIN, VAL = 0, 1
_NOISE = 0.2
"""The share of random steps, WalkSAT's noise (Selman, Kautz and Cohen 1994). Low, since
the greedy step is usually right and most splits need no repair at all; on the small
random datasets tried, every one that has a split got one (checked against all splits)."""
_REPAIR_STEPS_PER_PHOTO = 50


def split_multilabel(dataset: MultiLabelDataset, val_fraction: float = 0.2,
                     seed: int = 0) -> Split:
    """Indices into `dataset.images` for training and validation, drawn from `seed`.

    Raises `DatasetError` for a fraction outside (0, 1) and for a label on fewer than two
    photos (the health report's error, in the same words).
    """
    if not 0 < val_fraction < 1:
        raise DatasetError(
            f"The validation fraction ({val_fraction:g}) must be between 0 and 1 and leave "
            "photos for training."
        )
    counts = [0] * len(dataset.labels)
    for image in dataset.images:
        for label in image.labels:
            counts[label] += 1
    for name, count in zip(dataset.labels, counts, strict=True):
        if count < MIN_POSITIVES:
            raise DatasetError(positives_problem(name, count))
    keys = [_key(seed, image.relpath) for image in dataset.images]
    labels_of = [image.labels for image in dataset.images]
    part = _stratified(labels_of, counts, keys, val_fraction)
    _repair(labels_of, counts, keys, part, seed, dataset.labels)
    return Split(
        train=tuple(i for i, side in enumerate(part) if side == TRAIN),
        val=tuple(i for i, side in enumerate(part) if side == VAL),
        seed=seed, source="seeded",
    )


def _key(seed: int, relpath: str) -> int:
    return int.from_bytes(hashlib.blake2b(relpath.encode(), digest_size=8,
                                          key=str(seed).encode()).digest(), "big")


def _stratified(labels_of: list[tuple[int, ...]], counts: list[int], keys: list[int],
                val_fraction: float) -> list[int]:
    """Each photo's part, by iterative stratification with every label wanting at least one
    photo on each side. Photos with no label share one more label of their own ("none"), so
    they are spread in proportion too, not used to even out the parts' sizes."""
    none = len(counts)
    labels_of = [labels or (none,) for labels in labels_of]
    counts = [*counts, sum(labels == (none,) for labels in labels_of)]
    wants = []
    for count in counts:
        val = min(max(round(count * val_fraction), 1), count - 1) if count > 1 else 0
        wants.append([count - val, val])
    sizes = [len(labels_of) * (1 - val_fraction), len(labels_of) * val_fraction]
    members: list[list[int]] = [[] for _ in counts]
    for image, labels in enumerate(labels_of):
        for label in labels:
            members[label].append(image)
    left = list(counts)
    part = [-1] * len(labels_of)
    while any(left):
        label = min((n, label) for label, n in enumerate(left) if n)[1]
        for image in sorted(members[label], key=keys.__getitem__):
            if part[image] < 0:
                side = part[image] = _side(wants[label], sizes, keys[image])
                sizes[side] -= 1
                for other in labels_of[image]:
                    wants[other][side] -= 1
                    left[other] -= 1
    return part


def _side(wants: list[int], sizes: list[float], key: int) -> int:
    """The part that wants this label most; on a tie the one that wants most photos; then
    the photo's key decides."""
    if wants[TRAIN] != wants[VAL]:
        return TRAIN if wants[TRAIN] > wants[VAL] else VAL
    if sizes[TRAIN] != sizes[VAL]:
        return TRAIN if sizes[TRAIN] > sizes[VAL] else VAL
    return key & 1


def _repair(labels_of: list[tuple[int, ...]], counts: list[int], keys: list[int],
            part: list[int], seed: int, names: tuple[str, ...]) -> None:
    """Move photos across until every label is on both sides (a WalkSAT-style search).

    A label missing a side takes the photo of its own that costs least: the fewest labels
    left without a side by the move, then the fewest labels, then the key. One step in
    `_NOISE` picks at random instead (seeded), so the search cannot cycle between two
    moves. Labels sharing their few photos can make a split impossible (three labels on
    photos {1, 2}, {1, 3} and {2, 3}: no way to give each one photo per side), so the
    search is bounded and then names the labels it could not serve.
    """
    draw = random.Random(seed).random  # `random()` alone repeats across Python versions
    members: list[list[int]] = [[] for _ in counts]
    on_side = [[0, 0] for _ in counts]
    for image, labels in enumerate(labels_of):
        for label in labels:
            members[label].append(image)
            on_side[label][part[image]] += 1
    missing = [label for label, sides in enumerate(on_side) if 0 in sides]
    for _ in range(_REPAIR_STEPS_PER_PHOTO * len(part)):
        if not missing:
            return
        noisy = draw() < _NOISE
        label = missing[int(draw() * len(missing))] if noisy else \
            min(missing, key=lambda m: (counts[m], m))
        empty = on_side[label].index(0)
        candidates = members[label]
        image = candidates[int(draw() * len(candidates))] if noisy else min(
            candidates, key=lambda i: (sum(on_side[o][1 - empty] == 1 for o in labels_of[i]),
                                       len(labels_of[i]), keys[i]))
        for other in labels_of[image]:
            on_side[other][part[image]] -= 1
            on_side[other][1 - part[image]] += 1
        part[image] = 1 - part[image]
        missing = [label for label, sides in enumerate(on_side) if 0 in sides]
    if missing:
        partners = sorted({other for label in missing for image in members[label]
                           for other in labels_of[image]} - set(missing))
        raise DatasetError(
            "The photos cannot be split so that every label has a photo in training and one "
            f"in validation: {_named(names, missing)} cannot get one on each side without "
            f"taking it from {_named(names, partners)} on the same few photos. Add photos for "
            "these labels."
        )


def _named(names: tuple[str, ...], labels: list[int]) -> str:
    shown = ", ".join(repr(names[label]) for label in labels[:5])
    return f"label {shown}" if len(labels) == 1 else f"labels {shown}" + (
        f" and {len(labels) - 5} more" if len(labels) > 5 else "")
