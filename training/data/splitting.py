"""Train/validation/test splits that are reproducible and never leak a photo across parts.

A folder with its own train/val(/test) folders keeps that split. Otherwise the split is
drawn per class (stratified) from a seed. The draw orders groups by a keyed hash of their
relative paths, not by a random generator, so the same seed gives the same split on every
machine and with every library version. Each group of duplicate or near-duplicate photos is
placed as a whole, so a copy of a training photo never ends up in validation.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

from training.core.errors import DatasetError
from training.records.dataset import Dataset, Split


def split_dataset(
    dataset: Dataset, val_fraction: float = 0.2, test_fraction: float = 0.0, seed: int = 0
) -> Split:
    if dataset.has_own_split:
        parts: dict[str, list[int]] = defaultdict(list)
        for index, record in enumerate(dataset.images):
            parts[record.own_split or "train"].append(index)
        if not parts["val"]:
            raise DatasetError(
                f"{dataset.root}: the val folder has no usable images. Add some, or remove the "
                "train/val folders to let CheetahLion draw a split."
            )
        return Split(tuple(parts["train"]), tuple(parts["val"]), tuple(parts["test"]),
                     seed=None, source="folder")
    if not 0 < val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise DatasetError(
            f"Validation ({val_fraction:g}) and test ({test_fraction:g}) fractions must be "
            "between 0 and 1 and leave images for training."
        )

    by_class = groups_by_class(dataset)
    train: list[int] = []
    val: list[int] = []
    test: list[int] = []
    for label in sorted(by_class):
        groups = sorted(by_class[label], key=lambda g: draw_key(dataset, g, seed))
        size = sum(len(g) for g in groups)
        want_val = _share(size, val_fraction)
        want_test = min(_share(size, test_fraction), size - 1 - want_val) if test_fraction else 0
        taken_val = taken_test = 0
        for group in groups:
            # Parts take whole groups, but never a class's last training image.
            room = size - taken_val - taken_test - len(group) >= 1
            if room and taken_val < want_val:
                val.extend(group)
                taken_val += len(group)
            elif room and taken_test < want_test:
                test.extend(group)
                taken_test += len(group)
            else:
                train.extend(group)
    return Split(tuple(sorted(train)), tuple(sorted(val)), tuple(sorted(test)),
                 seed=seed, source="seeded")


def _share(size: int, fraction: float) -> int:
    """Images a part gets from a class of `size`: at least one when the class has two or more."""
    if size < 2:
        return 0
    return min(size - 1, max(1, round(size * fraction)))


def duplicate_group_of(dataset: Dataset) -> list[tuple[int, ...]]:
    """For each image, the group of indices it must stay with: its duplicate group, or itself.

    Anything that divides a dataset (the train/validation split, the mislabelled finder's
    folds) places these groups whole, or a copy of a photo would leak its label across.
    """
    group_of = [(index,) for index in range(len(dataset.images))]
    for group in dataset.duplicate_groups:
        for index in group:
            group_of[index] = group
    return group_of


def groups_by_class(dataset: Dataset) -> dict[int, list[tuple[int, ...]]]:
    """Each class's groups (see `duplicate_group_of`), in the order of their first image.

    A group of copies in two class folders counts for the class of its first image.
    """
    by_class: dict[int, list[tuple[int, ...]]] = defaultdict(list)
    for group in dict.fromkeys(duplicate_group_of(dataset)):
        by_class[dataset.images[group[0]].label].append(group)
    return by_class


def draw_key(dataset: Dataset, group: tuple[int, ...], seed: int) -> str:
    """A group's place in the seeded draw order: a keyed hash of its first relative path.

    The same on every machine and library version, unlike a random generator's draws.
    """
    first = min(dataset.images[i].relpath for i in group)
    return hashlib.blake2b(f"{seed}\0{first}".encode(), digest_size=8).hexdigest()
