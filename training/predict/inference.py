"""Classify many images with a trained model (or the built-in ImageNet model), in batches.

`Predictor.predict` streams one `Prediction` per path, in order, while a small thread pool
decodes the next batch during the current batch's forward pass. A file that cannot be
decoded becomes a `Prediction` with `error` set; it never stops the others.

When the model file has a "none of these" reference (`training.models.novelty`), the same forward
pass also gives each image's novelty score, and images stranger than the predictor's
`unfamiliar_percentile` of the validation images are flagged as unfamiliar.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from training.core.runtime import resolve_device
from training.data.images import ImageProblem
from training.data.preprocessing import load_pixels
from training.data.tensors import normalize, to_uint8_batch
from training.fitting.modelfile import TrainedModel, load_model
from training.models.backbones import DEFAULT_BACKBONE, get_backbone
from training.models.features import embed
from training.models.imagenet import category_names
from training.models.networks import load_pretrained
from training.models.novelty import novelty_scores
from training.models.novelty_calibration import (
    DEFAULT_PERCENTILE,
    NoveltyCalibration,
    check_percentile,
)

DECODE_WORKERS = 2


@dataclass(frozen=True)
class Prediction:
    path: str
    label: str | None
    confidence: float
    probabilities: tuple[float, ...]
    """One per class of the predictor, in `Predictor.classes` order; empty on error."""
    error: str | None = None
    novelty: float | None = None
    """How unlike the training images it looks (`training.models.novelty`); None when the model has
    no reference (the ImageNet model, files from before format 2) or the file is unreadable."""
    unfamiliar: bool = False
    """"None of these": `novelty` is above the predictor's threshold."""


def imagenet_model() -> TrainedModel:
    """The default backbone as ImageNet trained it, with its 1000 classes, as a model to
    classify or explain with before any training (it has no "none of these" reference)."""
    backbone = get_backbone(DEFAULT_BACKBONE)
    return TrainedModel(
        network=load_pretrained(backbone), backbone=backbone.name,
        classes=category_names(), preprocessing=backbone.preprocessing,
        metadata={"imagenet": True},
    )


class Predictor:
    """A model ready to classify files; build with `from_file`, `from_model` or `imagenet`.

    The model's network is put in eval mode and moved to the device (on a CPU also into
    channels-last layout) in place: a `TrainedModel` handed over is shared, not copied.
    """

    def __init__(self, model: TrainedModel, device: torch.device | None = None,
                 unfamiliar_percentile: float = DEFAULT_PERCENTILE) -> None:
        self.device = device or resolve_device("auto")
        self.model = model
        self.network = model.network.to(self.device).eval()
        if self.device.type == "cpu":
            self.network = self.network.to(memory_format=torch.channels_last)
        self.classes = model.classes
        self.preprocessing = model.preprocessing
        self.calibration: NoveltyCalibration | None = None
        self._reference: torch.Tensor | None = None
        if model.novelty is not None:
            self.calibration = model.novelty.calibration
            # On the CPU: `embed` hands the features back there, and the matrix product is tiny.
            self._reference = model.novelty.features.to("cpu", torch.float32)
        self.unfamiliar_percentile = unfamiliar_percentile

    @classmethod
    def from_file(cls, path: str | Path, device: torch.device | None = None,
                  unfamiliar_percentile: float = DEFAULT_PERCENTILE) -> Predictor:
        return cls(load_model(path), device, unfamiliar_percentile)

    @classmethod
    def from_model(cls, model: TrainedModel, device: torch.device | None = None,
                   unfamiliar_percentile: float = DEFAULT_PERCENTILE) -> Predictor:
        return cls(model, device, unfamiliar_percentile)

    @classmethod
    def imagenet(cls, device: torch.device | None = None) -> Predictor:
        """The untouched pretrained model with its 1000 ImageNet classes: works before training."""
        return cls(imagenet_model(), device)

    @property
    def unfamiliar_percentile(self) -> float:
        """Flag images stranger than this % of the validation images (default 95)."""
        return self._percentile

    @unfamiliar_percentile.setter
    def unfamiliar_percentile(self, value: float) -> None:
        self._percentile = check_percentile(value)

    @property
    def unfamiliar_threshold(self) -> float | None:
        """The novelty score above which an image is "none of these"; None without reference."""
        return None if self.calibration is None else self.calibration.threshold(self._percentile)

    def scored(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Probabilities and novelty scores (None without reference) from one forward pass."""
        if self._reference is None or self.calibration is None:
            return self.probabilities(pixels), None
        embedded = embed(self.network, pixels, self.preprocessing, self.device,
                         batch_size=max(len(pixels), 1))
        scores = novelty_scores(embedded.features, self._reference, self.calibration.k)
        return embedded.logits.softmax(1), scores

    def probabilities(self, pixels: torch.Tensor) -> torch.Tensor:
        """Class probabilities for a uint8 NCHW batch produced by `load_pixels`."""
        with torch.inference_mode():
            inputs = normalize(pixels.to(self.device), self.preprocessing)
            if self.device.type == "cpu":
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            return self.network(inputs).float().softmax(1).cpu()

    def predict(
        self,
        paths: Iterable[str | Path],
        batch_size: int = 32,
        cancel: threading.Event | None = None,
    ) -> Iterator[Prediction]:
        """One `Prediction` per path, in order, computed in batches of `batch_size`."""
        batches = _chunks([Path(p) for p in paths], batch_size)
        with ThreadPoolExecutor(DECODE_WORKERS, thread_name_prefix="predict-decode") as pool:
            pending = self._submit(pool, next(batches, None))
            while pending is not None:
                if cancel is not None and cancel.is_set():
                    return
                batch_paths, futures = pending
                pending = self._submit(pool, next(batches, None))  # decode ahead
                yield from self._classify(batch_paths, [f.result() for f in futures])

    def _submit(self, pool: ThreadPoolExecutor, batch: list[Path] | None
                ) -> tuple[list[Path], list[Future[np.ndarray | str]]] | None:
        if batch is None:
            return None
        return batch, [pool.submit(self._decode, path) for path in batch]

    def _decode(self, path: Path) -> np.ndarray | str:
        try:
            return load_pixels(path, self.preprocessing)
        except ImageProblem as problem:
            return str(problem)
        except Exception as error:  # a gallery must survive any one file
            return f"{path}: could not be read ({error})."

    def _classify(self, paths: Sequence[Path], decoded: Sequence[np.ndarray | str]
                  ) -> Iterator[Prediction]:
        good = [i for i, item in enumerate(decoded) if not isinstance(item, str)]
        rows: dict[int, list[float]] = {}
        novelty: dict[int, float] = {}
        if good:
            batch = to_uint8_batch([decoded[i] for i in good])  # type: ignore[misc]
            probabilities, scores = self.scored(batch)
            for i, row in zip(good, probabilities.tolist(), strict=True):
                rows[i] = row
            if scores is not None:
                novelty = dict(zip(good, scores.tolist(), strict=True))
        threshold = self.unfamiliar_threshold
        for i, path in enumerate(paths):
            if i in rows:
                row = rows[i]
                best = max(range(len(row)), key=row.__getitem__)
                score = novelty.get(i)
                flagged = score is not None and threshold is not None and score > threshold
                yield Prediction(str(path), self.classes[best], row[best], tuple(row),
                                 novelty=score, unfamiliar=flagged)
            else:
                yield Prediction(str(path), None, 0.0, (), error=str(decoded[i]))


def _chunks(items: list[Path], size: int) -> Iterator[list[Path]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
