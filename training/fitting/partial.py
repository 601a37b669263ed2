"""Partial fine-tune: the last blocks of the network and the head train, on stored activations.

A fine-tune worth starting on a CPU (issue 25). Quick mode runs first, exactly as
`--mode quick` would on the same split (its features from the feature store, no augmented
views, its head chosen never worse than ImageNet's start, its rare-class adjustment), and
puts its head on the network: the gain reported over quick mode is over that very model.
Then the activations entering the last `top_blocks` blocks (`training.models.cut`) are
computed once per photo and augmented view (`feature_views`) and kept in the feature store
(`training.models.activations`), so each epoch runs only the top of the network: those
blocks, `conv_head` and the classifier train with the config's optimizer, learning rate,
epochs and early stopping on validation, from the quick head. Everything below the cut is
frozen and never changes (not even its batch-norm statistics: it always runs in eval mode).

The top's batch norms stay in eval mode as well (`FREEZE_TOP_BATCH_NORM`): their ImageNet
statistics are kept and only their scale and shift train, so the model the loop validates is
the one a step trained (`benchmarks/partial_finetune.py --sweep` compares train mode:
docs/benchmarks.md "CPU fine-tune").

The never-worse choice (`training.fitting.never_worse`) is against quick mode's model: the
kept weights are the trained top, or a blend of it and the quick model, never worse than the
quick model on validation, so `RunHooks.kept` compares with quick mode (`start_accuracy` is
the quick model's validation accuracy through the same path). One process only. On a GPU the
same path runs there (the bottom in PyTorch, the top under the config's half precision,
`distributed.under_autocast`, as the full fine-tune does); no GPU has run it yet.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import torch
from torch import nn

from training.core.errors import ConfigError
from training.fitting.distributed import under_autocast
from training.fitting.loop import EpochLoop
from training.fitting.never_worse import FINETUNE_SHARES
from training.fitting.quick import augmented_view, train_quick
from training.fitting.rare_classes import adjust_for_rare_classes
from training.fitting.run_context import RunContext, Trained
from training.fitting.run_hooks import RunHooks, Start
from training.models.activations import CutActivations, stored_activations
from training.models.cut import check_cut, freeze_below, pooled, top, top_modules
from training.models.embedding import CENTRE, default_store
from training.models.novelty import (
    MAX_CALIBRATION,
    MAX_REFERENCE,
    NoveltyReference,
    build_reference,
    stratified_subset,
)
from training.records.config import TrainConfig
from training.records.events import BaselineMeasured, Callback, Cancelled, PhaseProgress
from training.records.kept import Kept

FREEZE_TOP_BATCH_NORM = True
"""Whether the top's batch norms keep ImageNet's statistics (eval mode) while they train."""


class TopOfNetwork(nn.Module):
    """The modules above the cut, as one module for the epoch loop: its state dict is the
    top's weights, `train()` reaches only them (batch norms kept in eval mode when
    `freeze_batch_norm`)."""

    def __init__(self, network: nn.Module, top_blocks: int, freeze_batch_norm: bool) -> None:
        super().__init__()
        self.parts = nn.ModuleList(top_modules(network, top_blocks))
        self.freeze_batch_norm = freeze_batch_norm

    def train(self, mode: bool = True) -> TopOfNetwork:
        super().train(mode)
        if self.freeze_batch_norm:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self


def train_partial(run: RunContext, hooks: RunHooks) -> Trained:
    """Quick mode, then the top of the network on stored activations (module docstring);
    the best weights are left on the network."""
    config = run.config
    check_cut(run.network, config.top_blocks, config.backbone)
    if run.workers.distributed:
        raise ConfigError("A partial fine-tune runs in one process; start it without torchrun.")
    views = 1 + config.feature_views
    steps_per_epoch = -(-len(run.split.train) * views // config.batch_size)
    run.announce(("features", "activations", "train"), steps_per_epoch)
    quick_run = replace(run, config=quick_config(config), emit=_phases_only(run.emit))
    quick = train_quick(quick_run, RunHooks(run, hooks.session, checkpoints=False))
    if quick.outcome.best_state is None or quick.outcome.stopped == "cancelled":
        return quick  # stopped during quick mode: its head, if it had one
    # The model plain quick mode saves (its rare-class adjustment in the bias), and its
    # validation accuracy as quick mode reports it: the start, and the gain's reference.
    quick = adjust_for_rare_classes(quick_run, quick)
    network = run.network
    try:
        train_x, val_x = _activations(run, views)
    except Cancelled:  # stopped while computing activations: quick mode's model is kept
        return _quick_kept(quick, "cancelled")
    train_y = run.labels(run.split.train).repeat(views).to(run.device)
    val_y = run.labels(run.split.val).to(run.device)
    freeze_below(network, config.top_blocks)
    module = TopOfNetwork(network, config.top_blocks, FREEZE_TOP_BATCH_NORM)

    def forward(activations: torch.Tensor) -> torch.Tensor:
        return top(network, activations, config.top_blocks)

    forward, scaler = under_autocast(forward, config.precision, run.device)
    loop = EpochLoop(
        module=module, forward=forward, scaler=scaler,
        train_batches=lambda _epoch: run.shuffled(train_x, train_y, run.generator),
        val_batches=lambda: _batches(val_x, val_y, config.batch_size),
        steps_per_epoch=steps_per_epoch, config=config, callback=run.emit, cancel=run.cancel,
        hooks=hooks,
    )
    start = copy.deepcopy(module.state_dict())
    # Quick mode's own validation accuracy (its features' path, to the last digit: the
    # figure `--mode quick` reports), and the loss through the top, comparable with the
    # trained top's.
    start_loss = loop.score(start)[0]
    hooks.start = Start(start, (start_loss, quick.outcome.best_val_accuracy), loop.score,
                        FINETUNE_SHARES, only_when_worse=True)
    outcome = loop.run()
    if outcome.best_state is None:  # stopped before an epoch ended, or never finite
        module.load_state_dict(start)
        if outcome.stopped != "cancelled":  # quick mode's model is the one kept
            scores = hooks.start.scores
            hooks.kept = Kept(0.0, scores[0], scores[1], scores[0], scores[1])
        return _quick_kept(quick, outcome.stopped)
    module.load_state_dict(outcome.best_state)
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    network.eval()
    train_centre = train_x[:len(run.split.train)]
    return Trained(outcome, quick.baseline, _reference(run, train_centre, val_x))


def _quick_kept(quick: Trained, stopped: str) -> Trained:
    """Quick mode's model as this run's: no epoch of this run ended (its history is empty)."""
    return Trained(replace(quick.outcome, history=[], step_losses=[], best_epoch=0,
                           stopped=stopped), quick.baseline, features=quick.features)


def quick_config(config: TrainConfig) -> TrainConfig:
    """The quick run a partial fine-tune starts from: plain quick mode's, with this run's
    split, seed, network and image size, so its head (and the gain reported over it) is
    the one `--mode quick` gives on the same split. Quick mode's own training settings and
    views (none): the top's augmented views are for the top only."""
    default = TrainConfig()
    return replace(config, mode="quick", epochs=default.epochs,
                   batch_size=default.batch_size, learning_rate=default.learning_rate,
                   weight_decay=default.weight_decay, optimizer=default.optimizer,
                   schedule=default.schedule, feature_views=default.feature_views,
                   label_smoothing=default.label_smoothing,
                   early_stopping_patience=default.early_stopping_patience)


def _phases_only(emit: Callback) -> Callback:
    """The quick run's progress as part of this run: its phases and the baseline, not its
    start, steps and epochs (this run announces its own)."""
    def forward(event: object) -> None:
        if isinstance(event, PhaseProgress | BaselineMeasured):
            emit(event)
    return forward


def _activations(run: RunContext, views: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Training activations (centre view first, then each augmented view) and validation's,
    from the store or computed and stored, as the "activations" phase."""
    config = run.config
    total = len(run.split.train) * views + len(run.split.val)
    cut = CutActivations(run.network, run.prep, run.device, config.top_blocks,
                         job_images=total)
    done = [0]

    def advance(count: int) -> None:
        done[0] += count
        run.emit(PhaseProgress("activations", done[0], total, 0.0))

    def at_cut(indices: tuple[int, ...], view_number: int) -> torch.Tensor:
        view = augmented_view(config, view_number) if view_number else CENTRE
        paths = [run.dataset.images[i].path for i in indices]
        rows = stored_activations(paths, cut, default_store(), run.cancel, advance, view)
        return rows.to(run.device).contiguous(memory_format=torch.channels_last)

    train = torch.cat([at_cut(run.split.train, view) for view in range(views)])
    return train, at_cut(run.split.val, 0)


def _batches(inputs: torch.Tensor, labels: torch.Tensor, size: int
             ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(inputs[start:start + size], labels[start:start + size])
            for start in range(0, len(inputs), size)]


def _reference(run: RunContext, train_x: torch.Tensor, val_x: torch.Tensor
               ) -> NoveltyReference:
    """The "none of these" reference: pooled features under the final top, of (a subset of)
    the unaugmented training and validation photos."""
    seed, blocks = run.config.seed, run.config.top_blocks
    chosen = stratified_subset(run.labels(run.split.train), MAX_REFERENCE, seed)
    calibrate = stratified_subset(run.labels(run.split.val), MAX_CALIBRATION, seed)
    with torch.no_grad():
        train = torch.cat([pooled(run.network, x, blocks).float().cpu()
                           for x in train_x[chosen.to(train_x.device)].split(64)])
        val = torch.cat([pooled(run.network, x, blocks).float().cpu()
                         for x in val_x[calibrate.to(val_x.device)].split(64)])
    return build_reference(train, val)
