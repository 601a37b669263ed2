"""`fit_multilabel`: a multi-label model in quick mode (stored features, a sigmoid head).

The features are exactly quick mode's (`training.fitting.quick`): the pretrained network,
frozen, run once per photo on onnxruntime through the feature store
(`training.models.embedding`), so a multi-label run, a single-label run and the finder share
them. A linear head with one sigmoid per label is fitted on them to convergence
(`multilabel_head`: pos-weighted BCE with a small L2 pull, full-batch L-BFGS, quick mode's
frozen events). Each label's threshold is then chosen on validation, where its F1 is best
(`multilabel_metrics.best_thresholds`), and the whole network with the new head is saved as
single-label quick mode saves it, with `task: "multi-label"` and `thresholds` in the header.

When every label is an ImageNet category, ImageNet's rows for them (their mean weight) are
a second candidate, never-worse style (single-label's `never_worse`): after the fresh head,
whose epochs the plots show, a head drawn towards those rows instead of towards zero is
fitted and kept only when it wins on the training photos out of fold (`multilabel_prior`,
which says why validation was the wrong judge); `started_from_imagenet` says which was kept.

`feature_views` adds augmented views of the training photos as single-label quick mode does
(`quick._augmented_view`, stored like the plain features). It stays 0 by default: two views
on the benchmark's mosaics gave no better validation mAP (0.956 against 0.959, mean of three
seeds) and made a cold run 2–3 times longer.

Not done here: fine-tuning (a ConfigError says so), the "none of these" reference, torchrun.
The run history entry is written by `multilabel_record`.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import torch
from torch import nn

from training.core.errors import ConfigError, DatasetError
from training.core.runtime import describe_device, resolve_device, seed_everything
from training.core.versions import library_versions
from training.fitting.modelfile import TrainedModel, save_model
from training.fitting.multilabel_head import HeadOutcome, HeadTraining
from training.fitting.multilabel_metrics import best_thresholds, build_report
from training.fitting.multilabel_prior import prior_earns_its_place
from training.fitting.multilabel_record import record_multilabel_run
from training.fitting.quick import _augmented_view
from training.models.embedding import CENTRE, View, default_store, embed_dataset
from training.models.features import FeatureCounter
from training.models.frozen import FrozenFeatures
from training.models.imagenet import match_classes
from training.models.networks import load_pretrained
from training.records import runs
from training.records.backbones import get_backbone
from training.records.config import TrainConfig
from training.records.dataset import Split
from training.records.events import (
    Callback,
    Cancelled,
    EpochEnded,
    RunFinished,
    RunStarted,
    ignore_event,
)
from training.records.model_header import MULTI_LABEL
from training.records.multilabel import MultiLabelDataset, MultiLabelReport
from training.records.run_record import RunRecord


@dataclass(frozen=True)
class MultiLabelFitResult:
    """What a multi-label run produced. `model` and `model_path` are None (and
    `validation` too) only when it was cancelled before its first epoch ended."""

    run_id: str
    labels: tuple[str, ...]
    thresholds: tuple[float, ...]
    history: tuple[EpochEnded, ...]
    """The `EpochEnded` events emitted, in order (the fresh head's fit)."""
    best_epoch: int
    """The last epoch emitted (the fit converged there, or `epochs` ran out)."""
    best_val_loss: float
    """The kept head's validation loss (the ImageNet-drawn head's, when it was kept)."""
    stopped: str
    seconds: float
    started_from_imagenet: bool
    validation: MultiLabelReport | None
    """The validation figures at the chosen thresholds (which were chosen on the same
    images: a held-out test part gives the unbiased figures)."""
    model_path: str | None
    model: TrainedModel | None
    warnings: tuple[str, ...] = ()
    record: RunRecord | None = None
    """The run's entry in the run history as written (None when it could not be)."""

    @property
    def val_map(self) -> float | None:
        return None if self.validation is None else self.validation.mean_average_precision

    @property
    def val_macro_f1(self) -> float | None:
        return None if self.validation is None else self.validation.macro_f1

    @property
    def val_exact_match(self) -> float | None:
        return None if self.validation is None else self.validation.exact_match


def fit_multilabel(config: TrainConfig, dataset: MultiLabelDataset, split: Split,
                   callback: Callback | None = None, cancel: threading.Event | None = None,
                   output: str | Path | None = None) -> MultiLabelFitResult:
    """Train a multi-label quick-mode model on `split` of `dataset`; save it to `output`
    (or a new folder under the runs folder). Stops at the next batch once `cancel` is set,
    still saving the best head so far."""
    config = config.validated()
    if config.mode != "quick":
        raise ConfigError("Multi-label training is quick mode only for now (a sigmoid head "
                          "on the frozen network's features): choose quick mode.")
    _check_split(dataset, split)
    emit = callback or ignore_event
    cancel = cancel or threading.Event()
    started = time.perf_counter()
    run_id = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    device = resolve_device(config.device)
    seed_everything(config.seed)
    backbone = get_backbone(config.backbone)
    prep = backbone.preprocessing
    if config.image_size and config.image_size != prep.crop:
        prep = prep.with_crop(config.image_size)
    network = load_pretrained(backbone).to(device).eval()
    emit(RunStarted(mode="quick", backbone=config.backbone, device=describe_device(device),
                    phases=("features", "train"), epochs=config.epochs, steps_per_epoch=1,
                    total_steps=config.epochs, train_images=len(split.train),
                    val_images=len(split.val)))
    frozen = FrozenFeatures(network, prep, device)
    views = 1 + config.feature_views
    counter = FeatureCounter(len(split.train) * views + len(split.val), emit)

    def features(part: tuple[int, ...], view: View = CENTRE) -> torch.Tensor:
        paths = [dataset.images[i].path for i in part]
        return embed_dataset(paths, frozen, default_store(), cancel, counter.advance,
                             view).to(device)

    try:
        train_x = torch.cat([features(split.train, _augmented_view(config, v) if v else CENTRE)
                             for v in range(views)])
        val_x = features(split.val)
    except Cancelled:
        train_x = val_x = None
    targets = torch.tensor(dataset.targets, dtype=torch.float32, device=device).reshape(
        len(dataset.images), len(dataset.labels))
    head = nn.Linear(network.get_classifier().in_features, len(dataset.labels)).to(device)
    outcome, imagenet = HeadOutcome(None, (), 0, float("inf"), 0.0, "cancelled"), False
    if train_x is not None and val_x is not None:
        parts = ((train_x, targets[list(split.train)].repeat(views, 1)),
                 (val_x, targets[list(split.val)]))
        outcome, imagenet = _fit_head(head, parts, _prior(network, dataset.labels, config),
                                      config, emit, cancel)
    result = _finish(config, dataset, split, network, prep, head, outcome, val_x,
                     (run_id, output, started, imagenet))
    record, problems = record_multilabel_run(config, dataset, split, result,
                                             describe_device(device))
    result = replace(result, warnings=(*result.warnings, *problems), record=record)
    emit(RunFinished(best_epoch=outcome.best_epoch, best_val_loss=outcome.best_val_loss,
                     best_val_accuracy=outcome.best_val_exact, epochs_run=len(outcome.history),
                     seconds=result.seconds, stopped=outcome.stopped,
                     model_path=result.model_path))
    return result


def _check_split(dataset: MultiLabelDataset, split: Split) -> None:
    """Refuse a dataset with errors, and a split that cannot train and validate or points
    past the dataset."""
    if not dataset.report.can_train:
        raise DatasetError(dataset.report.errors[0].message)
    if not dataset.labels:
        raise DatasetError(f"{dataset.root}: no labels to learn. Label some photos first.")
    if not split.train or not split.val:
        raise DatasetError(
            f"{dataset.root}: too few usable images to train and validate "
            f"({len(split.train)} for training, {len(split.val)} for validation). "
            "Add more labelled photos.")
    if any(not 0 <= i < len(dataset.images) for i in (*split.train, *split.val, *split.test)):
        raise DatasetError(f"{dataset.root}: the split names images the dataset does not "
                           "have. Split the dataset again.")


def _prior(network: nn.Module, labels: tuple[str, ...], config: TrainConfig
           ) -> torch.Tensor | None:
    """ImageNet's rows for the labels (each label's mean row) when every label is an
    ImageNet category and the config allows it; else None."""
    matches = match_classes(labels) if config.init_from_imagenet else None
    if not matches:
        return None
    weight = network.get_classifier().weight.detach()
    return torch.stack([weight[list(matches[name])].mean(0) for name in labels])


def _fit_head(head: nn.Linear, parts: tuple, prior: torch.Tensor | None, config: TrainConfig,
              emit: Callback, cancel: threading.Event) -> tuple[HeadOutcome, bool]:
    """The fresh head's fit (its events emitted); with a `prior` that earns its place
    (`multilabel_prior`), the head drawn towards it instead. (outcome, whether the
    ImageNet-drawn head was kept)."""
    train, val = parts
    fresh = HeadTraining(head, train, val, config, emit, cancel).run()
    if prior is None or fresh.state is None or not prior_earns_its_place(
            train, prior, config, cancel, 1 + config.feature_views):
        return fresh, False
    imagenet = HeadTraining(nn.Linear(head.in_features, head.out_features).to(prior.device),
                            train, val, config, ignore_event, cancel, prior).run()
    if imagenet.state is None or cancel.is_set():
        return fresh, False
    # The plots showed the fresh fit's epochs: its last stays the run's "best epoch".
    return replace(imagenet, history=fresh.history, best_epoch=fresh.best_epoch), True


def _finish(config: TrainConfig, dataset: MultiLabelDataset, split: Split,
            network: nn.Module, prep: object, head: nn.Linear, outcome: HeadOutcome,
            val_x: torch.Tensor | None, run: tuple) -> MultiLabelFitResult:
    """Choose the thresholds, put the best head on the network and save the model."""
    run_id, output, started, imagenet = run
    labels = dataset.labels
    if outcome.state is None or val_x is None:
        return MultiLabelFitResult(run_id, labels, (), outcome.history, 0, outcome.best_val_loss,
                                   outcome.stopped, time.perf_counter() - started, imagenet,
                                   None, None, None)
    head.load_state_dict(outcome.state)
    with torch.no_grad():
        probabilities = torch.sigmoid(head(val_x)).cpu().numpy()
    val_targets = [dataset.targets[i] for i in split.val]
    thresholds = best_thresholds(probabilities, val_targets)
    validation = build_report("val", labels, [str(dataset.images[i].path) for i in split.val],
                              probabilities, val_targets, thresholds)
    network.reset_classifier(len(labels))
    network.get_classifier().load_state_dict(outcome.state)
    model = TrainedModel(
        network=network.to(memory_format=torch.contiguous_format).eval(),
        backbone=config.backbone, classes=labels, preprocessing=prep,
        metadata=_metadata(config, dataset, split, outcome, thresholds, validation, imagenet))
    warnings: list[str] = []
    target = Path(output) if output else runs.run_folder(dataset.root, run_id) / runs.MODEL_NAME
    with runs.keeping_replaced_models(target, run_id, warnings) as keeping:
        keeping.saved = save_model(model, target)
    return MultiLabelFitResult(
        run_id, labels, thresholds, outcome.history, outcome.best_epoch, outcome.best_val_loss,
        outcome.stopped, time.perf_counter() - started, imagenet, validation,
        str(keeping.saved), model, tuple(warnings))


def _metadata(config: TrainConfig, dataset: MultiLabelDataset, split: Split,
              outcome: HeadOutcome, thresholds: tuple[float, ...],
              validation: MultiLabelReport, imagenet: bool) -> dict:
    """What the model file says about the run, besides the network and its labels."""
    return {
        "task": MULTI_LABEL,
        "thresholds": [float(t) for t in thresholds],
        "config": config.to_dict(),
        "seed": config.seed,
        "metrics": {
            "best_epoch": outcome.best_epoch, "val_loss": outcome.best_val_loss,
            "val_map": _number(validation.mean_average_precision),
            "val_macro_f1": validation.macro_f1, "val_micro_f1": validation.micro_f1,
            "val_exact_match": validation.exact_match, "stopped": outcome.stopped,
            "started_from_imagenet": imagenet,
        },
        "split": {"source": split.source, **split.sizes()},
        "dataset_fingerprint": dataset.fingerprint,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": library_versions(),
    }


def _number(value: float) -> float | None:
    """JSON has no NaN: an undefined figure is stored as null."""
    return None if value != value else value
