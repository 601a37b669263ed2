"""Copies of one photo in two class folders: which copy is in the wrong place.

A photo filed twice, once in `cheetah/` and once in `lion/`, is in a wrong folder once, not
twice: flagging both copies sends the user to a photo that is right where it is (issue 20:
a correctly filed cheetah flagged because "a copy is in lion"). So the copies are judged
together. The held-out head (every copy sits in one fold, so no head was trained on any of
them) and, where every folder involved has ImageNet categories, the ImageNet model say which
of the copies' folders the photo belongs in. The copies outside that folder are flagged,
each naming where the right copy is; the copy inside it is not. Where the evidence cannot
decide, the group gets one entry (on the copy the other signals doubt most), not one per copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from training.insight.suspect_signals import OwnCategories
from training.records.dataset import Dataset

COPY_DECISION = 0.7
"""The share of the evidence, among the copies' folders, that one folder needs to be called
the right one. On the planted copies of `benchmarks/_finder_sets.py` the right folder gets
0.93 or more; a photo the two signals disagree on sits near 0.5."""
UNDECIDED_STRENGTH = 0.5
"""How strongly an undecided pair is flagged: surely one copy is wrong, but which is not
known, so it ranks below what is."""


@dataclass(frozen=True)
class CopyVerdict:
    """What the copies of one photo say about one of them."""

    strength: float
    sentence: str
    headline: str
    action: str
    """What to do, in a few words, for the first line of the reasons."""
    belongs: int | None
    """The class the evidence puts the photo in; None when it cannot tell."""
    group: tuple[int, ...]
    """The copies of the photo (indices into the dataset's images)."""


def judge_copies(
    dataset: Dataset, held_out: torch.Tensor, imagenet: torch.Tensor,
    matches: tuple[OwnCategories, ...],
) -> dict[int, CopyVerdict]:
    """For each copy in a wrong folder, or, where that is undecided, for every copy (of
    which `one_entry` keeps one)."""
    verdicts: dict[int, CopyVerdict] = {}
    for members in dataset.duplicate_groups:
        labels = sorted({dataset.images[index].label for index in members})
        if len(labels) < 2:
            continue
        support = folder_support(list(members), labels, held_out, imagenet, matches)
        if support is not None and float(support.max()) >= COPY_DECISION:
            verdicts |= _decided(dataset, members, labels[int(support.argmax())],
                                 float(support.max()))
        else:
            verdicts |= _undecided(dataset, members)
    return verdicts


def folder_support(
    members: list[int], labels: list[int], held_out: torch.Tensor, imagenet: torch.Tensor,
    matches: tuple[OwnCategories, ...],
) -> torch.Tensor | None:
    """How much the evidence favours each of `labels` for the photo, summing to 1.

    The mean of what the held-out head and the ImageNet model (on each folder's own
    categories) give the folders, each scaled to sum to 1 over them; None where neither can
    say (a one-photo class, names and folders ImageNet has no categories for).
    """
    shares = []
    held = held_out[members][:, labels]
    held = held[~held.isnan().any(1)]
    if len(held):
        shares.append(_scaled(held.mean(0)))
    if all(matches[label] for label in labels):
        seen = torch.stack([imagenet[members][:, list(matches[label].categories)].sum(1)
                            for label in labels], 1).mean(0)
        shares.append(_scaled(seen))
    shares = [share for share in shares if share is not None]
    return torch.stack(shares).mean(0) if shares else None


def _scaled(values: torch.Tensor) -> torch.Tensor | None:
    total = float(values.sum())
    return values / total if total > 1e-3 else None


def _decided(dataset: Dataset, members: tuple[int, ...], best: int,
             share: float) -> dict[int, CopyVerdict]:
    name = dataset.classes[best]
    right = sorted(dataset.images[index].relpath for index in members
                   if dataset.images[index].label == best)
    where = right[0] + (f" and {len(right) - 1} more" if len(right) > 1 else "")
    return {index: CopyVerdict(
        share,
        f"the same photo is also in '{name}' ({where}), and the evidence puts it there "
        f"({name} {share:.2f} of the folders it is in: the model trained without it and "
        f"the ImageNet model)",
        f"copy belongs in {name}",
        f"the same photo is already in {name} ({right[0]}), where it belongs — "
        f"quarantine this copy?",
        best, members,
    ) for index in members if dataset.images[index].label != best}


def _undecided(dataset: Dataset, members: tuple[int, ...]) -> dict[int, CopyVerdict]:
    """Each copy names the others; `one_entry` then keeps the verdict on one of them."""
    verdicts = {}
    for index in members:
        label = dataset.images[index].label
        others = sorted((dataset.classes[dataset.images[other].label],
                         dataset.images[other].relpath)
                        for other in members if dataset.images[other].label != label)
        named = ", ".join(f"'{name}' ({relpath})" for name, relpath in others)
        verdicts[index] = CopyVerdict(
            UNDECIDED_STRENGTH,
            f"the same photo is also in {named}, and the evidence does not say which folder "
            "is right (this one entry stands for all the copies)",
            "same photo in two folders",
            f"the same photo is also in {others[0][0]} ({others[0][1]}) — keep the copy in "
            "the right folder, quarantine the other",
            None, members)
    return verdicts


def one_entry(verdicts: dict[int, CopyVerdict], scores: list[float]) -> list[int]:
    """The copies of undecided groups to judge again without their copies' verdict.

    An undecided group is one entry: the copy the other signals doubt most (the highest
    score; of equals, the first) keeps the verdict, which names the other copies.
    """
    again = []
    for group in dict.fromkeys(v.group for v in verdicts.values() if v.belongs is None):
        kept = max(group, key=lambda index: (scores[index], -index))
        again += [index for index in group if index != kept]
    return again
