"""How much each of the finder's signals counts for one photo, given what the others say.

Each signal alone can be fooled by what another one sees through: the held-out head by a
photo its folder's kind looks like (`imagenet_agreement`), or by two folders it cannot tell
apart (`pair_confusion`); the ImageNet model by two of the dataset's kinds it confuses and
the head tells apart (`overruled`). These weights say by how much to trust each.
"""

from __future__ import annotations

import torch

from training.insight.suspect_signals import OwnCategories

CONFUSION_CHANCE = 0.5
"""A pair of classes whose photos the held-out head puts in the other one this often is no
better told apart than by a coin: its doubts between them then count for nothing."""


def imagenet_doubt(top_is_own: bool, top: float, own: float) -> float:
    """How strongly the ImageNet model says the photo is something other than its class.

    Nothing when its first choice is one of the class's own categories. Otherwise the margin
    of the first choice over the own class, relative to the first choice, times the
    probability that it is not the own class at all: leopard 0.90 against cheetah 0.01 gives
    0.98; leopard 0.61 against 0.22, 0.50; but leopard 0.50 against cheetah 0.44 (a real
    cheetah the model hesitates on) only 0.07. A diffuse "mask 0.29" against lion 0.00 is
    strong too: the model is sure it is no lion, if not sure what it is.
    """
    if top_is_own or top <= 0:
        return 0.0
    return max(0.0, (top - own) / top) * (1 - own)


def imagenet_agreement(label: int, other: int, imagenet: torch.Tensor,
                       matches: tuple[OwnCategories, ...]) -> float:
    """How surely the ImageNet model sees the photo as its folder's kind, not `other`'s.

    Its probability on the folder's own categories, when its first choice is one of them
    and not one of `other`'s; 0 when either class has no categories (where ImageNet cannot
    tell the two classes apart, as with `ok/` and `defect/` photos that all look like
    screws, it cannot vouch for a label either). On the real photos this removes the one
    false flag (a lion the held-out head gives 'lion' 0.51, ImageNet lion 0.50) and, in the
    re-mixed sets, leopard cubs the head puts with the cheetahs.
    """
    own, theirs = matches[label].categories, matches[other].categories
    if not own or not theirs:
        return 0.0
    top = int(imagenet.argmax())
    if top not in own or top in theirs:
        return 0.0
    return float(imagenet[[index for index in own if index not in theirs]].sum())


def overruled(label: int, held_out: torch.Tensor, imagenet: torch.Tensor,
              matches: tuple[OwnCategories, ...]) -> float:
    """How far the held-out head overrules the ImageNet model's first choice (0..1).

    Where that choice is another of the dataset's classes, the head's preference for the
    folder's class (`held_out_agreement`), times how much the ImageNet model hesitates: its
    probability on the folder's categories relative to its first choice. Only a model torn
    between the two is overruled; one sure the photo is no cheetah (a lion 0.99) is heard
    however the head, perhaps fooled by a cluster of lions filed as cheetahs, sees it.
    """
    top_index = int(imagenet.argmax())
    own = float(imagenet[list(matches[label].categories)].sum()) if matches[label] else 0.0
    hesitation = min(own / max(float(imagenet[top_index]), 1e-9), 1.0)
    return hesitation * held_out_agreement(label, top_index, held_out, matches)


def held_out_agreement(label: int, top_index: int, held_out: torch.Tensor,
                       matches: tuple[OwnCategories, ...]) -> float:
    """How much the held-out head prefers the folder's class over the one ImageNet names.

    Where the ImageNet model's first choice is a category of another of the dataset's
    classes, that class's own photos taught the held-out head what it looks like; if the
    head still gives the folder's class most of the two classes' probability, ImageNet's
    doubt is the confusion of a general model between two kinds the dataset tells apart (a
    jaguar it takes for a leopard, in a dataset with folders for both), not a wrong folder.
    The share (0..1) of the two classes' held-out probability on the folder's class; 0
    where ImageNet names no other class, or the head could not judge.
    """
    if held_out.isnan().any() or top_index in matches[label].categories:
        return 0.0
    others = [other for other, own in enumerate(matches)
              if other != label and top_index in own.categories]
    if not others:
        return 0.0
    own, theirs = float(held_out[label]), float(held_out[others].max())
    return own / (own + theirs) if own + theirs > 0 else 0.0


def confusion_rates(held_out: torch.Tensor, labels: torch.Tensor, n_classes: int
                    ) -> torch.Tensor:
    """(C, C): the share of each class's judged photos the held-out head puts in each other
    class (its first choice); the diagonal is 0."""
    rates = torch.zeros(n_classes, n_classes)
    judged = ~held_out.isnan().any(1)
    for label in range(n_classes):
        members = judged & (labels == label)
        if members.any():
            first = held_out[members].argmax(1)
            rates[label] = torch.bincount(first, minlength=n_classes).float() / int(members.sum())
    return rates.fill_diagonal_(0.0)


def pair_confusion(confusion: torch.Tensor, label: int, other: int) -> float:
    """How little the head's doubt between `label` and `other` says (0..1).

    The head's own confusion between the two folders, both ways, against chance
    (`CONFUSION_CHANCE`). Where it puts a few photos of one in the other (1-4 % between the
    real cheetahs and lions) its doubt about one photo stands; where it confuses a tenth of
    them (two kinds of big cat), it counts for less; where it cannot tell them apart at all
    (two folders of the same kind), for nothing. A photo really in the wrong folder is then
    still flagged by what the other signals see.
    """
    both = float(confusion[label, other] + confusion[other, label]) / 2
    return min(both / CONFUSION_CHANCE, 1.0)
