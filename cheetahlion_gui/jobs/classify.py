"""Classifying new images: list the files under what the user chose, then classify in batches.

A multi-label model file (its header says so) is run by the engine's `MultiLabelPredictor`
and its results arrive as `MultiLabelBatch`es; every other model as `PredictionBatch`es.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cheetahlion_gui.jobs.runner import Job
from training.records.multilabel import MultiLabelPrediction
from training.records.novelty_calibration import NoveltyCalibration
from training.records.predictions import Prediction

if TYPE_CHECKING:
    from training.predict.inference import Predictor
    from training.predict.multilabel import MultiLabelPredictor


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
    precision: str = "float"
    """Its features' precision: "int8" (the 8-bit graph) or "float" (also stored ones)."""


@dataclass(frozen=True)
class MultiLabelBatch:
    """A batch of a multi-label model's results: each photo's labels at or above their
    thresholds and one probability per label, in `labels` order."""

    generation: int
    predictions: tuple[MultiLabelPrediction, ...]
    labels: tuple[str, ...]
    thresholds: tuple[float, ...]
    runtime: str | None = None
    """What ran the network for this batch, as `PredictionBatch.runtime`."""
    precision: str = "float"
    """Its features' precision, as `PredictionBatch.precision`."""


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
        if self.model is not None and _is_multilabel_file(self.model):
            return self._label(paths)
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
                               predictor.calibration, predictor.runtime,
                               predictor.frozen.precision)

    def _label(self, paths: tuple[str, ...]) -> int:
        """Run the multi-label model file over `paths`, a batch message at a time."""
        from training.predict.multilabel import MultiLabelPredictor

        predictor = MultiLabelPredictor.from_file(self.model or "")
        batch: list[MultiLabelPrediction] = []
        done = 0
        for prediction in predictor.predict(paths, self.BATCH, self.cancel):
            batch.append(prediction)
            if len(batch) == self.BATCH:
                done += len(batch)
                self.progressed.emit(self._labelled(predictor, batch))
                batch = []
        if batch:
            done += len(batch)
            self.progressed.emit(self._labelled(predictor, batch))
        return done

    def _labelled(self, predictor: MultiLabelPredictor, batch: list[MultiLabelPrediction]
                  ) -> MultiLabelBatch:
        return MultiLabelBatch(self.generation, tuple(batch), predictor.labels,
                               predictor.thresholds, predictor.frozen.runtime,
                               predictor.frozen.precision)


def _is_multilabel_file(path: str) -> bool:
    """Whether the model file's header says multi-label; a file that cannot be read is left
    to the ordinary predictor, whose message names what is wrong with it."""
    from training.core.errors import CheetahLionError
    from training.fitting.modelfile import read_metadata
    from training.predict.multilabel import is_multilabel

    try:
        return is_multilabel(read_metadata(path))
    except (CheetahLionError, OSError, ValueError):
        return False
