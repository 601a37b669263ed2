"""`fit`: train a classifier on a scanned dataset, in quick or fine-tune mode.

quick — the pretrained backbone stays frozen. Each training image is decoded once and its
features computed once (plus, optionally, a few augmented views); a linear head then trains
on those features in well under a second. When the class names are ImageNet categories the
head starts from ImageNet's own classifier rows, i.e. from the zero-shot baseline.

finetune — every weight trains on the decoded-once pixel cache with batch augmentation, in
channels-last memory layout (markedly faster for these networks on CPUs).

Both: seeded, validated every epoch, best weights kept by validation loss, early stopping,
cancellation honoured at the next batch (the best model so far is still saved), progress
reported as frozen events, the model written atomically and the run recorded. The model
file also gets the "none of these" reference (`training.models.novelty`): the unaugmented training
images' features under the final weights (in quick mode the frozen backbone's features
already computed; after fine-tuning one more "features" pass), calibrated on validation. A
fine-tune cancelled by the user is saved without it, so stopping stays immediate.

A fine-tune writes a checkpoint after every epoch (`training.fitting.checkpoint`); `fit(...,
resume=run)` carries a stopped or crashed run on from it, under the same run id, and ends
with the same weights as if it had never stopped. A run that ends normally deletes it.

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
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from training.core import paths
from training.core.errors import ConfigError, DatasetError, ModelFileError
from training.core.events import (
    BaselineMeasured,
    Callback,
    Cancelled,
    RunFinished,
    RunStarted,
    ignore_event,
)
from training.core.runtime import describe_device, library_versions, resolve_device, seed_everything
from training.data.dataset import Dataset, Split
from training.data.pixel_cache import Pixels, decode_all, select
from training.data.preprocessing import Preprocessing
from training.data.splitting import split_dataset
from training.data.tensors import normalize
from training.fitting import distributed, runs
from training.fitting.augment import augment_batch
from training.fitting.checkpoint import (
    Checkpoint,
    RunInfo,
    check_compatible,
    checkpoint_path,
    discard,
    find_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from training.fitting.config import TrainConfig
from training.fitting.distributed import Workers
from training.fitting.loop import Batch, EpochLoop, LoopOutcome, LoopState
from training.fitting.modelfile import TrainedModel, save_model
from training.fitting.result import FitResult
from training.models.backbones import get_backbone
from training.models.features import FeatureCounter, embed
from training.models.imagenet import match_classes
from training.models.networks import load_pretrained
from training.models.novelty import (
    MAX_CALIBRATION,
    MAX_REFERENCE,
    NoveltyReference,
    build_reference,
    stratified_subset,
)

FEATURE_BATCH = 32
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
    emit = (callback or ignore_event) if workers.is_main else ignore_event
    cancel = cancel or threading.Event()
    started = time.perf_counter()
    if not dataset.report.can_train:
        raise DatasetError(dataset.report.errors[0].message)
    split = split_dataset(dataset, config.val_fraction, config.test_fraction, config.seed)
    if not split.train or not split.val:
        raise DatasetError(
            f"{dataset.root}: too few usable images to train and validate "
            f"({len(split.train)} for training, {len(split.val)} for validation). "
            "Add more photos to each class."
        )
    saved = _resumable(resume, config, dataset, split) if resume is not None else None
    if saved is not None and output is None:
        output = saved.info.output
    device = workers.device(resolve_device(config.device))
    generator = seed_everything(config.seed)
    backbone = get_backbone(config.backbone)
    prep = backbone.preprocessing
    if config.image_size and config.image_size != prep.crop:
        prep = prep.with_crop(config.image_size)
    network = load_pretrained(backbone).to(device)
    matches = match_classes(dataset.classes)

    run_id = saved.info.run_id if saved else \
        workers.share(f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}")
    run = _Run(config, dataset, split, prep, network, matches, device, generator, emit, cancel,
               run_id=run_id, output=str(output) if output else None, started=started,
               resumed=saved, workers=workers,
               draws=workers.generator(generator, config.seed))
    try:
        outcome, baseline = run.quick() if config.mode == "quick" else run.finetune()
    except Cancelled:
        outcome, baseline = LoopOutcome([], [], None, 0, float("inf"), 0.0, "cancelled"), None
        if saved is not None:  # stopped before a new epoch: the run stands where it stood
            outcome = replace(saved.state.outcome, best_state=None, stopped="cancelled")
            baseline = saved.info.baseline_accuracy

    model = model_path = None
    in_run_folder = runs.run_folder(dataset.root, run_id) / MODEL_NAME
    target = Path(output) if output else in_run_folder
    if outcome.best_state is not None:
        model = run.trained_model(outcome, baseline)
        model_path = _save_somewhere(model, target, in_run_folder, run.warnings) \
            if workers.is_main else target
    elif saved is not None and target.exists():
        model_path = target  # the model its earlier session saved
    seconds = run.seconds()
    kept = checkpoint_path(dataset.root, run_id)
    if outcome.stopped != "cancelled" and workers.is_main:
        discard(kept)
    result = FitResult(
        run_id=run_id, model=model, model_path=model_path, classes=dataset.classes, split=split,
        history=tuple(outcome.history), best_epoch=outcome.best_epoch,
        best_val_loss=outcome.best_val_loss, best_val_accuracy=outcome.best_val_accuracy,
        baseline_accuracy=baseline, stopped=outcome.stopped, seconds=seconds,
    )
    if workers.is_main:
        try:
            runs.record_run(dataset, config, result, outcome.step_losses,
                            describe_device(device), checkpoint=kept if kept.exists() else None,
                            resumed_after=run.resumed_after, workers=workers.world_size)
        except OSError as error:
            run.warnings.append(
                f"The run could not be added to the history ({error.strerror or error}, in "
                f"{paths.runs_dir()}): free some space there. The model itself was saved.")
        result = replace(result, warnings=tuple(run.warnings))
    workers.barrier()  # every process returns once the model and record are written
    emit(RunFinished(
        best_epoch=outcome.best_epoch, best_val_loss=outcome.best_val_loss,
        best_val_accuracy=outcome.best_val_accuracy, epochs_run=len(outcome.history),
        seconds=seconds, stopped=outcome.stopped,
        model_path=str(model_path) if model_path else None,
    ))
    return result


def _save_somewhere(model: TrainedModel, target: Path, fallback: Path,
                    warnings: list[str]) -> Path:
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
            warnings.append(f"The model could not be saved to {failure}; it was saved to "
                            f"{saved} instead.")
            return saved
    raise ModelFileError(
        f"The model could not be saved to {failure}. Free some space or choose another folder "
        f"and train again; a file that was already at {target} is unchanged.")


def _resumable(resume: str | Path, config: TrainConfig, dataset: Dataset, split: Split
               ) -> Checkpoint:
    """The checkpoint to resume from, checked against this config and dataset."""
    if config.mode != "finetune":
        raise ConfigError("Only fine-tuning runs can be resumed (quick runs take seconds and "
                          "keep no checkpoint): start it again.")
    saved = load_checkpoint(find_checkpoint(resume, dataset.root))
    check_compatible(saved, config.to_dict(), dataset.fingerprint, split.sizes())
    return saved


@dataclass
class _Run:
    config: TrainConfig
    dataset: Dataset
    split: Split
    prep: Preprocessing
    network: nn.Module
    matches: dict[str, tuple[int, ...]] | None
    device: torch.device
    generator: torch.Generator
    emit: Callback
    cancel: threading.Event
    novelty: NoveltyReference | None = None
    run_id: str = ""
    output: str | None = None
    started: float = 0.0
    resumed: Checkpoint | None = None
    workers: Workers = field(default_factory=Workers)
    draws: torch.Generator | None = None
    """The generator for this process's own draws (`Workers.generator`)."""
    train_indices: tuple[int, ...] = ()
    """The training images this process decodes: all of them, or its shard under torchrun."""
    warnings: list[str] = field(default_factory=list)
    """For `FitResult.warnings`."""

    def _labels(self, indices: tuple[int, ...]) -> torch.Tensor:
        return torch.tensor([self.dataset.images[i].label for i in indices], dtype=torch.long)

    def _decode_train_val(self) -> tuple[Pixels, Pixels]:
        """Decode every training image of this process (all of them, or its share under
        torchrun) and every validation image once, as one progress phase.

        Large datasets stay on disk (`training.data.disk_cache`): everything below reads them a
        batch at a time and never gathers all the pixels in memory.
        """
        indices = self.train_indices + self.split.val
        paths = [self.dataset.images[i].path for i in indices]
        pixels = decode_all(paths, self.prep, self.emit, self.cancel, self.dataset.fingerprint)
        cut = len(self.train_indices)
        return select(pixels, slice(0, cut)), select(pixels, slice(cut, None))

    def _started(self, phases: tuple[str, ...], steps_per_epoch: int) -> None:
        self.emit(RunStarted(
            mode=self.config.mode, backbone=self.config.backbone,
            device=describe_device(self.device), phases=phases, epochs=self.config.epochs,
            steps_per_epoch=steps_per_epoch, total_steps=steps_per_epoch * self.config.epochs,
            train_images=len(self.split.train), val_images=len(self.split.val),
        ))

    def _head_for_classes(self) -> nn.Linear:
        """A linear layer for the dataset's classes, started from ImageNet rows if they match."""
        imagenet = self.network.get_classifier()
        head = nn.Linear(imagenet.in_features, len(self.dataset.classes)).to(self.device)
        if self.config.init_from_imagenet and self.matches:
            with torch.no_grad():
                for row, name in enumerate(self.dataset.classes):
                    indices = list(self.matches[name])
                    head.weight[row] = imagenet.weight[indices].mean(0)
                    head.bias[row] = imagenet.bias[indices].mean(0)
        return head

    # --- quick mode -------------------------------------------------------------------------

    def quick(self) -> tuple[LoopOutcome, float | None]:
        config = self.config
        views = 1 + config.feature_views
        steps_per_epoch = -(-len(self.split.train) * views // config.batch_size)
        self._started(("decode", "features", "train"), steps_per_epoch)
        self.train_indices = self.workers.shard(self.split.train, config.seed, pad=False)
        train_pixels, val_pixels = self._decode_train_val()
        self.network.to(memory_format=torch.channels_last).eval()
        for parameter in self.network.parameters():
            parameter.requires_grad_(False)
        own_val = select(val_pixels, slice(self.workers.rank, None, self.workers.world_size))
        total = len(train_pixels) * views + len(own_val)
        counter = FeatureCounter(total, self.emit)
        train_views = [self._everyones(self._features(train_pixels, counter, augmented=view > 0))
                       for view in range(views)]
        # One view (the default) is used as it is: a cat would copy 5 KB per image again.
        train_features = train_views[0] if views == 1 else torch.cat(train_views)
        del train_views
        val_features = self._everyones(self._features(own_val, counter))
        train_labels = self._labels(self.split.train).repeat(views).to(self.device)
        val_labels = self._labels(self.split.val).to(self.device)
        baseline = self._baseline(self.network.get_classifier()(val_features), val_labels)

        head = self._head_for_classes()
        loop = EpochLoop(
            module=head, forward=head,
            train_batches=lambda _epoch: self._shuffled(train_features, train_labels),
            val_batches=lambda: [(val_features, val_labels)],
            steps_per_epoch=steps_per_epoch, config=config, callback=self.emit,
            cancel=self.cancel,
        )
        outcome = loop.run()
        if outcome.best_state is not None:
            train_labels_cpu = self._labels(self.split.train)
            chosen = stratified_subset(train_labels_cpu, MAX_REFERENCE, config.seed)
            calibrate = stratified_subset(val_labels.cpu(), MAX_CALIBRATION, config.seed)
            self.novelty = build_reference(train_features[chosen.to(train_features.device)],
                                           val_features[calibrate.to(val_features.device)])
            self.network.reset_classifier(len(self.dataset.classes))
            self.network.get_classifier().load_state_dict(outcome.best_state)
            self.network.to(self.device)
        return outcome, baseline

    def _features(self, pixels: Pixels, counter: FeatureCounter, augmented: bool = False
                  ) -> torch.Tensor:
        """Pooled features of `pixels`, a batch at a time (each batch augmented if asked),
        written into one tensor allocated up front: gathering the batches and joining them
        would hold every feature twice (256 MB more at 50,000 images)."""
        # The classifier's input width: what `pre_logits` gives (for MobileNetV3 it is wider
        # than `num_features`, which counts the channels before its head convolution).
        width = self.network.get_classifier().in_features
        features = torch.empty((len(pixels), width), device=self.device)
        with torch.no_grad():
            for start in range(0, len(pixels), FEATURE_BATCH):
                if self.cancel.is_set():
                    raise Cancelled
                batch = pixels[start:start + FEATURE_BATCH]
                if augmented:
                    batch = augment_batch(batch, self.config, self.draws or self.generator)
                batch = batch.to(self.device)
                inputs = normalize(batch, self.prep).contiguous(memory_format=torch.channels_last)
                pooled = self.network.forward_head(self.network.forward_features(inputs),
                                                   pre_logits=True)
                features[start:start + len(batch)] = pooled.float()
                counter.advance(len(batch))
        return features

    def _everyones(self, rows: torch.Tensor) -> torch.Tensor:
        """Rows each process computed for every world_size-th image from its rank, gathered
        back into the images' order (alone: `rows` itself)."""
        if not self.workers.distributed:
            return rows
        parts = self.workers.gather(rows)
        whole = rows.new_empty((sum(len(part) for part in parts), *rows.shape[1:]))
        for rank, part in enumerate(parts):
            whole[rank::self.workers.world_size] = part
        return whole

    def _baseline(self, imagenet_logits: torch.Tensor, labels: torch.Tensor) -> float | None:
        """The untouched ImageNet model's accuracy on validation, restricted to our classes."""
        if not self.matches:
            return None
        probabilities = imagenet_logits.softmax(1)
        scores = torch.stack(
            [probabilities[:, list(self.matches[name])].sum(1) for name in self.dataset.classes],
            dim=1,
        )
        accuracy = float((scores.argmax(1) == labels).float().mean().item())
        self.emit(BaselineMeasured(accuracy))
        return accuracy

    def _shuffled(self, inputs: torch.Tensor | Pixels, labels: torch.Tensor,
                  generator: torch.Generator | None = None) -> Iterator[Batch]:
        order = torch.randperm(len(inputs), generator=generator or self.generator
                               ).to(inputs.device)
        for start in range(0, len(inputs), self.config.batch_size):
            chosen = order[start:start + self.config.batch_size]
            yield inputs[chosen], labels[chosen]

    # --- fine-tune mode ---------------------------------------------------------------------

    def finetune(self) -> tuple[LoopOutcome, float | None]:
        config = self.config
        self.train_indices = self.workers.shard(self.split.train, config.seed)
        steps_per_epoch = -(-len(self.train_indices) // config.batch_size)
        self._started(("decode", "train", "features"), steps_per_epoch)
        train_pixels, val_pixels = self._decode_train_val()
        val_labels = self._labels(self.split.val).to(self.device)
        baseline = None
        if self.matches:
            with torch.no_grad():
                logits = torch.cat([self.network(normalize(chunk.to(self.device), self.prep))
                                    for chunk in val_pixels.split(config.batch_size)])
            baseline = self._baseline(logits, val_labels)
        head = self._head_for_classes()
        self.network.reset_classifier(len(self.dataset.classes))
        self.network.get_classifier().load_state_dict(head.state_dict())
        network = self.network.to(self.device, memory_format=torch.channels_last)
        train_labels = self._labels(self.train_indices)
        trained = network
        if self.workers.distributed:
            trained = DistributedDataParallel(
                network, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        half = distributed.autocast_dtype(config.precision, self.device)
        scaler = torch.amp.GradScaler("cuda") if half == torch.float16 else None

        def forward(pixels: torch.Tensor) -> torch.Tensor:
            inputs = normalize(pixels.to(self.device), self.prep)
            inputs = inputs.contiguous(memory_format=torch.channels_last)
            # training steps go through DDP (it averages the gradients); validation does not
            model = trained if network.training else network
            if half is None:
                return model(inputs)
            with torch.autocast(self.device.type, dtype=half):
                return model(inputs).float()

        def train_batches(_epoch: int) -> Iterator[Batch]:
            for pixels, labels in self._shuffled(train_pixels, train_labels, self.draws):
                if config.augment:
                    pixels = augment_batch(pixels, config, self.draws)
                yield pixels, labels.to(self.device)

        rank, every = self.workers.rank, self.workers.world_size
        own_val_pixels = select(val_pixels, slice(rank, None, every))  # stays on disk if there
        own_val_labels = val_labels[rank::every]

        def val_batches() -> Iterator[Batch]:
            for start in range(0, len(own_val_pixels), config.batch_size):
                yield (own_val_pixels[start:start + config.batch_size],
                       own_val_labels[start:start + config.batch_size])

        loop = EpochLoop(network, forward, train_batches, val_batches, steps_per_epoch, config,
                         self.emit, self.cancel, generator=self.draws,
                         epoch_saved=lambda state: self._save_epoch(state, baseline),
                         resume=self.resumed.state if self.resumed else None,
                         workers=self.workers, scaler=scaler)
        outcome = loop.run()
        if outcome.best_state is not None:
            network.load_state_dict(outcome.best_state)
            if outcome.stopped != "cancelled" and self.workers.is_main:
                try:
                    self.novelty = self._reference_after_finetune(
                        train_pixels, val_pixels, train_labels, val_labels.cpu())
                except Cancelled:  # stopped during that pass: keep the model, without it
                    self.novelty = None
        return outcome, baseline

    def _reference_after_finetune(self, train_pixels: Pixels, val_pixels: Pixels,
                                  train_labels: torch.Tensor, val_labels: torch.Tensor
                                  ) -> NoveltyReference:
        """Features of (a subset of) the unaugmented training and validation images under
        the final weights: the backbone changed, so the ones seen in training are stale."""
        seed = self.config.seed
        chosen = stratified_subset(train_labels, MAX_REFERENCE, seed)
        calibrate = stratified_subset(val_labels, MAX_CALIBRATION, seed)
        counter = FeatureCounter(len(chosen) + len(calibrate), self.emit)
        network = self.network.eval()
        train = embed(network, select(train_pixels, chosen), self.prep, self.device,
                      self.cancel, counter.advance)
        val = embed(network, select(val_pixels, calibrate), self.prep, self.device,
                    self.cancel, counter.advance)
        return build_reference(train.features, val.features)

    # --- checkpoints ------------------------------------------------------------------------

    @property
    def resumed_after(self) -> tuple[int, ...]:
        if self.resumed is None:
            return ()
        return (*self.resumed.info.resumed_after, self.resumed.state.epoch)

    def seconds(self) -> float:
        """Training time of the whole run, earlier sessions included."""
        before = self.resumed.info.seconds if self.resumed else 0.0
        return before + time.perf_counter() - self.started

    def _save_epoch(self, state: LoopState, baseline: float | None) -> None:
        """Checkpoint the epoch, and record the run as "interrupted" until it ends (rank 0
        only: the other processes hold the same weights)."""
        if not self.workers.is_main:
            return
        try:
            self._write_epoch(state, baseline)
        except OSError as error:
            warning = (f"Checkpoints could not be written ({error.strerror or error}, in "
                       f"{paths.runs_dir()}), so this run cannot be resumed if it is "
                       "interrupted. Training went on.")
            if warning not in self.warnings:
                self.warnings.append(warning)

    def _write_epoch(self, state: LoopState, baseline: float | None) -> None:
        path = checkpoint_path(self.dataset.root, self.run_id)
        seconds = self.seconds()
        save_checkpoint(path, RunInfo(
            run_id=self.run_id, config=self.config.to_dict(),
            dataset_root=str(self.dataset.root), dataset_fingerprint=self.dataset.fingerprint,
            split_sizes=self.split.sizes(), output=self.output, seconds=seconds,
            baseline_accuracy=baseline, resumed_after=self.resumed_after,
        ), state)
        outcome = state.outcome
        so_far = FitResult(
            run_id=self.run_id, model=None, model_path=None, classes=self.dataset.classes,
            split=self.split, history=tuple(outcome.history), best_epoch=outcome.best_epoch,
            best_val_loss=outcome.best_val_loss, best_val_accuracy=outcome.best_val_accuracy,
            baseline_accuracy=baseline, stopped="interrupted", seconds=seconds,
        )
        runs.record_run(self.dataset, self.config, so_far, outcome.step_losses,
                        describe_device(self.device), checkpoint=path,
                        resumed_after=self.resumed_after, workers=self.workers.world_size)

    # --- result -----------------------------------------------------------------------------

    def trained_model(self, outcome: LoopOutcome, baseline: float | None) -> TrainedModel:
        network = self.network.to(memory_format=torch.contiguous_format).eval()
        return TrainedModel(
            network=network,
            backbone=self.config.backbone,
            classes=self.dataset.classes,
            preprocessing=self.prep,
            novelty=self.novelty,
            metadata={
                "config": self.config.to_dict(),
                "seed": self.config.seed,
                "metrics": {
                    "best_epoch": outcome.best_epoch,
                    "val_loss": outcome.best_val_loss,
                    "val_accuracy": outcome.best_val_accuracy,
                    "baseline_accuracy": baseline,
                    "stopped": outcome.stopped,
                },
                "split": {"source": self.split.source, **self.split.sizes()},
                "dataset_fingerprint": self.dataset.fingerprint,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "versions": library_versions(),
            },
        )
