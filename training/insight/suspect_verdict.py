"""From one image's signals to a `Suspect`: a score, a suggested class and reasons in words.

The signals themselves are computed in `suspect_signals`, `suspect_held_out` and
`suspect_copies`, and what each is worth beside the others in `suspect_weights`; this module
combines them (`combine`), picks the class the photo more likely belongs to (`suggest`),
words the advice (`suspect_advice`) and the evidence for the user, strongest first, and
keeps the flags to a list a person can review (`cap_flags`).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import NamedTuple

import torch

from training.insight.suspect_advice import Lead, advice, article
from training.insight.suspect_copies import CopyVerdict
from training.insight.suspect_signals import OwnCategories
from training.insight.suspect_weights import (
    imagenet_agreement,
    imagenet_doubt,
    overruled,
    pair_confusion,
)
from training.models.imagenet import category_names
from training.records.dataset import Dataset, ImageRecord
from training.records.suspects import FLAG_SCORE, LOOK_SCORE, Suspect

FLAG_SHARE = 0.15
"""At most this share of a dataset's photos is flagged; further photos that score as high
are "also worth a look". However the evidence is fooled (five kinds of big cat that the
ImageNet model confuses among themselves flagged a quarter of 750 photos, issue 20), the
flags stay a list a person can review. 0.15 is above every known-answer set's share of
wrong photos (`benchmarks/_finder_sets.py`: 2-13 %), so it costs them no recall."""
FLAG_MIN = 10
"""A small dataset may have this many flags whatever `FLAG_SHARE` says."""

SUGGEST_PROBABILITY = 0.6
"""A held-out probability of another class at least this high suggests that class."""
OUTLIER_START = 1.5
"""Distances to the class up to this multiple of its median count as ordinary: signal 0.
On the real photos the ordinary members reach 1.64× (a cheetah hidden in grass) and the
tiger, meerkats, house cat and stone lion lie at 1.75-1.93×; on tight synthetic classes
ordinary members reach 1.49× and an image of another colour 6-8×."""
OUTLIER_SCALE = 0.5
"""How fast the outlier signal grows beyond `OUTLIER_START`: 1 - exp(-excess / scale)."""
REASON_MIN = 0.15
"""A signal weaker than this is not worth a sentence."""


def cap_flags(suspects: list[Suspect]) -> list[Suspect]:
    """`suspects` (most suspicious first) with those past the flag cap marked `beyond_cap`."""
    limit = max(FLAG_MIN, math.ceil(FLAG_SHARE * len(suspects)))
    return [replace(suspect, beyond_cap=True) if rank >= limit and suspect.score >= FLAG_SCORE
            else suspect for rank, suspect in enumerate(suspects)]


class _Evidence(NamedTuple):
    """What one signal says about one image."""

    strength: float
    sentence: str
    names_suggested: bool
    """Whether it names the suggested class: such evidence leads the reasons."""
    headline: str
    lead: Lead | None = None
    """The signal, for the advice's wording; None for a copy's evidence."""


def judge(
    dataset: Dataset, index: int, held_out: torch.Tensor, distance: torch.Tensor,
    own_share: float, imagenet: torch.Tensor, matches: tuple[OwnCategories, ...],
    confusion: torch.Tensor, copy: CopyVerdict | None,
) -> Suspect:
    """One image's signals, combined into a `Suspect` with reasons in words.

    Where the photo is worth a look, the first reason is the advice (`suspect_advice`):
    what to do, then the evidence, strongest first.
    """
    record = dataset.images[index]
    given = dataset.classes[record.label]
    names = category_names()
    top = imagenet.topk(3)
    looks_like = tuple((names[int(i)], round(float(p), 4))
                       for p, i in zip(top.values, top.indices, strict=True))
    suggested = suggest(record.label, held_out, distance, imagenet, matches)
    if copy is not None and copy.belongs is not None:
        suggested = copy.belongs
    found = (
        _held_out_evidence(dataset, record.label, held_out, suggested, imagenet, matches,
                           confusion),
        _outlier_evidence(given, float(distance[record.label]), own_share),
        _imagenet_evidence(given, record.label, imagenet, int(top.indices[0]),
                           float(top.values[0]), matches, suggested, held_out),
    )
    evidence = [item for item in found if item is not None]
    if copy is not None:
        evidence.append(_Evidence(copy.strength, copy.sentence, True, copy.headline))
    if not evidence:
        # No signal could judge it (a one-photo class that matches no ImageNet category):
        # a score of 0 would read as "checked and fine", so say that it was not checked.
        return _unchecked(record, given, looks_like)
    score = combine([item.strength for item in evidence])
    # Strongest first, except that what names the suggested class leads: a blue photo in
    # red/ is also "unusual for 'red'", but "the model ... says blue" is the explanation.
    # A copy's verdict leads all: the advice is about it.
    evidence.sort(key=lambda item: (item.lead is not None, not item.names_suggested,
                                    -item.strength))
    shown = [item for item in evidence if item.strength >= REASON_MIN]
    if score >= LOOK_SCORE and not shown:
        # Weak signals that add up to "worth a look": the strongest of them says why.
        shown = [max(evidence, key=lambda item: item.strength)]
    reasons = tuple(item.sentence for item in shown)
    if score >= LOOK_SCORE:
        lead = next((item.lead for item in shown if item.lead is not None), Lead.HELD_OUT)
        reasons = (advice(given, matches[record.label].named,
                          None if suggested is None else dataset.classes[suggested],
                          suggested is not None and matches[suggested].named, lead,
                          looks_like[0][0], copy.action if copy is not None else None),
                   *reasons)
    return Suspect(
        path=record.path, relpath=record.relpath, given=given, score=score,
        suggested=None if suggested is None else dataset.classes[suggested],
        reasons=reasons, headline=shown[0].headline if shown else "nothing unusual",
        looks_like=looks_like, content_hash=record.content_hash,
    )


def _held_out_evidence(
    dataset: Dataset, label: int, held_out: torch.Tensor, suggested: int | None,
    imagenet: torch.Tensor, matches: tuple[OwnCategories, ...], confusion: torch.Tensor,
) -> _Evidence | None:
    """The held-out head's doubt about the folder's class; None where it could not judge.

    Discounted by how surely the ImageNet model sees the photo as its own folder's kind
    (`imagenet_agreement`): the head's doubt about a leopard cub in a folder of leopards,
    or a lion half hidden in grass, is the head's own uncertainty, not a wrong folder. And
    by how often the head confuses the two classes anyway (`pair_confusion`).
    """
    if held_out.isnan().any():
        return None
    given = dataset.classes[label]
    held = 1 - float(held_out[label])
    other = int(held_out.masked_fill(torch.arange(len(held_out)) == label, -1).argmax())
    strength = held * (1 - imagenet_agreement(label, other, imagenet, matches)) \
        * (1 - pair_confusion(confusion, label, other))
    best = int(held_out.argmax())
    if best != label:
        sentence = (f"the model trained without this photo says "
                    f"{dataset.classes[best]} {float(held_out[best]):.2f}")
        headline = f"model says {dataset.classes[best]}"
    else:
        sentence = (f"the model trained without this photo gives '{given}' only "
                    f"{1 - held:.2f}")
        headline = f"model doubts {given}"
    return _Evidence(strength, sentence, best == suggested, headline, Lead.HELD_OUT)


def _outlier_evidence(given: str, relative: float, own_share: float) -> _Evidence | None:
    """How far the photo lies from its class mates; None where the class has no statistics."""
    if relative != relative:  # NaN
        return None
    outlier = 1 - math.exp(-max(relative - OUTLIER_START, 0.0) / OUTLIER_SCALE)
    return _Evidence(outlier, f"unusual for '{given}': {relative:.1f}× as far from its "
                              f"nearest {given} photos as usual (farther than "
                              f"{own_share:.0%} of the folder)", False,
                     f"unusual for {given}", Lead.OUTLIER)


def _imagenet_evidence(
    given: str, label: int, imagenet: torch.Tensor, top_index: int, top_probability: float,
    matches: tuple[OwnCategories, ...], suggested: int | None, held_out: torch.Tensor,
) -> _Evidence | None:
    """The ImageNet model's doubt; None where the class has no categories (see
    `suspect_signals.own_categories`).

    Discounted where the held-out head, trained on the class ImageNet names too, overrules
    a hesitating ImageNet model (`overruled`): leopard 0.55 against jaguar 0.35 in
    `jaguar/`, when the head gives jaguar 0.7 against leopard 0.3, drops from 0.24 to 0.13.
    """
    own = matches[label]
    if not own:
        return None
    names = category_names()
    own_probability = float(imagenet[list(own.categories)].sum())
    top_name = names[top_index]
    if own.named:
        sentence = (f"looks like: {top_name} {top_probability:.2f}, {given} "
                    f"{own_probability:.2f} (ImageNet model)")
    else:
        # No class name in it: the folder's names may mean nothing to ImageNet ("group_1").
        kinds = " or ".join(article(names[index]) for index in own.categories)
        sentence = (f"ImageNet sees {article(top_name)} ({top_probability:.2f}); "
                    f"{own.photos} of the {own.size} photos here look like {kinds} "
                    f"(this one {own_probability:.2f})")
    doubt = imagenet_doubt(top_index in own.categories, top_probability, own_probability)
    return _Evidence(
        doubt * (1 - overruled(label, held_out, imagenet, matches)),
        sentence,
        suggested is not None and top_index in matches[suggested].categories,
        f"looks like {top_name}",
        Lead.IMAGENET,
    )


def _unchecked(record: ImageRecord, given: str,
               looks_like: tuple[tuple[str, float], ...]) -> Suspect:
    return Suspect(
        path=record.path, relpath=record.relpath, given=given, score=0.0, suggested=None,
        reasons=(f"not checked: '{given}' has too few different photos to compare this one "
                 f"with; add more photos of {given}",),
        headline="not checked", looks_like=looks_like, content_hash=record.content_hash,
    )


def combine(strengths: list[float]) -> float:
    """Noisy-OR: the label is fine only if no signal is right that it is wrong.

    Not an average: each signal catches errors the others miss (the leopards show only to
    the ImageNet model), so one strong signal must be enough, while weak ones add up.
    """
    fine = 1.0
    for strength in strengths:
        fine *= 1 - strength
    return 1 - fine


def suggest(
    label: int, held_out: torch.Tensor, distance: torch.Tensor, imagenet: torch.Tensor,
    matches: tuple[OwnCategories, ...],
) -> int | None:
    """The class the photo more likely belongs to, or None when no class fits it.

    The ImageNet model naming another class's category decides, unless the held-out head,
    trained on that class too, overrules it (`overruled`); otherwise the held-out
    head's choice, but only if the photo looks like an ordinary member of that class (a
    leopard in `cheetah/` is not a lion just because a two-class head must pick one) and the
    ImageNet model, where the class matches, does not see something else in it.
    """
    top_index, top_probability = int(imagenet.argmax()), float(imagenet.max())
    for other, own in enumerate(matches):
        if (other != label and top_index in own.categories
                and top_index not in matches[label].categories
                and top_probability >= SUGGEST_PROBABILITY
                and overruled(label, held_out, imagenet, matches) < 0.5):
            return other
    if held_out.isnan().any():
        return None
    best = int(held_out.argmax())
    if best == label or float(held_out[best]) < SUGGEST_PROBABILITY:
        return None
    relative = float(distance[best])
    if relative == relative and relative > OUTLIER_START:
        return None
    best_own = matches[best].categories
    if best_own and imagenet_doubt(top_index in best_own, top_probability,
                                   float(imagenet[list(best_own)].sum())) >= FLAG_SCORE:
        return None
    return best
