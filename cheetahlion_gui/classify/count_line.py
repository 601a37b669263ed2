"""The Classify page's count line under the gallery: how many photos were classified, with
what runtime and precision, and how they fell ("none of these", unsure, broken; per label
for a multi-label model). Plain words from the gallery's model, nothing drawn here."""

from __future__ import annotations

from dataclasses import dataclass

from cheetahlion_gui.widgets.gallery_model import GalleryModel
from training.records.runtime_words import frozen_words


@dataclass(frozen=True)
class Progress:
    """How far the classification got and what ran it."""

    done: int
    total: int
    runtime: str | None
    precision: str
    skipped: int
    """Files left out because they are not images."""


def skipped_words(skipped: int) -> str:
    """", N skipped (not images)" when files were left out; the tooltip names them."""
    return f", {skipped} skipped (not images)" if skipped else ""


def count_line(model: GalleryModel, progress: Progress, review: int) -> str:
    """"40 of 40 classified with onnxruntime · float: 3 none of these, 5 unsure (8 to
    review), 0 broken". "None of these" and "unsure" are disjoint (a photo unlike the
    training photos is not also counted unsure), and together they are what Review unsure
    walks through (`review`), but those in the dataset already."""
    items = model.items()
    broken = sum(1 for item in items if item.error)
    if model.multilabel:
        return _label_line(model, progress, broken)
    unsure = sum(1 for item in items if model.is_unsure(item))
    unfamiliar = sum(1 for item in items if item.unfamiliar)
    flagged = unsure + unfamiliar
    to_review = "" if not flagged else f" ({review} to review)" if review == flagged \
        else f" ({review} to review; {flagged - review} in the dataset already)"
    return (_classified(progress)
            + (f"{unfamiliar} none of these, " if model.calibration else "")
            + f"{unsure} unsure{to_review}, {broken} broken" + skipped_words(progress.skipped))


def _label_line(model: GalleryModel, progress: Progress, broken: int) -> str:
    """"120 of 120 classified with onnxruntime · float: red 61, blue 58, green 7; 30 with
    no label, 12 unsure, 0 broken"."""
    items = model.items()
    per_label = {name: sum(1 for item in items if item.labels and name in item.labels)
                 for name in model.classes}
    none = sum(1 for item in items if item.labels == ())
    unsure = sum(1 for item in items if item.labels is not None and model.is_unsure(item))
    return (_classified(progress)
            + ", ".join(f"{name} {count}" for name, count in per_label.items())
            + f"; {none} with no label, {unsure} unsure, {broken} broken"
            + skipped_words(progress.skipped))


def _classified(progress: Progress) -> str:
    """"40 of 40 classified with onnxruntime · float: " (" (stopped)" before the colon when
    the user stopped it)."""
    stopped = " (stopped)" if progress.done < progress.total else ""
    return (f"{progress.done} of {progress.total} classified with "
            f"{frozen_words(progress.runtime, progress.precision)}{stopped}: ")
