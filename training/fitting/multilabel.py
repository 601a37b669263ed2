"""`fit_multilabel`: a multi-label model, quick (stored features, a sigmoid head) or fine-tuned.

The features are exactly quick mode's (`training.fitting.quick`): the pretrained network,
frozen, run once per photo on onnxruntime through the feature store
(`training.models.embedding`), so a multi-label run, a single-label run and the finder share
them. A linear head with one sigmoid per label is fitted on them to convergence
(`multilabel_head`: pos-weighted BCE with a small L2 pull, full-batch L-BFGS, quick mode's
frozen events). Each label's threshold is then chosen on validation, where its F1 is best
(`multilabel_metrics.best_thresholds`), and the whole network with the new head is saved as
single-label quick mode saves it, with `task: "multi-label"` and `thresholds` in the header.
Before saving, each label gets a temperature fitted on validation (`multilabel_calibration`:
folded into its row of the head, its threshold moved with it so no decision changes), kept
in the header's "label_calibration".

When every label is an ImageNet category, ImageNet's rows for them (their mean weight) are
a second candidate, never-worse style (single-label's `never_worse`): after the fresh head,
whose epochs the plots show, a head drawn towards those rows instead of towards zero is
fitted and kept only when it wins on the training photos out of fold (`multilabel_prior`,
which says why validation was the wrong judge); `started_from_imagenet` says which was kept.

`feature_views` adds augmented views of the training photos as single-label quick mode does
(`quick.augmented_view`, stored like the plain features). It stays 0 by default: two views
on the benchmark's mosaics gave no better validation mAP (0.956 against 0.959, mean of three
seeds) and made a cold run 2–3 times longer.

Fine-tune mode fits that head first, without showing its epochs, then trains the whole
network from it (`multilabel_finetune`: the fine-tune's epochs are the ones the plots show,
its "accuracy" the validation mAP); the thresholds are then chosen on the kept network's
validation probabilities, or on the head's when fine-tuning did not beat it.

Not done here: the "none of these" reference, torchrun, resuming a stopped fine-tune. The
run history entry is written by `multilabel_record`.
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

from training.core.errors import DatasetError
from training.core.runtime import describe_device, resolve_device, seed_everything
from training.core.versions import library_versions
from training.fitting.distributed import Workers
from training.fitting.modelfile import TrainedModel, save_model
from training.fitting.multilabel_calibration import calibrate_head
from training.fitting.multilabel_finetune import Tuned, finetune_multilabel, mean_average_precision
from training.fitting.multilabel_head import HeadOutcome, HeadTraining
from training.fitting.multilabel_metrics import best_thresholds, build_report
from training.fitting.multilabel_prior import prior_earns_its_place
from training.fitting.multilabel_record import record_multilabel_run
from training.fitting.quick import augmented_view
from training.fitting.run_context import RunContext
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
from training.records.multilabel_calibration import HEADER_KEY as CALIBRATION_KEY
from training.records.multilabel_calibration import MultiLabelCalibration
from training.records.run_record import RunRecord
from training.records.runtime_words import HEADER_KEY as FROZEN_KEY
from training.records.runtime_words import FrozenUse

QUICK_HEAD_EPOCHS = TrainConfig().epochs
"""A fine-tune's head is fitted first as quick mode fits it: its epochs of L-BFGS, not the
fine-tune's few."""


@dataclass(frozen=True)
class MultiLabelFitResult:
    """What a multi-label run produced. `model` and `model_path` are None (and
    `validation` too) only when it was cancelled before its first epoch ended (a fine-tune:
    before its head was fitted)."""

    run_id: str
    labels: tuple[str, ...]
    thresholds: tuple[float, ...]
    history: tuple[EpochEnded, ...]
    """The `EpochEnded` events emitted, in order (quick: the fresh head's fit; fine-tune: its
    epochs, whose "accuracy" is the validation mAP)."""
    best_epoch: int
    """Quick: the last epoch emitted (the fit converged there, or `epochs` ran out).
    Fine-tune: the epoch kept, 0 when the quick-mode head was kept instead."""
    best_val_loss: float
    """The kept model's validation loss (the ImageNet-drawn head's, when it was kept)."""
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
    step_losses: tuple[float, ...] = ()
    """A fine-tune's loss at each step (quick mode keeps none)."""
    kept_quick_head: bool = False
    """A fine-tune that kept the quick-mode head on the pretrained network instead: it did
    not beat it on validation mAP, or was stopped before its first epoch ended."""
    kept_note: str | None = None
    """Why a fine-tune kept the quick-mode head, in a sentence; None otherwise."""
    calibration: MultiLabelCalibration | None = None
    """Each label's temperature, folded into the saved head (`multilabel_calibration`)."""

    @property
    def val_map(self) -> float | None:
        return None if self.validation is None else self.validation.mean_average_precision

    @property
    def val_macro_f1(self) -> float | None:
        return None if self.validation is None else self.validation.macro_f1

    @property
    def val_exact_match(self) -> float | None:
        return None if self.validation is None else self.validation.exact_match


@dataclass(frozen=True)
class _Ended:
    """How the run ended, whichever the mode: what the result, the model file, the record
    and `RunFinished` say."""

    history: tuple[EpochEnded, ...]
    step_losses: tuple[float, ...]
    best_epoch: int
    best_val_loss: float
    best_val_accuracy: float
    stopped: str
    kept_quick_head: bool = False
    kept_note: str | None = None

    @classmethod
    def of(cls, outcome: HeadOutcome, tuned: Tuned | None) -> _Ended:
        if tuned is None:
            return cls(outcome.history, (), outcome.best_epoch, outcome.best_val_loss,
                       outcome.best_val_exact, outcome.stopped)
        return cls(tuned.history, tuned.step_losses, tuned.best_epoch, tuned.best_val_loss,
                   tuned.best_val_map, tuned.stopped, tuned.logits is None, tuned.note)


def fit_multilabel(config: TrainConfig, dataset: MultiLabelDataset, split: Split,
                   callback: Callback | None = None, cancel: threading.Event | None = None,
                   output: str | Path | None = None) -> MultiLabelFitResult:
    """Train a multi-label model in the config's mode on `split` of `dataset`; save it to
    `output` (or a new folder under the runs folder). Stops at the next batch once `cancel`
    is set, still saving the best model so far."""
    config = config.validated()
    _check_split(dataset, split)
    emit = callback or ignore_event
    cancel = cancel or threading.Event()
    started = time.perf_counter()
    run_id = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    device = resolve_device(config.device)
    generator = seed_everything(config.seed)
    backbone = get_backbone(config.backbone)
    prep = backbone.preprocessing
    if config.image_size and config.image_size != prep.crop:
        prep = prep.with_crop(config.image_size)
    run = RunContext(config=config, dataset=dataset, split=split, prep=prep,
                     network=load_pretrained(backbone).to(device).eval(), matches=None,
                     device=device, generator=generator, draws=generator, emit=emit,
                     cancel=cancel, workers=Workers())
    emit(_run_started(config, split, describe_device(device)))
    targets = torch.tensor(dataset.targets, dtype=torch.float32, device=device).reshape(
        len(dataset.images), len(dataset.labels))
    frozen = FrozenFeatures(run.network, run.prep, run.device)
    head, outcome, imagenet, val_x = _quick_head(run, targets, frozen)
    tuned = None
    if config.mode == "finetune" and outcome.state is not None and val_x is not None:
        tuned = _finetune(run, head, outcome, (val_x, targets))
    ended = _Ended.of(outcome, tuned)
    # What the kept head classifies on: the frozen features, or the fine-tuned network's.
    features = frozen.use() if tuned is None or tuned.logits is None else FrozenUse(
        "float", "pytorch")
    result = _finish(run, head, outcome.state, ended,
                     (val_x, None if tuned is None else tuned.logits),
                     (run_id, output, started, imagenet, features))
    record, problems = record_multilabel_run(config, dataset, split, result,
                                             describe_device(device))
    result = replace(result, warnings=(*result.warnings, *problems), record=record)
    emit(RunFinished(best_epoch=ended.best_epoch, best_val_loss=ended.best_val_loss,
                     best_val_accuracy=ended.best_val_accuracy, epochs_run=len(ended.history),
                     seconds=result.seconds, stopped=ended.stopped,
                     model_path=result.model_path))
    return result


def _run_started(config: TrainConfig, split: Split, device: str) -> RunStarted:
    """Quick: features, then the head's epochs. Fine-tune: features (for the head, fitted
    unseen), the pixels decoded, then the network's epochs of steps."""
    if config.mode == "quick":
        phases, steps_per_epoch = ("features", "train"), 1
    else:
        phases, steps_per_epoch = ("features", "decode", "train"), \
            -(-len(split.train) // config.batch_size)
    return RunStarted(mode=config.mode, backbone=config.backbone, device=device, phases=phases,
                      epochs=config.epochs, steps_per_epoch=steps_per_epoch,
                      total_steps=steps_per_epoch * config.epochs,
                      train_images=len(split.train), val_images=len(split.val))


def _quick_head(run: RunContext, targets: torch.Tensor, frozen: FrozenFeatures
                ) -> tuple[nn.Linear, HeadOutcome, bool, torch.Tensor | None]:
    """Quick mode's head on the frozen network's stored features: the head, its fit's
    outcome, whether the ImageNet-drawn head was kept, and the validation features (None
    when stopped before they were all computed). Its epochs are the run's in quick mode
    only; a fine-tune fits it with quick mode's epochs, unseen."""
    config, dataset, split = run.config, run.dataset, run.split
    views = 1 + config.feature_views
    counter = FeatureCounter(len(split.train) * views + len(split.val), run.emit)

    def features(part: tuple[int, ...], view: View = CENTRE) -> torch.Tensor:
        paths = [dataset.images[i].path for i in part]
        return embed_dataset(paths, frozen, default_store(), run.cancel, counter.advance,
                             view).to(run.device)

    try:
        train_x = torch.cat([features(split.train, augmented_view(config, v) if v else CENTRE)
                             for v in range(views)])
        val_x = features(split.val)
    except Cancelled:
        train_x = val_x = None
    head = nn.Linear(run.network.get_classifier().in_features, len(dataset.labels)).to(
        run.device)
    if train_x is None or val_x is None:
        return head, HeadOutcome(None, (), 0, float("inf"), 0.0, "cancelled"), False, None
    parts = ((train_x, targets[list(split.train)].repeat(views, 1)),
             (val_x, targets[list(split.val)]))
    quick = config.mode == "quick"
    outcome, imagenet = _fit_head(
        head, parts, _prior(run.network, dataset.labels, config),
        config if quick else replace(config, epochs=QUICK_HEAD_EPOCHS),
        run.emit if quick else ignore_event, run.cancel)
    return head, outcome, imagenet, val_x


def _finetune(run: RunContext, head: nn.Linear, outcome: HeadOutcome,
              val: tuple[torch.Tensor, torch.Tensor]) -> Tuned:
    """Put the fitted head on the network and fine-tune the whole of it from there; the
    head's validation mAP on the stored features is the figure to beat."""
    val_x, targets = val
    network, labels = run.network, run.dataset.labels
    network.reset_classifier(len(labels))
    network.get_classifier().load_state_dict(outcome.state)
    start_map = _val_map(head, outcome.state, (val_x, targets[list(run.split.val)]))
    return finetune_multilabel(run, targets.cpu(), (start_map, outcome.best_val_loss))


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


def _val_map(head: nn.Linear, state: dict, val: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Mean AP over the labels with a positive in validation, of `head` with `state`."""
    head.load_state_dict(state)
    with torch.no_grad():
        return mean_average_precision(head(val[0]), val[1])


def _finish(run: RunContext, head: nn.Linear, state: dict | None, ended: _Ended,
            val: tuple[torch.Tensor | None, torch.Tensor | None], info: tuple
            ) -> MultiLabelFitResult:
    """Choose the thresholds on the kept model's validation probabilities (`val`: the
    validation features, and the fine-tuned network's logits when it is kept; else the
    head's on those features, and the head goes on the network), calibrate each label
    (thresholds moved with it), and save the model."""
    run_id, output, started, imagenet, features = info
    val_x, tuned = val
    config, dataset, split, network = run.config, run.dataset, run.split, run.network
    labels = dataset.labels
    if state is None or val_x is None:
        return MultiLabelFitResult(run_id, labels, (), ended.history, 0, ended.best_val_loss,
                                   ended.stopped, time.perf_counter() - started, imagenet,
                                   None, None, None, (), None, ended.step_losses)
    if tuned is not None:
        logits = tuned  # the network holds the fine-tuned weights
    else:
        head.load_state_dict(state)
        with torch.no_grad():
            logits = head(val_x).float().cpu()
        network.reset_classifier(len(labels))
        network.get_classifier().load_state_dict(state)
    val_targets = [dataset.targets[i] for i in split.val]
    thresholds = best_thresholds(torch.sigmoid(logits).numpy(), val_targets)
    calibration, thresholds, probabilities = calibrate_head(
        network.get_classifier(), labels, logits, torch.tensor(val_targets), thresholds)
    validation = replace(build_report("val", labels, [str(dataset.images[i].path)
                                                      for i in split.val],
                                      probabilities, val_targets, thresholds),
                         calibration=calibration)
    model = TrainedModel(
        network=network.to(memory_format=torch.contiguous_format).eval(),
        backbone=config.backbone, classes=labels, preprocessing=run.prep,
        metadata={**_metadata(run, ended, thresholds, validation, imagenet),
                  CALIBRATION_KEY: calibration.to_dict(), FROZEN_KEY: features.to_dict()})
    warnings: list[str] = []
    target = Path(output) if output else runs.run_folder(dataset.root, run_id) / runs.MODEL_NAME
    with runs.keeping_replaced_models(target, run_id, warnings) as keeping:
        keeping.saved = save_model(model, target)
    return MultiLabelFitResult(
        run_id, labels, thresholds, ended.history, ended.best_epoch, ended.best_val_loss,
        ended.stopped, time.perf_counter() - started, imagenet, validation,
        str(keeping.saved), model, tuple(warnings), None, ended.step_losses,
        ended.kept_quick_head, ended.kept_note, calibration)


def _metadata(run: RunContext, ended: _Ended, thresholds: tuple[float, ...],
              validation: MultiLabelReport, imagenet: bool) -> dict:
    """What the model file says about the run, besides the network and its labels."""
    config, split = run.config, run.split
    kept = {} if config.mode == "quick" else {
        "kept": "quick head" if ended.kept_quick_head else "fine-tuned"}
    return {
        "task": MULTI_LABEL,
        "thresholds": [float(t) for t in thresholds],
        "config": config.to_dict(),
        "seed": config.seed,
        "metrics": {
            "best_epoch": ended.best_epoch, "val_loss": ended.best_val_loss,
            "val_map": _number(validation.mean_average_precision),
            "val_macro_f1": validation.macro_f1, "val_micro_f1": validation.micro_f1,
            "val_exact_match": validation.exact_match, "stopped": ended.stopped,
            "started_from_imagenet": imagenet, **kept,
        },
        "split": {"source": split.source, **split.sizes()},
        "dataset_fingerprint": run.dataset.fingerprint,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": library_versions(),
    }


def _number(value: float) -> float | None:
    """JSON has no NaN: an undefined figure is stored as null."""
    return None if value != value else value
