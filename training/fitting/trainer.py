"""`fit`: train a classifier on a scanned dataset, in quick or fine-tune mode.

quick (`training.fitting.quick`) — the pretrained backbone stays frozen; a linear head trains on
its features, computed once. partial (`training.fitting.partial`) — quick mode, then the last
blocks and the head train on activations at the cut, stored once per photo.
finetune (`training.fitting.finetune`) — every weight trains on the decoded-once pixels with
batch augmentation.

Both: seeded, validated every epoch, best weights kept by validation loss, early stopping
(`training.fitting.loop`), cancellation honoured at the next batch (the best model so far is
still saved), progress reported as frozen events, the model written atomically and the run
recorded. The model file also gets the "none of these" reference (`training.models.novelty`):
the unaugmented training images' features under the final weights, calibrated on
validation. This module prepares the run (`training.fitting.run_context`), hands it to the mode,
then adjusts the classifier for rare classes (`training.fitting.rare_classes`: a τ chosen on
validation, folded into its bias, and the balanced validation scores), calibrates the final
logits (`training.fitting.calibration`: a temperature chosen on validation, folded into the
classifier, so its confidences mean what they say), saves the model, records the run and
reports `RunFinished`.

The run's bookkeeping is one object on the epoch loop (`training.fitting.run_hooks`): a
fine-tune's checkpoint after every epoch, the never-worse choice, the final record and the
warnings. `fit(..., resume=run)` carries a stopped or crashed run on from the checkpoint,
under the same run id, and ends with the same weights as if it had never stopped. A run
that ends normally deletes it.

Under torchrun (`training.fitting.distributed`) every process runs `fit` on its own shard of the
training images. Fine-tune: the network is wrapped in DistributedDataParallel (gradients
averaged every step); `batch_size` is per process, so the effective batch is batch_size ×
processes, and the learning rate is used as given (raise it yourself to scale it). Each
process also validates its share of the validation images and the sums are added, so all
take the same decisions. Quick: each computes the features of its share, all gather them
and train the same head. Only rank 0 reports progress and writes the model file, the
checkpoints and the run record (which notes the number of `workers`).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import torch

from training.core.errors import DatasetError, ModelFileError
from training.core.runtime import resolve_device, seed_everything
from training.core.versions import library_versions
from training.data.splitting import split_dataset
from training.fitting import distributed
from training.fitting.calibration import calibrate_run
from training.fitting.distributed import Workers
from training.fitting.finetune import train_finetune
from training.fitting.loop import LoopOutcome
from training.fitting.modelfile import TrainedModel, save_model
from training.fitting.partial import train_partial
from training.fitting.quick import train_quick
from training.fitting.rare_classes import adjust_for_rare_classes
from training.fitting.result import FitResult
from training.fitting.run_context import RunContext, Trained
from training.fitting.run_hooks import RunHooks, resumable
from training.fitting.session import RunSession
from training.models.imagenet import match_classes
from training.models.networks import load_pretrained
from training.records import runs
from training.records.backbones import get_backbone
from training.records.calibration import HEADER_KEY, ModelCalibration
from training.records.config import TrainConfig
from training.records.dataset import Dataset, Split
from training.records.events import Callback, Cancelled, RunFinished, ignore_event
from training.records.runtime_words import HEADER_KEY as FROZEN_KEY
from training.records.runtime_words import FrozenUse

MODEL_NAME = "model.safetensors"


def fit(
    config: TrainConfig,
    dataset: Dataset,
    callback: Callback | None = None,
    cancel: threading.Event | None = None,
    output: str | Path | None = None,
    resume: str | Path | None = None,
) -> FitResult:
    """Train on `dataset` as `config` says; save the model to `output` (or the runs folder).

    `resume`: a fine-tuning run to carry on after its last finished epoch, given as its run
    id, run folder or checkpoint file. `config` and the dataset must be the ones it started
    with (only `device` may differ); `output` defaults to the model file it was writing.

    Under torchrun it trains together with the other processes (see the module docstring).
    """
    config = config.validated()
    with distributed.workers(resolve_device(config.device)) as workers:
        return _fit(config, dataset, callback, cancel, output, resume, workers)


def _fit(config: TrainConfig, dataset: Dataset, callback: Callback | None,
         cancel: threading.Event | None, output: str | Path | None, resume: str | Path | None,
         workers: Workers) -> FitResult:
    """Prepare, train in the config's mode, save the model, record the run, report the end."""
    emit = (callback or ignore_event) if workers.is_main else ignore_event
    started = time.perf_counter()
    split = _split(config, dataset)
    saved = resumable(resume, config, dataset, split) if resume is not None else None
    if saved is not None and output is None:
        output = saved.info.output
    run = _prepare(config, dataset, split, emit, cancel or threading.Event(), workers)
    run_id = saved.info.run_id if saved else \
        workers.share(f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}")
    session = RunSession(run_id, str(output) if output else None, started, saved,
                         cleanup_moves=runs.cleanup_moves_at_start(
                             dataset.root, saved.info.run_id if saved else None))
    hooks = RunHooks(run, session, checkpoints=config.mode == "finetune")
    trained = _train(run, session, hooks)
    trained = adjust_for_rare_classes(run, trained)  # logits - τ·log(prior), in the bias
    calibration = calibrate_run(run, trained)  # the final logits: after any other change
    outcome = trained.outcome
    model, model_path = _save(run, session, trained, hooks, calibration)
    result = hooks.run_ended(trained, model, model_path)
    workers.barrier()  # every process returns once the model and record are written
    emit(RunFinished(
        best_epoch=outcome.best_epoch, best_val_loss=outcome.best_val_loss,
        best_val_accuracy=outcome.best_val_accuracy, epochs_run=len(outcome.history),
        seconds=result.seconds, stopped=outcome.stopped,
        model_path=str(model_path) if model_path else None,
        trained_share=hooks.kept.trained_share if hooks.kept else None,
    ))
    return result


def _split(config: TrainConfig, dataset: Dataset) -> Split:
    """The dataset's split, refused when the dataset cannot train or a side is empty."""
    if not dataset.report.can_train:
        raise DatasetError(dataset.report.errors[0].message)
    split = split_dataset(dataset, config.val_fraction, config.test_fraction, config.seed)
    if not split.train or not split.val:
        raise DatasetError(
            f"{dataset.root}: too few usable images to train and validate "
            f"({len(split.train)} for training, {len(split.val)} for validation). "
            "Add more photos to each class."
        )
    return split


def _prepare(config: TrainConfig, dataset: Dataset, split: Split, emit: Callback,
             cancel: threading.Event, workers: Workers) -> RunContext:
    """Seed everything, then load the pretrained network onto this process's device."""
    device = workers.device(resolve_device(config.device))
    generator = seed_everything(config.seed)
    backbone = get_backbone(config.backbone)
    prep = backbone.preprocessing
    if config.image_size and config.image_size != prep.crop:
        prep = prep.with_crop(config.image_size)
    network = load_pretrained(backbone).to(device)
    return RunContext(
        config=config, dataset=dataset, split=split, prep=prep, network=network,
        matches=match_classes(dataset.classes), device=device, generator=generator,
        draws=workers.generator(generator, config.seed), emit=emit, cancel=cancel,
        workers=workers,
    )


def _train(run: RunContext, session: RunSession, hooks: RunHooks) -> Trained:
    """Train in the config's mode. Cancelled before any epoch ended, nothing is trained:
    a resumed run then stands where its checkpoint left it."""
    saved = session.resumed
    try:
        if run.config.mode == "quick":
            return train_quick(run, hooks)
        if run.config.mode == "partial":
            return train_partial(run, hooks)
        return train_finetune(run, hooks, resume=saved.state if saved else None)
    except Cancelled:
        if saved is not None:  # stopped before a new epoch: the run stands where it stood
            return Trained(replace(saved.state.outcome, best_state=None, stopped="cancelled"),
                           saved.info.baseline_accuracy)
        return Trained(LoopOutcome([], [], None, 0, float("inf"), 0.0, "cancelled"), None)


def _save(run: RunContext, session: RunSession, trained: Trained, hooks: RunHooks,
          calibration: ModelCalibration | None) -> tuple[TrainedModel | None, Path | None]:
    """The model and where it lies: saved by rank 0 when an epoch gave best weights; after
    a resumed run cancelled at once, the file its earlier session saved, if any."""
    in_run_folder = runs.run_folder(run.dataset.root, session.run_id) / MODEL_NAME
    target = Path(session.output) if session.output else in_run_folder
    if trained.outcome.best_state is not None:
        model = _trained_model(run, trained, hooks, calibration)
        if not run.workers.is_main:
            return model, target
        with runs.keeping_replaced_models(target, session.run_id, hooks.warnings) as keeping:
            keeping.saved = _save_somewhere(model, target, in_run_folder, hooks)
        return model, keeping.saved
    if session.resumed is not None and target.exists():
        return None, target  # the model its earlier session saved
    return None, None


def _save_somewhere(model: TrainedModel, target: Path, fallback: Path, hooks: RunHooks
                    ) -> Path:
    """Save to `target`; when that fails (a full disk, a read-only folder), to `fallback` in
    the run's own folder, with a warning. Only when both fail is the model lost, and then the
    error says so: a file already at `target` is unchanged either way (atomic writes)."""
    try:
        return save_model(model, target)
    except OSError as error:
        failure = f"{target} ({error.strerror or error})"
    if fallback != target:
        try:
            saved = save_model(model, fallback)
        except OSError:
            pass
        else:
            hooks.warn(f"The model could not be saved to {failure}; it was saved to "
                       f"{saved} instead.")
            return saved
    raise ModelFileError(
        f"The model could not be saved to {failure}. Free some space or choose another folder "
        f"and train again; a file that was already at {target} is unchanged.")


def _trained_model(run: RunContext, trained: Trained, hooks: RunHooks,
                   calibration: ModelCalibration | None) -> TrainedModel:
    """The best weights on the network (calibrated), with what the model file says about
    the run."""
    outcome = trained.outcome
    network = run.network.to(memory_format=torch.contiguous_format).eval()
    return TrainedModel(
        network=network,
        backbone=run.config.backbone,
        classes=run.dataset.classes,
        preprocessing=run.prep,
        novelty=trained.novelty,
        metadata={
            "config": run.config.to_dict(),
            "seed": run.config.seed,
            "metrics": {
                "best_epoch": outcome.best_epoch,
                "val_loss": outcome.best_val_loss,
                "val_accuracy": outcome.best_val_accuracy,
                "baseline_accuracy": trained.baseline,
                "trained_share": hooks.kept.trained_share if hooks.kept else None,
                "stopped": outcome.stopped,
                **_balanced_metrics(trained),
            },
            "split": {"source": run.split.source, **run.split.sizes()},
            "dataset_fingerprint": run.dataset.fingerprint,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": library_versions(),
            **({HEADER_KEY: calibration.to_dict()} if calibration else {}),
            FROZEN_KEY: (trained.features or FrozenUse("float", "pytorch")).to_dict(),
        },
    )


def _balanced_metrics(trained: Trained) -> dict[str, object]:
    """The model file's balanced validation figures and the rare-class adjustment's τ."""
    balance = trained.balance
    if balance is None:
        return {}
    return {"val_balanced_accuracy": balance.balanced_accuracy,
            "val_recall": balance.recall, "val_support": balance.support,
            "logit_adjustment": balance.logit_adjustment}
