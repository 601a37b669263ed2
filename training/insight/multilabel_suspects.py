"""The multi-label finder: which labels a photo likely lacks, and which it likely should not have.

Labelling several things per photo goes wrong in two ways: a label is forgotten (a beach
photo with people in it, labelled "beach;sunset") or one is added by mistake ("people" on an
empty beach). Both show in held-out probabilities, as the single-label finder's mislabelled
photos do (`suspect_held_out`): the photos are dealt into K folds, a small linear head with
one sigmoid per label is trained on the stored features of the other folds, and gives each
photo's per-label probabilities from a model that never saw its labels. A label the photo
lacks at a high probability is "likely missing"; one it has at a low probability is "likely
wrong". Each head weighs a label's positives against its negatives (as the single-label
head weighs classes), so a rare label's photos are not all called doubtful.

Identical copies are one photo already (`multilabel_scan`), so no copy leaks its labels into
another fold. A label on (or missing from) too few photos to be learned without any one of
them (`MIN_SEEN` in every fold's training photos) is named in `unjudged_labels` and never
doubted.

The features are the single-label finder's and quick training's (the feature store), so a
search after training costs only the folds. Nothing is written: the caller decides, and
`training.insight.label_edits` makes the edits.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import torch
import torch.nn.functional as F

from training.core.errors import DatasetError
from training.data.images import content_hash
from training.data.labels_csv import parse_labels_csv
from training.insight.suspect_held_out import fit_linear_head
from training.insight.suspect_progress import FinderMeter
from training.insight.suspect_signals import centred_unit
from training.models.embedding import default_store, embed_dataset
from training.models.frozen import pretrained_frozen
from training.records.backbones import DEFAULT_BACKBONE
from training.records.events import Cancelled, PhaseProgress, ignore_event
from training.records.multilabel import LABELS_FILE, MultiLabelDataset
from training.records.multilabel_suspects import (
    LABEL_FLAG_MIN,
    LABEL_FLAG_SCORE,
    LABEL_FLAG_SHARE,
    LabelDoubt,
    LabelSuspect,
    LabelSuspectReport,
)

MIN_SEEN = 2
"""A fold's head judges a label only when its training photos hold at least this many photos
with the label and this many without."""
DOUBT_MIN = 0.5
"""A label is doubted at all when the held-out head disagrees with it (score above even
odds); weaker doubts are not worth a line."""


def find_label_suspects(
    dataset: MultiLabelDataset,
    callback: Callable[[PhaseProgress], None] | None = None,
    cancel: threading.Event | None = None,
    *,
    folds: int = 5,
    seed: int = 0,
    backbone: str = DEFAULT_BACKBONE,
) -> LabelSuspectReport:
    """Every usable photo of `dataset` with its likely missing and wrong labels, most
    suspicious first. Progress as the single-label finder's (`FinderProgress`); `cancel`
    raises `Cancelled` at the next batch or fold; `seed` fixes the folds.

    Raises `DatasetError` when the dataset has fewer than two labels or photos to hold out,
    or its labels.csv changed since it was scanned (the report would name stale labels).
    """
    started = time.perf_counter()
    emit = callback or ignore_event
    cancel = cancel or threading.Event()
    if len(dataset.images) < 2 * folds or not dataset.labels:
        raise DatasetError(
            f"{dataset.root}: looking for label errors needs labels and at least {2 * folds} "
            f"usable photos; found {len(dataset.images)} photos and {len(dataset.labels)} "
            "labels. Label more photos first.")
    labels_hash = _labels_file_hash(dataset)
    frozen = pretrained_frozen(backbone)
    meter = FinderMeter(len(dataset.images), emit)
    features = embed_dataset(dataset.paths, frozen, default_store(), cancel, meter.features)
    report = assess_labels(dataset, features, cancel, folds=folds, seed=seed, meter=meter)
    return replace(report, labels_file_hash=labels_hash,
                   seconds=time.perf_counter() - started)


def _labels_file_hash(dataset: MultiLabelDataset) -> str | None:
    """labels.csv's content hash, once its rows are known to be the dataset's labels."""
    if dataset.source != "labels.csv":
        return None
    file = dataset.root / LABELS_FILE
    try:
        data = file.read_bytes()
    except OSError as error:
        raise DatasetError(f"{file} cannot be read ({error.strerror or error}).") from None
    rows = dict(parse_labels_csv(data, file).rows)
    for image in dataset.images:
        names = tuple(sorted(dataset.labels[index] for index in image.labels))
        if rows.get(image.relpath) != names:
            raise DatasetError(f"{file} changed since the folder was scanned (the row of "
                               f"{image.relpath}). Scan the folder again.")
    return content_hash(data)


def assess_labels(
    dataset: MultiLabelDataset,
    features: torch.Tensor,
    cancel: threading.Event | None = None,
    *,
    folds: int = 5,
    seed: int = 0,
    meter: FinderMeter | None = None,
) -> LabelSuspectReport:
    """The scoring half of `find_label_suspects`, from the photos' pooled features."""
    cancel = cancel or threading.Event()
    targets = torch.tensor(dataset.targets, dtype=torch.float32).reshape(
        len(dataset.images), len(dataset.labels))
    fold = assign_label_folds(dataset, folds, seed)
    count = int(fold.max()) + 1
    meter = meter or FinderMeter(len(dataset.images), ignore_event, features=False)
    meter.start_check(0, count)
    held_out = held_out_label_probabilities(centred_unit(features), targets, fold,
                                            meter.fold_done, cancel)
    unjudged = tuple(name for name, judged in zip(dataset.labels, (~held_out.isnan()).any(0),
                                                  strict=True) if not judged)
    suspects = [_judged(dataset, index, held_out[index]) for index in range(len(dataset.images))]
    suspects.sort(key=lambda suspect: (-suspect.score, suspect.relpath))
    meter.judged(len(suspects))
    return LabelSuspectReport(tuple(cap_label_flags(suspects)), dataset.labels, count, 0.0,
                              dataset.source, unjudged_labels=unjudged)


def assign_label_folds(dataset: MultiLabelDataset, folds: int, seed: int) -> torch.Tensor:
    """Fold number per photo, each label's photos spread over the folds.

    Photos are ordered by their rarest label (rarest first; photos with no label last), then
    by a keyed hash of their path (the same on every machine), and dealt round-robin: a
    label of five photos lands in five folds, so every fold trains on most of them.
    """
    counts = dataset.label_counts
    names = dataset.labels

    def order(index: int) -> tuple[int, int, str]:
        image = dataset.images[index]
        rarest = min(image.labels, key=lambda j: (counts[names[j]], j), default=len(names))
        key = hashlib.blake2b(f"{seed}\0{image.relpath}".encode(), digest_size=8).hexdigest()
        return (counts[names[rarest]] if rarest < len(names) else math.inf, rarest, key)

    fold = [0] * len(dataset.images)
    for position, index in enumerate(sorted(range(len(dataset.images)), key=order)):
        fold[index] = position % folds
    return torch.tensor(fold, dtype=torch.long)


def held_out_label_probabilities(
    points: torch.Tensor, targets: torch.Tensor, fold: torch.Tensor,
    step: Callable[[int], None], cancel: threading.Event,
) -> torch.Tensor:
    """(N, L) per-label probabilities from heads trained without each photo's fold.

    A label stays NaN for a fold whose training photos have it (or lack it) fewer than
    `MIN_SEEN` times: a head that barely saw one side would doubt every photo of it, or
    call every photo like its one example "missing" it. `step(n)` after each fold.
    """
    probabilities = torch.full(targets.shape, float("nan"))
    for current in range(int(fold.max()) + 1):
        if cancel.is_set():
            raise Cancelled
        test = (fold == current).nonzero().squeeze(1)
        train = (fold != current).nonzero().squeeze(1)
        positives = targets[train].sum(0)
        seen = (positives >= MIN_SEEN) & (len(train) - positives >= MIN_SEEN)
        head = _fit_sigmoid_head(points[train], targets[train])
        with torch.no_grad():
            predicted = torch.sigmoid(head(points[test]))
        probabilities[test.unsqueeze(1), seen.nonzero().squeeze(1)] = predicted[:, seen]
        step(len(test))
    return probabilities


def _fit_sigmoid_head(points: torch.Tensor, targets: torch.Tensor) -> torch.nn.Linear:
    """Logistic regression per label (`fit_linear_head`); each label's positives weigh as
    much as its negatives together."""
    positives = targets.sum(0)
    pos_weight = ((len(targets) - positives) / positives.clamp(min=1)).clamp(min=1e-3)
    return fit_linear_head(points, targets.shape[1], lambda logits: (
        F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos_weight)))


def _judged(dataset: MultiLabelDataset, index: int, held_out: torch.Tensor) -> LabelSuspect:
    image = dataset.images[index]
    doubts = []
    for label, name in enumerate(dataset.labels):
        p = float(held_out[label])
        if p != p:  # NaN: not judged
            continue
        has = label in image.labels
        score = 1.0 - p if has else p
        if score > DOUBT_MIN:
            doubts.append(LabelDoubt(name, "wrong" if has else "missing", p, score,
                                     doubt_reason(name, has, p)))
    doubts.sort(key=lambda doubt: (-doubt.score, doubt.label))
    return LabelSuspect(image.path, image.relpath,
                        tuple(dataset.labels[j] for j in image.labels), tuple(doubts),
                        image.content_hash)


def doubt_reason(label: str, has: bool, held_out: float) -> str:
    """The sentence a person reads for one doubt; it ends with what to do."""
    if not has:
        return f"probably also '{label}' (held-out {held_out:.2f}) — add it?"
    return (f"'{label}' is doubtful (held-out {held_out:.2f}): the model trained without this "
            "photo sees none — remove it?")


def cap_label_flags(suspects: list[LabelSuspect]) -> list[LabelSuspect]:
    """`suspects` (most suspicious first) with those past the flag cap marked `beyond_cap`."""
    limit = max(LABEL_FLAG_MIN, math.ceil(LABEL_FLAG_SHARE * len(suspects)))
    return [replace(suspect, beyond_cap=True)
            if rank >= limit and suspect.score >= LABEL_FLAG_SCORE else suspect
            for rank, suspect in enumerate(suspects)]
