"""The zero-shot baseline: how well the untouched ImageNet model already does, for free.

When every class folder is named after an ImageNet category, the pretrained model can
classify the dataset without any training: sum its probabilities over each class's
categories and take the largest. That is the tutorial's "build a baseline" step.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from training.data.splitting import split_dataset
from training.models.imagenet import category_names, match_classes
from training.predict.inference import Predictor
from training.records.dataset import Dataset, Split
from training.records.events import PhaseProgress


@dataclass(frozen=True)
class Baseline:
    accuracy: float
    images: int
    matches: dict[str, tuple[str, ...]]
    """Each class and the ImageNet categories it was matched to."""


def zero_shot_baseline(
    dataset: Dataset,
    split: Split | None = None,
    predictor: Predictor | None = None,
    progress: Callable[[PhaseProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> Baseline | None:
    """Accuracy of the ImageNet model on the validation split, or None if names don't match."""
    matches = match_classes(dataset.classes)
    if matches is None:
        return None
    split = split or split_dataset(dataset)
    predictor = predictor or Predictor.imagenet()
    records = [dataset.images[i] for i in split.val]
    correct = scored = 0
    for done, prediction in enumerate(
        predictor.predict([r.path for r in records], cancel=cancel), start=1
    ):
        if prediction.error is None:
            scores = [sum(prediction.probabilities[i] for i in matches[name])
                      for name in dataset.classes]
            correct += int(scores.index(max(scores)) == records[done - 1].label)
            scored += 1
        if progress:
            progress(PhaseProgress("baseline", done, len(records), 0.0))
    names = category_names()
    return Baseline(
        accuracy=correct / scored if scored else 0.0, images=scored,
        matches={name: tuple(names[i] for i in indices) for name, indices in matches.items()},
    )
