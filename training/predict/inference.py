"""Classify many images with a trained model (or the built-in ImageNet model), in batches.

`Predictor.predict` streams one `Prediction` per path, in order. The network's pooled
features come from `training.models.embedding`: from the feature store for photos seen
before by the same backbone (a quick-mode model's backbone is the pretrained one, so the
finder's and training's features serve it), otherwise decoded a batch ahead and run on
onnxruntime (PyTorch when no graph agrees with it); the classifier, a single linear layer,
then runs on those features. A file that cannot be decoded becomes a `Prediction` with
`error` set; it never stops the others.

When the model file has a "none of these" reference (`training.models.novelty`), the same forward
pass also gives each image's novelty score, and images stranger than the predictor's
`unfamiliar_percentile` of the validation images are flagged as unfamiliar.

A model file may hold per-class thresholds (`training.records.operating_points`): each
`Prediction` carries its top class's threshold, and one below it is unsure
(`Prediction.below_threshold`), after "none of these" was decided.

The frozen features are of the precision the model's head was trained on (the file's
`FrozenUse`: float for files before it), whatever the process's setting, unless a caller
asks for another (`feature_precision`, e.g. the CLI's --feature-precision); features of the
other kind are checked against the head, and a model trained on 8-bit features runs float
ones, with a note, where the 8-bit graph cannot be used (`Predictor.frozen_run`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from training.core.errors import ModelFileError
from training.core.runtime import resolve_device
from training.data.tensors import normalize
from training.fitting.modelfile import TrainedModel, load_model
from training.models import int8_features
from training.models.embedding import FileFeatures, default_store, embed_files
from training.models.frozen import FrozenFeatures
from training.models.imagenet import category_names
from training.models.networks import load_pretrained
from training.models.novelty import novelty_scores
from training.records.backbones import DEFAULT_BACKBONE, get_backbone
from training.records.events import Cancelled
from training.records.model_header import CLASS_THRESHOLDS, MULTI_LABEL
from training.records.novelty_calibration import (
    DEFAULT_PERCENTILE,
    NoveltyCalibration,
    check_percentile,
)
from training.records.operating_points import Thresholds, thresholds_from_header
from training.records.predictions import Prediction, none_of_these
from training.records.runtime_words import FrozenRun, FrozenUse


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
                 unfamiliar_percentile: float = DEFAULT_PERCENTILE,
                 keep_features: bool = True, feature_precision: str | None = None) -> None:
        if model.metadata.get("task") == MULTI_LABEL:  # its softmax top-1 would be wrong
            raise ModelFileError(
                "This is a multi-label model (a photo may get several labels), and this "
                "classifier gives one label per photo. Use it with `cheetahlion-cli predict`, "
                "which labels photos with it.")
        self.device = device or resolve_device("auto")
        self.model = model
        self.network = model.network.to(self.device).eval()
        if self.device.type == "cpu":
            self.network = self.network.to(memory_format=torch.channels_last)
        self.classifier = self.network.get_classifier()
        self.frozen = model_frozen(model, self.network, self.device, feature_precision)
        self.store = default_store() if keep_features else None
        """The feature store (`keep_features`): photos seen before are not run again."""
        self.classes = model.classes
        self.thresholds: Thresholds = thresholds_from_header(
            model.metadata.get(CLASS_THRESHOLDS), model.classes)
        """Each class's threshold in the model file (None: none)."""
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
                  unfamiliar_percentile: float = DEFAULT_PERCENTILE,
                  keep_features: bool = True, feature_precision: str | None = None
                  ) -> Predictor:
        """A predictor for the model file at `path`. The file's model is kept for the
        process's next predictor of the same unchanged file (classifying a folder again,
        evaluating after classifying): opening and checking a model costs about a second."""
        return cls(_opened(Path(path)), device, unfamiliar_percentile, keep_features,
                   feature_precision)

    @classmethod
    def from_model(cls, model: TrainedModel, device: torch.device | None = None,
                   unfamiliar_percentile: float = DEFAULT_PERCENTILE,
                   keep_features: bool = True, feature_precision: str | None = None
                   ) -> Predictor:
        return cls(model, device, unfamiliar_percentile, keep_features, feature_precision)

    @classmethod
    def imagenet(cls, device: torch.device | None = None,
                 feature_precision: str | None = None) -> Predictor:
        """The untouched pretrained model with its 1000 ImageNet classes: works before training."""
        return cls(imagenet_model(), device, feature_precision=feature_precision)

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

    @property
    def runtime(self) -> str | None:
        """What runs the network: "onnxruntime" or "pytorch"; None before the first photo
        that was not already in the feature store."""
        return self.frozen.runtime

    def frozen_run(self) -> FrozenRun:
        """What ran the frozen network, against what the model was trained on (its runtime
        None before the first photo, or when every photo's features were stored)."""
        return self.frozen.run_record()

    def probabilities(self, pixels: torch.Tensor) -> torch.Tensor:
        """Class probabilities for a uint8 NCHW batch produced by `load_pixels`, straight
        through the PyTorch network: the reference that exports and graphs are checked by."""
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
        """One `Prediction` per path, in order, computed in batches of `batch_size`.

        Stops quietly at the next batch once `cancel` is set.
        """
        files = [Path(p) for p in paths]
        batches = embed_files(files, self.frozen, self.store, cancel, batch_size=batch_size)
        try:
            for start, batch in zip(range(0, len(files), batch_size), batches, strict=False):
                yield from self._classify(files[start:start + batch_size], batch)
        except Cancelled:
            return

    def _classify(self, paths: Sequence[Path], batch: Sequence[FileFeatures]
                  ) -> Iterator[Prediction]:
        good = [i for i, item in enumerate(batch) if not isinstance(item, str)]
        rows: dict[int, list[float]] = {}
        novelty: dict[int, float] = {}
        if good:
            features = torch.from_numpy(np.stack([batch[i] for i in good]))
            with torch.inference_mode():
                logits = self.classifier(features.to(self.device)).float().cpu()
            rows = dict(zip(good, logits.softmax(1).tolist(), strict=True))
            if self._reference is not None and self.calibration is not None:
                scores = novelty_scores(features, self._reference, self.calibration.k)
                novelty = dict(zip(good, scores.tolist(), strict=True))
        for i, path in enumerate(paths):
            if i in rows:
                row = rows[i]
                best = max(range(len(row)), key=row.__getitem__)
                score = novelty.get(i)
                yield Prediction(str(path), self.classes[best], row[best], tuple(row),
                                 novelty=score, unfamiliar=none_of_these(
                                     score, self.calibration, self._percentile),
                                 threshold=self.thresholds[best])
            else:
                yield Prediction(str(path), None, 0.0, (), error=str(batch[i]))


def model_frozen(model: TrainedModel, network: torch.nn.Module, device: torch.device,
                 precision: str | None = None) -> FrozenFeatures:
    """`network`'s frozen features at `precision` ("auto", "float", "int8"; refused when
    "int8" cannot be used), or, when None, at the precision `model` was trained on, whatever
    the process's setting: float where 8-bit cannot be used, with a note.

    8-bit features made with other settings than this machine's (full-range weights on a
    processor with VNNI, 7-bit elsewhere: `int8_features.quantization`) are not the ones the
    head was trained on, so such a model runs float features here, checked and noted."""
    trained = FrozenUse.of_header(model.metadata)
    foreign = (precision is None and trained.precision == "int8"
               and trained.settings not in (None, int8_features.settings_tag()))
    frozen = FrozenFeatures(network, model.preprocessing, device,
                            precision="float" if foreign else precision or trained.precision,
                            trained=trained.precision, fallback=precision is None)
    if foreign:
        frozen.note = ("This model was trained on 8-bit features made on another kind of "
                       "processor, which this one cannot reproduce; float features ran "
                       "instead.")
    return frozen


_OPENED: dict[tuple[str, int, int], TrainedModel] = {}
_OPENED_LOCK = threading.Lock()
KEEP_OPENED = 2
"""Model files kept open per process (about 15 MB each for EfficientNet-Lite0)."""


def _opened(path: Path) -> TrainedModel:
    """`load_model(path)`, or the model this process opened from the same unchanged file.

    Predictors share it read-only: each puts the network in eval mode on its device, which
    changes nothing a second time, and inference never writes to it.
    """
    try:
        status = path.stat()
    except OSError:
        return load_model(path)  # which says what is wrong with the path
    key = (str(path.resolve()), status.st_size, status.st_mtime_ns)
    with _OPENED_LOCK:
        model = _OPENED.get(key)
    if model is None:
        model = load_model(path)
        with _OPENED_LOCK:
            _OPENED[key] = model
            while len(_OPENED) > KEEP_OPENED:
                _OPENED.pop(next(iter(_OPENED)))
    return model
