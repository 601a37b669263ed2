"""Quick mode: a linear head trained on the frozen backbone's features.

Each training image's features (plus, optionally, a few augmented views) come from the
feature store (`training.models.embedding`): computed once, on onnxruntime when it can, and
found again by the next run, the finder, evaluation and classification, which all see the
same frozen backbone. The head then trains on those features in well under a second. When the
class names are ImageNet categories the head starts from ImageNet's own classifier rows,
i.e. from the zero-shot baseline. Under torchrun each process computes the features of its
share of the images, and all gather them and train the same head.
"""

from __future__ import annotations

import copy
import hashlib

import numpy as np
import torch

from training.fitting.augment import augment_batch
from training.fitting.loop import EpochLoop
from training.fitting.never_worse import QUICK_SHARES, Scores, State
from training.fitting.run_context import RunContext, Trained
from training.fitting.run_hooks import RunHooks, Start
from training.models.embedding import CENTRE, View, default_store, embed_dataset
from training.models.features import FeatureCounter
from training.models.frozen import FrozenFeatures
from training.models.novelty import (
    MAX_CALIBRATION,
    MAX_REFERENCE,
    build_reference,
    stratified_subset,
)
from training.records.config import TrainConfig


def train_quick(run: RunContext, hooks: RunHooks) -> Trained:
    """Compute the features, train the head on them, and put the best head on the network;
    the training features also give the "none of these" reference."""
    config = run.config
    views = 1 + config.feature_views
    steps_per_epoch = -(-len(run.split.train) * views // config.batch_size)
    run.announce(("features", "train"), steps_per_epoch)
    run.network.to(memory_format=torch.channels_last).eval()
    for parameter in run.network.parameters():
        parameter.requires_grad_(False)
    frozen = FrozenFeatures(run.network, run.prep, run.device)
    own_train = run.workers.shard(run.split.train, config.seed, pad=False)
    own_val = run.split.val[run.workers.rank::run.workers.world_size]
    counter = FeatureCounter(len(own_train) * views + len(own_val), run.emit)

    def features(indices: tuple[int, ...], view: View = CENTRE) -> torch.Tensor:
        paths = [run.dataset.images[i].path for i in indices]
        rows = embed_dataset(paths, frozen, default_store(), run.cancel, counter.advance, view)
        return run.everyones(rows.to(run.device))

    train_views = [features(own_train, augmented_view(config, view) if view else CENTRE)
                   for view in range(views)]
    # One view (the default) is used as it is: a cat would copy 5 KB per image again.
    train_features = train_views[0] if views == 1 else torch.cat(train_views)
    del train_views
    val_features = features(own_val)
    train_labels = run.labels(run.split.train).repeat(views).to(run.device)
    val_labels = run.labels(run.split.val).to(run.device)
    baseline = run.baseline(run.network.get_classifier()(val_features), val_labels)

    head = run.head_for_classes()
    if run.starts_from_imagenet and len(val_labels):
        hooks.start = _start(run, head, val_features, val_labels)
    loop = EpochLoop(
        module=head, forward=head,
        train_batches=lambda _epoch: run.shuffled(train_features, train_labels, run.generator),
        val_batches=lambda: [(val_features, val_labels)],
        steps_per_epoch=steps_per_epoch, config=config, callback=run.emit, cancel=run.cancel,
        hooks=hooks,
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
    return Trained(outcome, baseline, novelty, features=frozen.use())


def _start(run: RunContext, head: torch.nn.Linear, val_features: torch.Tensor,
           val_labels: torch.Tensor) -> Start:
    """The head as it starts (ImageNet's rows) for the never-worse choice: a head's blends
    cost one matrix product each, so the whole grid is scored."""
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=run.config.label_smoothing)

    def score(state: State) -> Scores:
        head.load_state_dict(state)
        with torch.no_grad():
            logits = head(val_features)
        accuracy = (logits.argmax(1) == val_labels).float().mean()
        return float(loss_fn(logits, val_labels).item()), float(accuracy.item())

    start = copy.deepcopy(head.state_dict())
    return Start(start, score(start), score, QUICK_SHARES)


def augmented_view(config: TrainConfig, view: int) -> View:
    """The `view`-th augmented view: each photo's random flips, turns and cut-outs are
    drawn from a generator seeded by the run's seed, the view and the photo's content, so a
    stored view is exactly what this run would compute, and the next run finds it."""
    recipe = (f"{config.seed}:{view}:{config.flip_probability}:{config.rotate_probability}:"
              f"{config.rotate_degrees}:{config.cutout_probability}:{config.cutout_size}")

    def transform(content: str, pixels: np.ndarray) -> np.ndarray:
        seed = int.from_bytes(hashlib.blake2b(f"{recipe}:{content}".encode(),
                                              digest_size=8).digest(), "little") >> 1
        generator = torch.Generator().manual_seed(seed)
        batch = augment_batch(torch.from_numpy(pixels)[None], config, generator)
        return batch[0].numpy()

    name = hashlib.blake2b(recipe.encode(), digest_size=8).hexdigest()
    return View(f"augmented-{name}", transform)
