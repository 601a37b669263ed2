"""Classifying new images: list the files under what the user chose, then classify in batches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cheetahlion_gui.jobs.runner import Job
from training.records.novelty_calibration import NoveltyCalibration
from training.records.predictions import Prediction

if TYPE_CHECKING:
    from training.predict.inference import Predictor


@dataclass(frozen=True)
class GalleryFiles:
    """The files of a gallery, listed in the worker (never on the GUI thread)."""

    generation: int
    paths: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    """(path, why) of every file under the sources that is not read as an image."""


@dataclass(frozen=True)
class PredictionBatch:
    generation: int
    predictions: tuple[Prediction, ...]
    classes: tuple[str, ...]
    calibration: NoveltyCalibration | None = None
    """The model's `NoveltyCalibration` (101 plain floats, torch-free), or None: with it the
    GUI thread re-flags "none of these" for any percentile without running the model."""
    runtime: str | None = None
    """What ran the network for this batch ("onnxruntime", "pytorch"); None when every
    photo's features were already in the feature store."""


class ClassifyJob(Job):
    """List the images under the given files/folders, then classify them in batches.

    `model` is a model file path, or None for the built-in ImageNet classifier. Every
    message carries the gallery `generation` it belongs to, so results of a job the user
    has since replaced are recognised and dropped.
    """

    BATCH = 32

    def __init__(self, sources: list[Path], model: str | None, generation: int) -> None:
        super().__init__()
        self.sources = sources
        self.model = model
        self.generation = generation

    def work(self) -> int:
        from training import Predictor
        from training.data.listing import list_images

        listing = list_images(self.sources)
        paths = tuple(str(p) for p in listing.images)
        skipped = tuple((str(item.path), item.reason) for item in listing.skipped)
        self.progressed.emit(GalleryFiles(self.generation, paths, skipped))
        if not paths or self.cancel.is_set():
            return 0
        predictor = Predictor.imagenet() if self.model is None else Predictor.from_file(self.model)
        batch: list[Prediction] = []
        done = 0
        for prediction in predictor.predict(paths, self.BATCH, self.cancel):
            batch.append(prediction)
            if len(batch) == self.BATCH:
                done += len(batch)
                self.progressed.emit(self._batch(predictor, batch))
                batch = []
        if batch:
            done += len(batch)
            self.progressed.emit(self._batch(predictor, batch))
        return done

    def _batch(self, predictor: Predictor, batch: list[Prediction]) -> PredictionBatch:
        return PredictionBatch(self.generation, tuple(batch), predictor.classes,
                               predictor.calibration, predictor.runtime)
