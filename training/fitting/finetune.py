"""Fine-tune mode: every weight trains on the decoded-once pixels.

Batches are augmented on the fly and run in channels-last memory layout (markedly faster
for these networks on CPUs), in float16 or bfloat16 when the config asks for it. Under
torchrun the network is wrapped in DistributedDataParallel (gradients averaged every step)
and each process validates its share of the validation images. After training, one more
"features" pass under the final weights gives the "none of these" reference; a fine-tune
cancelled by the user is saved without it, so stopping stays immediate.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from training.data.pixel_cache import Pixels, select
from training.data.tensors import normalize
from training.fitting import distributed
from training.fitting.augment import augment_batch
from training.fitting.loop import Batch, EpochLoop, LoopState
from training.fitting.never_worse import FINETUNE_SHARES, Scores
from training.fitting.run_context import RunContext, Trained
from training.fitting.run_hooks import RunHooks, Start
from training.models.features import FeatureCounter, embed
from training.models.novelty import (
    MAX_CALIBRATION,
    MAX_REFERENCE,
    NoveltyReference,
    build_reference,
    stratified_subset,
)
from training.records.events import Cancelled, PhaseProgress


def train_finetune(run: RunContext, hooks: RunHooks, resume: LoopState | None = None
                   ) -> Trained:
    """Fine-tune the whole network (after `resume`'s epoch, if given) and leave the best
    weights on it, with the classes' head started from ImageNet rows when they match."""
    config = run.config
    train_indices = run.workers.shard(run.split.train, config.seed)
    steps_per_epoch = -(-len(train_indices) // config.batch_size)
    run.announce(("decode", "train", "features"), steps_per_epoch)
    train_pixels, val_pixels = run.decode(train_indices)
    val_labels = run.labels(run.split.val).to(run.device)
    baseline, start_scores = _zero_shot_baseline(run, val_pixels, val_labels)
    hooks.baseline = baseline  # in every epoch's record
    head = run.head_for_classes()
    run.network.reset_classifier(len(run.dataset.classes))
    run.network.get_classifier().load_state_dict(head.state_dict())
    network = run.network.to(run.device, memory_format=torch.channels_last)
    start = copy.deepcopy(network.state_dict()) if start_scores is not None else None
    train_labels = run.labels(train_indices)
    forward, scaler = _forward(run, network)
    loop = EpochLoop(network, forward, _train_batches(run, train_pixels, train_labels),
                     _val_batches(run, val_pixels, val_labels), steps_per_epoch, config,
                     run.emit, run.cancel, generator=run.draws, hooks=hooks,
                     resume=resume, workers=run.workers, scaler=scaler,
                     val_images=len(run.split.val[run.workers.rank::run.workers.world_size]))
    if start is not None and start_scores is not None:  # blends cost a validation pass each
        hooks.start = Start(start, start_scores, loop.score, FINETUNE_SHARES,
                            only_when_worse=True)
    outcome = loop.run()
    novelty = None
    if outcome.best_state is not None:
        network.load_state_dict(outcome.best_state)
        if outcome.stopped != "cancelled" and run.workers.is_main:
            try:
                novelty = _reference_after_finetune(
                    run, train_pixels, val_pixels, train_labels, val_labels.cpu())
            except Cancelled:  # stopped during that pass: keep the model, without it
                novelty = None
    return Trained(outcome, baseline, novelty)


def _zero_shot_baseline(run: RunContext, val_pixels: Pixels, val_labels: torch.Tensor
                        ) -> tuple[float | None, Scores | None]:
    """The pretrained network's own ImageNet predictions scored on validation, before its
    classifier is replaced, and the validation (loss, accuracy) of the network training
    starts from (its head is the mean of each class's ImageNet rows, so its logits are the
    mean of those rows' logits: no second pass); (None, None) when the classes are not
    ImageNet's, and no start scores when the head does not start from those rows."""
    if not run.matches:
        return None, None
    chunks: list[torch.Tensor] = []
    started, done = time.perf_counter(), 0
    with torch.no_grad():  # a forward pass over every validation image: seconds, so reported
        for chunk in val_pixels.split(run.config.batch_size):
            if run.cancel.is_set():
                raise Cancelled
            chunks.append(run.network(normalize(chunk.to(run.device), run.prep)))
            done += len(chunk)
            rate = done / max(time.perf_counter() - started, 1e-9)
            run.emit(PhaseProgress("baseline", done, len(val_pixels), rate))
    logits = torch.cat(chunks)
    baseline = run.baseline(logits, val_labels)
    if not run.starts_from_imagenet or not len(val_labels):
        return baseline, None
    start_logits = torch.stack([logits[:, list(run.matches[name])].mean(1)
                                for name in run.dataset.classes], dim=1)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=run.config.label_smoothing)
    accuracy = (start_logits.argmax(1) == val_labels).float().mean()
    return baseline, (float(loss_fn(start_logits, val_labels).item()), float(accuracy.item()))


def _forward(run: RunContext, network: nn.Module
             ) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.amp.GradScaler | None]:
    """The loop's forward pass (normalised, channels-last, under autocast when the config
    asks for half precision) and the loss scaler float16 needs."""
    trained = network
    if run.workers.distributed:
        trained = DistributedDataParallel(
            network, device_ids=[run.device.index] if run.device.type == "cuda" else None)

    def forward(pixels: torch.Tensor) -> torch.Tensor:
        inputs = normalize(pixels.to(run.device), run.prep)
        inputs = inputs.contiguous(memory_format=torch.channels_last)
        # training steps go through DDP (it averages the gradients); validation does not
        model = trained if network.training else network
        return model(inputs)

    return distributed.under_autocast(forward, run.config.precision, run.device)


def _train_batches(run: RunContext, pixels: Pixels, labels: torch.Tensor
                   ) -> Callable[[int], Iterator[Batch]]:
    """Each epoch's training batches: this process's images shuffled by its own generator,
    augmented if the config says so."""
    def train_batches(_epoch: int) -> Iterator[Batch]:
        for batch, batch_labels in run.shuffled(pixels, labels, run.draws):
            if run.config.augment:
                batch = augment_batch(batch, run.config, run.draws)
            yield batch, batch_labels.to(run.device)

    return train_batches


def _val_batches(run: RunContext, pixels: Pixels, labels: torch.Tensor
                 ) -> Callable[[], Iterator[Batch]]:
    """Validation batches of this process's share: every world_size-th image from its
    rank (alone: all of them)."""
    rank, every = run.workers.rank, run.workers.world_size
    own_pixels = select(pixels, slice(rank, None, every))  # stays on disk if there
    own_labels = labels[rank::every]
    size = run.config.batch_size

    def val_batches() -> Iterator[Batch]:
        for start in range(0, len(own_pixels), size):
            yield own_pixels[start:start + size], own_labels[start:start + size]

    return val_batches


def _reference_after_finetune(run: RunContext, train_pixels: Pixels, val_pixels: Pixels,
                              train_labels: torch.Tensor, val_labels: torch.Tensor
                              ) -> NoveltyReference:
    """Features of (a subset of) the unaugmented training and validation images under
    the final weights: the backbone changed, so the ones seen in training are stale."""
    seed = run.config.seed
    chosen = stratified_subset(train_labels, MAX_REFERENCE, seed)
    calibrate = stratified_subset(val_labels, MAX_CALIBRATION, seed)
    counter = FeatureCounter(len(chosen) + len(calibrate), run.emit)
    network = run.network.eval()
    train = embed(network, select(train_pixels, chosen), run.prep, run.device,
                  run.cancel, counter.advance)
    val = embed(network, select(val_pixels, calibrate), run.prep, run.device,
                run.cancel, counter.advance)
    return build_reference(train.features, val.features)
