"""Using a multi-label model: every label at or above its threshold, for many files.

`MultiLabelPredictor` gets features exactly as the single-label `Predictor` does
(`training.models.embedding`: the feature store, else decoded a batch ahead and run on
onnxruntime), then the head, a sigmoid per label and the thresholds stored in the model
file. A file that cannot be read becomes a prediction with `error` set; it never stops the
others. `evaluate_multilabel` scores a model on part of a `MultiLabelDataset`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from training.core.errors import ModelFileError
from training.core.runtime import resolve_device
from training.fitting.modelfile import TrainedModel, load_model
from training.fitting.multilabel_metrics import build_report
from training.models.embedding import FileFeatures, default_store, embed_files
from training.predict.inference import model_frozen
from training.records.events import Cancelled
from training.records.model_header import MULTI_LABEL, task_of
from training.records.multilabel import (
    MultiLabelDataset,
    MultiLabelPrediction,
    MultiLabelReport,
)
from training.records.multilabel_calibration import MultiLabelCalibration
from training.records.runtime_words import FrozenRun


def is_multilabel(metadata: dict) -> bool:
    """Whether a model file's (checked) metadata is a multi-label model's."""
    return task_of(metadata) == MULTI_LABEL


class MultiLabelPredictor:
    """A multi-label model ready to label files; build with `from_file` or `from_model`."""

    def __init__(self, model: TrainedModel, device: torch.device | None = None,
                 source: str = "this model", feature_precision: str | None = None) -> None:
        """`feature_precision`: None classifies on the features the model was trained on
        (`training.predict.inference.model_frozen`), whatever the process's setting."""
        if not is_multilabel(model.metadata):
            raise ModelFileError(
                f"{source} is a single-label model (one class per photo), not a multi-label "
                "one: use it with the ordinary classifier, or train a multi-label model.")
        self.device = device or resolve_device("auto")
        self.model = model
        self.network = model.network.to(self.device).eval()
        self.head = self.network.get_classifier()
        self.frozen = model_frozen(model, self.network, self.device, feature_precision)
        self.store = default_store()
        self.labels: tuple[str, ...] = model.classes
        self.thresholds: tuple[float, ...] = tuple(float(t) for t in
                                                   model.metadata["thresholds"])

    @classmethod
    def from_file(cls, path: str | Path, device: torch.device | None = None,
                  feature_precision: str | None = None) -> MultiLabelPredictor:
        """The predictor of the model file at `path`; a single-label file is refused."""
        return cls(load_model(path), device, str(path), feature_precision)

    @classmethod
    def from_model(cls, model: TrainedModel, device: torch.device | None = None,
                   feature_precision: str | None = None) -> MultiLabelPredictor:
        return cls(model, device, feature_precision=feature_precision)

    def frozen_run(self) -> FrozenRun:
        """What ran the frozen network, against what the model was trained on."""
        return self.frozen.run_record()

    def predict(self, paths: Iterable[str | Path], batch_size: int = 32,
                cancel: threading.Event | None = None) -> Iterator[MultiLabelPrediction]:
        """One prediction per path, in order, in batches; stops quietly at the next batch
        once `cancel` is set."""
        files = [Path(p) for p in paths]
        batches = embed_files(files, self.frozen, self.store, cancel, batch_size=batch_size)
        try:
            for start, batch in zip(range(0, len(files), batch_size), batches, strict=False):
                yield from self._label(files[start:start + batch_size], batch)
        except Cancelled:
            return

    def probabilities(self, features: torch.Tensor) -> np.ndarray:
        """(N, labels) sigmoid probabilities of (N, D) features."""
        with torch.inference_mode():
            return torch.sigmoid(self.head(features.to(self.device)).float()).cpu().numpy()

    def _label(self, paths: Sequence[Path], batch: Sequence[FileFeatures]
               ) -> Iterator[MultiLabelPrediction]:
        good = [i for i, item in enumerate(batch) if not isinstance(item, str)]
        rows: dict[int, np.ndarray] = {}
        if good:
            features = torch.from_numpy(np.stack([batch[i] for i in good]))
            rows = dict(zip(good, self.probabilities(features), strict=True))
        for i, path in enumerate(paths):
            if i not in rows:
                yield MultiLabelPrediction(str(path), (), (), error=str(batch[i]))
                continue
            row = rows[i]
            yield MultiLabelPrediction(
                str(path),
                tuple(name for name, p, t in zip(self.labels, row, self.thresholds, strict=True)
                      if p >= t),
                tuple(float(p) for p in row))


def evaluate_multilabel(model_path: str | Path, dataset: MultiLabelDataset,
                        split_part_indices: Sequence[int], part: str = "val",
                        cancel: threading.Event | None = None) -> MultiLabelReport:
    """Every multi-label figure of the model on `dataset.images[i]` for the given indices,
    at the model's thresholds. Photos that cannot be read are left out and named in
    `unreadable`. The model's labels must be the dataset's."""
    predictor = MultiLabelPredictor.from_file(model_path)
    if tuple(predictor.labels) != tuple(dataset.labels):
        raise ModelFileError(
            f"{model_path} was trained on the labels {', '.join(predictor.labels)}, not this "
            f"dataset's ({', '.join(dataset.labels)}): evaluate it on a dataset with its labels.")
    chosen = [dataset.images[i] for i in split_part_indices]
    paths, probabilities, targets, unreadable = [], [], [], []
    for image, prediction in zip(chosen, predictor.predict([im.path for im in chosen],
                                                           cancel=cancel), strict=False):
        if prediction.error is not None:
            unreadable.append(prediction.error)
            continue
        paths.append(str(image.path))
        probabilities.append(prediction.probabilities)
        targets.append([int(j in image.labels) for j in range(len(dataset.labels))])
    shape = (len(paths), len(dataset.labels))
    report = build_report(part, dataset.labels, paths,
                          np.asarray(probabilities, dtype=np.float64).reshape(shape),
                          np.asarray(targets, dtype=np.int64).reshape(shape),
                          predictor.thresholds, unreadable)
    return replace(report, calibration=MultiLabelCalibration.of_header(predictor.model.metadata))
