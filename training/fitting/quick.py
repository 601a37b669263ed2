"""Quick mode: a linear head trained on the frozen backbone's features.

Each training image is decoded once and its features computed once (plus, optionally, a few
augmented views); the head then trains on those features in well under a second. When the
class names are ImageNet categories the head starts from ImageNet's own classifier rows,
i.e. from the zero-shot baseline. Under torchrun each process computes the features of its
share of the images, and all gather them and train the same head.
"""

from __future__ import annotations

import torch

from training.core.events import Cancelled
from training.data.pixel_cache import Pixels, select
from training.data.tensors import normalize
from training.fitting.augment import augment_batch
from training.fitting.loop import EpochLoop
from training.fitting.run_context import RunContext, Trained
from training.models.features import FeatureCounter
from training.models.novelty import (
    MAX_CALIBRATION,
    MAX_REFERENCE,
    build_reference,
    stratified_subset,
)

FEATURE_BATCH = 32


def train_quick(run: RunContext) -> Trained:
    """Compute the features, train the head on them, and put the best head on the network;
    the training features also give the "none of these" reference."""
    config = run.config
    views = 1 + config.feature_views
    steps_per_epoch = -(-len(run.split.train) * views // config.batch_size)
    run.announce(("decode", "features", "train"), steps_per_epoch)
    train_pixels, val_pixels = run.decode(run.workers.shard(run.split.train, config.seed,
                                                            pad=False))
    run.network.to(memory_format=torch.channels_last).eval()
    for parameter in run.network.parameters():
        parameter.requires_grad_(False)
    own_val = select(val_pixels, slice(run.workers.rank, None, run.workers.world_size))
    counter = FeatureCounter(len(train_pixels) * views + len(own_val), run.emit)
    train_views = [run.everyones(_features(run, train_pixels, counter, augmented=view > 0))
                   for view in range(views)]
    # One view (the default) is used as it is: a cat would copy 5 KB per image again.
    train_features = train_views[0] if views == 1 else torch.cat(train_views)
    del train_views
    val_features = run.everyones(_features(run, own_val, counter))
    train_labels = run.labels(run.split.train).repeat(views).to(run.device)
    val_labels = run.labels(run.split.val).to(run.device)
    baseline = run.baseline(run.network.get_classifier()(val_features), val_labels)

    head = run.head_for_classes()
    loop = EpochLoop(
        module=head, forward=head,
        train_batches=lambda _epoch: run.shuffled(train_features, train_labels, run.generator),
        val_batches=lambda: [(val_features, val_labels)],
        steps_per_epoch=steps_per_epoch, config=config, callback=run.emit, cancel=run.cancel,
    )
    outcome = loop.run()
    if outcome.best_state is None:
        return Trained(outcome, baseline)
    chosen = stratified_subset(run.labels(run.split.train), MAX_REFERENCE, config.seed)
    calibrate = stratified_subset(val_labels.cpu(), MAX_CALIBRATION, config.seed)
    novelty = build_reference(train_features[chosen.to(train_features.device)],
                              val_features[calibrate.to(val_features.device)])
    run.network.reset_classifier(len(run.dataset.classes))
    run.network.get_classifier().load_state_dict(outcome.best_state)
    run.network.to(run.device)
    return Trained(outcome, baseline, novelty)


def _features(run: RunContext, pixels: Pixels, counter: FeatureCounter,
              augmented: bool = False) -> torch.Tensor:
    """Pooled features of `pixels`, a batch at a time (each batch augmented if asked),
    written into one tensor allocated up front: gathering the batches and joining them
    would hold every feature twice (256 MB more at 50,000 images)."""
    # The classifier's input width: what `pre_logits` gives (for MobileNetV3 it is wider
    # than `num_features`, which counts the channels before its head convolution).
    network = run.network
    width = network.get_classifier().in_features
    features = torch.empty((len(pixels), width), device=run.device)
    with torch.no_grad():
        for start in range(0, len(pixels), FEATURE_BATCH):
            if run.cancel.is_set():
                raise Cancelled
            batch = pixels[start:start + FEATURE_BATCH]
            if augmented:
                batch = augment_batch(batch, run.config, run.draws)
            batch = batch.to(run.device)
            inputs = normalize(batch, run.prep).contiguous(memory_format=torch.channels_last)
            pooled = network.forward_head(network.forward_features(inputs), pre_logits=True)
            features[start:start + len(batch)] = pooled.float()
            counter.advance(len(batch))
    return features
