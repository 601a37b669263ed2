"""The likely-mislabelled finder: which photos probably do not belong in their class folder.

Web-gathered datasets are never clean: a `cheetah/` folder holds leopards, a house cat and
some meerkats; `lion/` holds a stone lion and two pumas. Each kind of error shows in a
different signal, so every usable image gets three, all computed from one decode and one
forward pass of the pretrained ImageNet network:

- held-out: a small linear head is trained on the network's features K times, each time
  without one fold of the images, and gives the held-out images' class probabilities. A photo
  that a model not trained on it puts in another class is probably in the wrong folder.
  Duplicate and near-duplicate photos share a fold, or a copy would leak its label.
- outlier: how far the photo's features lie from its nearest class mates, compared with how
  far they usually lie. This catches what belongs to none of the classes (a statue, a
  drawing, a third animal), which the held-out head, forced to choose a class, can miss.
- imagenet: when a class name matches ImageNet categories (`imagenet.match_class`), the
  untouched ImageNet model's opinion: a photo in `cheetah/` that it calls a leopard with high
  confidence. This catches a whole cluster of wrong photos (two dozen leopards in `cheetah/`),
  which the other two signals learn to accept as normal for the class. A class name that
  matches a category of another sense is ignored (see `IMAGENET_MIN_AGREEMENT`).

Copies of one photo in two class folders (`Dataset.duplicate_groups`) are named as well: one
of the copies is certainly in the wrong folder.

The signals are combined into one score in [0, 1] (see `_combine`), with reasons in words.
Nothing is written anywhere; the caller decides what to do with the report.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from training.core.errors import DatasetError
from training.core.events import Cancelled, PhaseProgress, ignore_event
from training.core.runtime import resolve_device
from training.data.dataset import Dataset, ImageRecord
from training.data.pixel_cache import decode_all
from training.data.splitting import draw_key, duplicate_group_of, groups_by_class
from training.models.backbones import DEFAULT_BACKBONE, get_backbone
from training.models.features import FeatureCounter, embed
from training.models.imagenet import category_names, match_class
from training.models.networks import load_pretrained

FLAG_SCORE = 0.4
"""Scores at or above this are `flagged` ("worth a look").

Chosen on the 300 real cheetah/lion photos, 28 of which do not belong (looked at one by
one: 22 leopards, a jaguar, a tiger, a house cat and meerkats in `cheetah/`; two pumas and a
stone lion in `lion/`). 26 of them score 0.91 or more; then come a lion cub (0.56, the one
false flag), a leopard cub the ImageNet model half takes for a cheetah (0.50), a cheetah
hidden in grass (0.31) and a stretching leopard (0.25); every other photo scores below 0.22.
0.4 sits in the gap between 0.31 and 0.50. On the synthetic test folders clean images score
below 0.2 and planted ones above 0.99."""

SUGGEST_PROBABILITY = 0.6
"""A held-out probability of another class at least this high suggests that class."""

HEAD_L2 = 1e-4
"""Weight decay of the held-out head. Weak, so ordinary photos get confident held-out
probabilities (median 0.999 on the real photos) and doubt stands out; 1e-3 left a tenth of
the clean photos below 0.87."""
HEAD_ITERATIONS = 60
"""L-BFGS iterations per fold; the real photos' probabilities stop changing after ~30."""
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
OUTLIER_START = 1.5
"""Distances to the class up to this multiple of its median count as ordinary: signal 0.
On the real photos the ordinary members reach 1.64× (a cheetah hidden in grass) and the
tiger, meerkats, house cat and stone lion lie at 1.75-1.93×; on tight synthetic classes
ordinary members reach 1.49× and an image of another colour 6-8×."""
OUTLIER_SCALE = 0.5
"""How fast the outlier signal grows beyond `OUTLIER_START`: 1 - exp(-excess / scale)."""
IMAGENET_MIN_AGREEMENT = 0.5
"""A class name matches ImageNet usefully only if the model's first choice is one of the
matched categories for at least this share of the class's photos. A `jaguar/` folder of cars
matches the animal; without this check every car would be flagged."""
REASON_MIN = 0.15
"""A signal weaker than this is not worth a sentence."""


@dataclass(frozen=True)
class Suspect:
    """One usable image and how likely its folder label is wrong."""

    path: Path
    relpath: str
    given: str
    """The class folder it sits in."""
    score: float
    """0..1: how likely the folder label is wrong (higher = worse)."""
    suggested: str | None
    """Another of the dataset's classes it more likely belongs to, or None when none fits."""
    reasons: tuple[str, ...]
    """Sentences for the user, strongest first."""
    headline: str
    """The first reason in a few words ("looks like tiger"), for a thumbnail's caption."""
    looks_like: tuple[tuple[str, float], ...]
    """The ImageNet model's top 3 categories (name, probability)."""
    content_hash: str
    """`ImageRecord.content_hash`, so a front end can remember "keep" decisions."""

    @property
    def flagged(self) -> bool:
        return self.score >= FLAG_SCORE


@dataclass(frozen=True)
class SuspectReport:
    suspects: tuple[Suspect, ...]
    """Every usable image, most suspicious first."""
    classes: tuple[str, ...]
    signals: tuple[str, ...]
    """The signals used, of "held-out", "outlier", "imagenet" and "copies" (a photo with a copy
    in another class folder). "imagenet" is missing when no class name matches ImageNet."""
    seconds: float

    @property
    def flagged(self) -> tuple[Suspect, ...]:
        return tuple(suspect for suspect in self.suspects if suspect.flagged)


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

    Progress arrives as `PhaseProgress` events for "decode", "features" and "check" (one step
    per block of rows of the neighbour distances, then one per fold); setting `cancel` raises
    `Cancelled` at the next batch, block or fold. `seed` fixes the folds, so the same dataset
    gives the same report.

    Raises `DatasetError` when fewer than two classes have images: with one class there is
    nothing to be mislabelled as. Smaller problems degrade instead of failing: a class whose
    images are all one photo (or a single image) cannot be checked held-out, and a class of
    fewer than `OUTLIER_MIN_CLASS` images has no outlier statistics, so those images are
    judged by the signals that remain; an image that none can judge scores 0 with the
    reason that it was not checked (headline "not checked").
    """
    started = time.perf_counter()
    emit = callback or ignore_event
    cancel = cancel or threading.Event()
    _check_classes(dataset)
    chosen = get_backbone(backbone)
    device = resolve_device()
    network = load_pretrained(chosen).to(device)
    if device.type == "cpu":
        network = network.to(memory_format=torch.channels_last)
    pixels = decode_all(dataset.paths, chosen.preprocessing, emit, cancel, dataset.fingerprint)
    counter = FeatureCounter(len(pixels), emit)
    embeddings = embed(network, pixels, chosen.preprocessing, device, cancel, counter.advance)
    del pixels
    suspects, signals = assess(dataset, embeddings.features, embeddings.logits, emit, cancel,
                               folds=folds, seed=seed)
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
    points = _centred_unit(features)
    fold = assign_folds(dataset, _fold_count(dataset, folds), seed)
    group = torch.tensor(_group_ids(dataset), dtype=torch.long)
    rows = _block_rows(len(points))
    progress = _CheckProgress(math.ceil(len(points) / rows) + int(fold.max()) + 1, emit)
    distance, own_share = _neighbour_distances(points, labels, group, n_classes, rows,
                                               progress, cancel)
    held_out = _held_out(points, labels, fold, n_classes, progress, cancel)
    imagenet = logits.float().softmax(1)
    matches = _useful_matches(dataset.classes, labels, imagenet)
    copies = _copies_elsewhere(dataset)

    suspects = [
        _judge(dataset, index, held_out[index], distance[index], float(own_share[index]),
               imagenet[index], matches, copies.get(index, ()))
        for index in range(len(dataset.images))
    ]
    suspects.sort(key=lambda suspect: (-suspect.score, suspect.relpath))
    signals = ["held-out"] if not held_out.isnan().all() else []
    signals += ["outlier"] if not distance.isnan().all() else []
    signals += ["imagenet"] if any(matches) else []
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


def _useful_matches(
    classes: tuple[str, ...], labels: torch.Tensor, imagenet: torch.Tensor
) -> tuple[tuple[int, ...], ...]:
    """Each class's matching ImageNet categories, or () where the match is not useful.

    See `IMAGENET_MIN_AGREEMENT`: a name can match a category of another sense.
    """
    first = imagenet.argmax(1)
    matches = []
    for label, name in enumerate(classes):
        indices = match_class(name)
        members = first[labels == label]
        agree = torch.isin(members, torch.tensor(indices, dtype=torch.long)).float().mean()
        useful = indices and len(members) and float(agree) >= IMAGENET_MIN_AGREEMENT
        matches.append(indices if useful else ())
    return tuple(matches)


def _centred_unit(features: torch.Tensor) -> torch.Tensor:
    """Unit-length features, centred on their mean first.

    A CNN's pooled features all point into the same orthant, so raw cosine similarities sit
    close together; centring spreads them and makes distances say more.
    """
    unit = F.normalize(features.float(), dim=1)
    return F.normalize(unit - unit.mean(0, keepdim=True), dim=1)


def _group_ids(dataset: Dataset) -> list[int]:
    """For each image, the smallest index of the photos it duplicates (its own if none)."""
    return [min(group) for group in duplicate_group_of(dataset)]


def _fold_count(dataset: Dataset, folds: int) -> int:
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


def _held_out(
    points: torch.Tensor, labels: torch.Tensor, fold: torch.Tensor, n_classes: int,
    progress: _CheckProgress, cancel: threading.Event,
) -> torch.Tensor:
    """(N, C) class probabilities from heads trained without each image's fold.

    Rows stay NaN for images whose class has no image in the training folds (a one-photo
    class): a head that never saw the class would call every such photo mislabelled.
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
        progress.step(len(test))
    return probabilities


def _fit_head(points: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.nn.Linear:
    """L2-regularised logistic regression, full batch, by L-BFGS from zero weights.

    The problem is convex and starts from zeros, so the result needs no random seed. Classes
    are weighted by inverse frequency so a large class does not swallow a small one.
    """
    counts = torch.bincount(labels, minlength=n_classes).float()
    present = int((counts > 0).sum())
    weight = torch.where(counts > 0, len(labels) / (present * counts.clamp(min=1)), 0.0)
    head = torch.nn.Linear(points.shape[1], n_classes)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    optimiser = torch.optim.LBFGS(head.parameters(), max_iter=HEAD_ITERATIONS,
                                  line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = F.cross_entropy(head(points), labels, weight=weight)
        loss = loss + HEAD_L2 * head.weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimiser.step(closure)
    return head


def _block_rows(count: int) -> int:
    """Rows of the (count, count) similarity matrix to compute at once."""
    return max(1, min(_DISTANCE_ROWS, _SIMILARITY_ELEMENTS // max(count, 1)))


def _neighbour_distances(
    points: torch.Tensor, labels: torch.Tensor, group: torch.Tensor, n_classes: int,
    rows: int, progress: _CheckProgress, cancel: threading.Event,
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
    """
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
        progress.step(len(similarity))

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


def _copies_elsewhere(dataset: Dataset) -> dict[int, tuple[tuple[str, str], ...]]:
    """For each image with copies in other class folders, a (sentence, headline) per class."""
    copies: dict[int, tuple[tuple[str, str], ...]] = {}
    for members in dataset.duplicate_groups:
        for index in members:
            label = dataset.images[index].label
            elsewhere: dict[int, list[str]] = defaultdict(list)
            for other in members:
                if dataset.images[other].label != label:
                    elsewhere[dataset.images[other].label].append(dataset.images[other].relpath)
            reasons = []
            for other_label, relpaths in sorted(elsewhere.items()):
                first, *more = sorted(relpaths)
                where = f"'{dataset.classes[other_label]}'"
                reasons.append((f"a copy of {first} and {len(more)} more photos in {where}"
                                if more else f"a copy of {first}, which is in {where}",
                                f"a copy is in {dataset.classes[other_label]}"))
            if reasons:
                copies[index] = tuple(reasons)
    return copies


def _judge(
    dataset: Dataset, index: int, held_out: torch.Tensor, distance: torch.Tensor,
    own_share: float, imagenet: torch.Tensor, matches: tuple[tuple[int, ...], ...],
    copies: tuple[tuple[str, str], ...],
) -> Suspect:
    """One image's signals, combined into a `Suspect` with reasons in words."""
    record = dataset.images[index]
    given = dataset.classes[record.label]
    names = category_names()
    top = imagenet.topk(3)
    looks_like = tuple((names[int(i)], round(float(p), 4))
                       for p, i in zip(top.values, top.indices, strict=True))
    suggested = _suggest(record.label, held_out, distance, imagenet, matches)
    # (strength, sentence, whether it names the suggested class, headline)
    evidence: list[tuple[float, str, bool, str]] = []

    if not held_out.isnan().any():
        held = 1 - float(held_out[record.label])
        best = int(held_out.argmax())
        if best != record.label:
            sentence = (f"the model trained without this photo says "
                        f"{dataset.classes[best]} {float(held_out[best]):.2f}")
            headline = f"model says {dataset.classes[best]}"
        else:
            sentence = (f"the model trained without this photo gives '{given}' only "
                        f"{1 - held:.2f}")
            headline = f"model doubts {given}"
        evidence.append((held, sentence, best == suggested, headline))

    relative = float(distance[record.label])
    if relative == relative:  # not NaN
        outlier = 1 - math.exp(-max(relative - OUTLIER_START, 0.0) / OUTLIER_SCALE)
        evidence.append((outlier, f"unusual for '{given}': {relative:.1f}× as far from its "
                                  f"nearest {given} photos as usual (farther than "
                                  f"{own_share:.0%} of the folder)", False,
                         f"unusual for {given}"))

    own = matches[record.label]
    if own:
        top_index, top_probability = int(top.indices[0]), float(top.values[0])
        own_probability = float(imagenet[list(own)].sum())
        evidence.append((
            _imagenet_doubt(top_index in own, top_probability, own_probability),
            f"looks like: {names[top_index]} {top_probability:.2f}, {given} "
            f"{own_probability:.2f} (ImageNet model)",
            suggested is not None and top_index in matches[suggested],
            f"looks like {names[top_index]}",
        ))

    evidence += [(FLAG_SCORE, sentence, False, headline) for sentence, headline in copies]
    if not evidence:
        # No signal could judge it (a one-photo class that matches no ImageNet category):
        # a score of 0 would read as "checked and fine", so say that it was not checked.
        return _unchecked(record, given, looks_like)
    score = _combine([strength for strength, *_ in evidence])
    # Strongest first, except that what names the suggested class leads: a blue photo in
    # red/ is also "unusual for 'red'", but "the model ... says blue" is the explanation.
    evidence.sort(key=lambda item: (not item[2], -item[0]))
    shown = [(sentence, headline) for strength, sentence, _, headline in evidence
             if strength >= REASON_MIN]
    return Suspect(
        path=record.path, relpath=record.relpath, given=given, score=score,
        suggested=None if suggested is None else dataset.classes[suggested],
        reasons=tuple(sentence for sentence, _ in shown),
        headline=shown[0][1] if shown else "nothing unusual",
        looks_like=looks_like, content_hash=record.content_hash,
    )


def _unchecked(record: ImageRecord, given: str,
               looks_like: tuple[tuple[str, float], ...]) -> Suspect:
    return Suspect(
        path=record.path, relpath=record.relpath, given=given, score=0.0, suggested=None,
        reasons=(f"not checked: '{given}' has too few different photos to compare this one "
                 f"with; add more photos of {given}",),
        headline="not checked", looks_like=looks_like, content_hash=record.content_hash,
    )


def _imagenet_doubt(top_is_own: bool, top: float, own: float) -> float:
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


def _combine(strengths: list[float]) -> float:
    """Noisy-OR: the label is fine only if no signal is right that it is wrong.

    Not an average: each signal catches errors the others miss (the leopards show only to
    the ImageNet model), so one strong signal must be enough, while weak ones add up.
    """
    fine = 1.0
    for strength in strengths:
        fine *= 1 - strength
    return 1 - fine


def _suggest(
    label: int, held_out: torch.Tensor, distance: torch.Tensor, imagenet: torch.Tensor,
    matches: tuple[tuple[int, ...], ...],
) -> int | None:
    """The class the photo more likely belongs to, or None when no class fits it.

    The ImageNet model naming another class's category decides; otherwise the held-out
    head's choice, but only if the photo looks like an ordinary member of that class (a
    leopard in `cheetah/` is not a lion just because a two-class head must pick one) and the
    ImageNet model, where the class matches, does not see something else in it.
    """
    top_index, top_probability = int(imagenet.argmax()), float(imagenet.max())
    for other, indices in enumerate(matches):
        if other != label and top_index in indices and top_probability >= SUGGEST_PROBABILITY:
            return other
    if held_out.isnan().any():
        return None
    best = int(held_out.argmax())
    if best == label or float(held_out[best]) < SUGGEST_PROBABILITY:
        return None
    relative = float(distance[best])
    if relative == relative and relative > OUTLIER_START:
        return None
    if matches[best] and _imagenet_doubt(top_index in matches[best], top_probability,
                                         float(imagenet[list(matches[best])].sum())) >= FLAG_SCORE:
        return None
    return best
