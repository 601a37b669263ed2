"""How good a model is on a split: accuracy and balanced accuracy (the mean per-class recall,
which a rare class cannot hide in), confusion matrix, per-class scores, worst mistakes, how
many of its images the "none of these" score would flag, and how well its confidences are
calibrated there (reliability bins and ECE, beside the file's stored figures)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace

from training.core.errors import CheetahLionError, DatasetError
from training.data.splitting import split_dataset
from training.fitting.modelfile import TrainedModel
from training.predict.inference import Predictor
from training.records.calibration import ModelCalibration, reliability
from training.records.config import TrainConfig
from training.records.dataset import Dataset, Split, SplitName
from training.records.evaluation import ClassScores, EvaluationReport, ImageOutcome
from training.records.events import PhaseProgress
from training.records.novelty_calibration import DEFAULT_PERCENTILE
from training.records.predictions import Prediction


def model_split(model: TrainedModel, dataset: Dataset) -> Split:
    """The split the model was trained with, drawn again from the seed in its file."""
    config = TrainConfig.from_dict(model.metadata.get("config", {}))
    return split_dataset(dataset, config.val_fraction, config.test_fraction, config.seed)


def evaluate(
    model: TrainedModel,
    dataset: Dataset,
    part: SplitName = "val",
    split: Split | None = None,
    progress: Callable[[PhaseProgress], None] | None = None,
    cancel: threading.Event | None = None,
    batch_size: int = 32,
    unfamiliar_percentile: float = DEFAULT_PERCENTILE,
    feature_precision: str | None = None,
) -> EvaluationReport:
    """Score `model` on one part of `dataset`'s split (the model's own split by default),
    on features of the precision it was trained on unless `feature_precision` says otherwise
    (`Predictor`); the report says what ran (`EvaluationReport.frozen`)."""
    unknown = [name for name in dataset.classes if name not in model.classes]
    if unknown:
        raise CheetahLionError(
            f"The model knows the classes {', '.join(model.classes)}, but the dataset also has "
            f"{', '.join(unknown)}. Evaluate with a dataset of the model's classes."
        )
    split = split or model_split(model, dataset)
    indices = split.part(part)
    if not indices:
        raise DatasetError(f"The {part} split of {dataset.root} is empty: nothing to evaluate.")
    records = [dataset.images[i] for i in indices]
    true_labels = [model.classes.index(dataset.classes[r.label]) for r in records]
    predictions: list[Prediction] = []
    predictor = Predictor.from_model(model, unfamiliar_percentile=unfamiliar_percentile,
                                     feature_precision=feature_precision)
    for prediction in predictor.predict([r.path for r in records], batch_size, cancel):
        predictions.append(prediction)
        if progress and (len(predictions) % batch_size == 0 or len(predictions) == len(records)):
            progress(PhaseProgress("evaluate", len(predictions), len(records), 0.0))
    if len(predictions) < len(records):
        raise CheetahLionError("Evaluation was cancelled.")
    report = summarize(model.classes, true_labels, predictions, part,
                       unfamiliar_percentile if predictor.calibration is not None else None)
    has_thresholds = any(t is not None for t in predictor.thresholds)
    return replace(report, thresholds=predictor.thresholds if has_thresholds else (),
                   calibration=ModelCalibration.of_header(model.metadata),
                   frozen=predictor.frozen_run())


def summarize(classes: Sequence[str], true_labels: Sequence[int],
              predictions: Sequence[Prediction], part: str = "val",
              unfamiliar_percentile: float | None = None) -> EvaluationReport:
    """Metrics from predictions and true class indices (shared by every evaluation path)."""
    size = len(classes)
    confusion = [[0] * size for _ in range(size)]
    outcomes: list[ImageOutcome] = []
    unreadable: list[str] = []
    loss_sum = 0.0
    scored = 0
    for truth, prediction in zip(true_labels, predictions, strict=True):
        if prediction.error is not None or prediction.label is None:
            unreadable.append(prediction.path)
            continue
        predicted = classes.index(prediction.label)
        confusion[truth][predicted] += 1
        loss_sum -= math.log(max(prediction.probabilities[truth], 1e-12))
        scored += 1
        outcomes.append(ImageOutcome(prediction.path, classes[truth], prediction.label,
                                     prediction.confidence, prediction.novelty,
                                     prediction.unfamiliar))
    per_class = []
    for index, name in enumerate(classes):
        hits = confusion[index][index]
        predicted_total = sum(row[index] for row in confusion)
        support = sum(confusion[index])
        precision = hits / predicted_total if predicted_total else 0.0
        recall = hits / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append(ClassScores(name, precision, recall, f1, support))
    correct = sum(confusion[i][i] for i in range(size))
    present = [scores.recall for scores in per_class if scores.support]
    mistakes = sorted((o for o in outcomes if not o.correct), key=lambda o: -o.confidence)
    with_score = [o for o in outcomes if o.novelty is not None]
    unfamiliar = (sum(o.unfamiliar for o in with_score) / len(with_score)
                  if with_score and unfamiliar_percentile is not None else None)
    return EvaluationReport(
        part=part, classes=tuple(classes), accuracy=correct / scored if scored else 0.0,
        loss=loss_sum / scored if scored else float("nan"),
        confusion=tuple(tuple(row) for row in confusion), per_class=tuple(per_class),
        mistakes=tuple(mistakes), outcomes=tuple(outcomes), unreadable=tuple(unreadable),
        images=scored, unfamiliar_fraction=unfamiliar,
        unfamiliar_percentile=unfamiliar_percentile if unfamiliar is not None else None,
        balanced_accuracy=sum(present) / len(present) if present else 0.0,
        reliability=reliability([o.confidence for o in outcomes],
                                [o.correct for o in outcomes]),
    )
