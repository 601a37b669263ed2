"""`RunHooks` on the epoch loop: a run's bookkeeping without a network or a `fit`.

A tiny linear head trains for a few epochs on random numbers (milliseconds); the hooks
write a real checkpoint and real run records into the test's runs folder.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from training.data.scanning import scan_dataset
from training.data.splitting import split_dataset
from training.fitting import run_hooks
from training.fitting.checkpoint import checkpoint_path, load_checkpoint
from training.fitting.distributed import Workers
from training.fitting.loop import EpochLoop, LoopOutcome
from training.fitting.never_worse import QUICK_SHARES, Scores, State
from training.fitting.run_context import RunContext, Trained
from training.fitting.run_hooks import RunHooks, Start
from training.fitting.session import RunSession
from training.records.backbones import get_backbone
from training.records.config import TrainConfig
from training.records.events import Callback, EpochEnded, TrainingEvent, ignore_event
from training.records.runs import list_runs

EPOCHS = 3


@pytest.fixture
def photos(make_dataset: Callable[..., Path], tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "photos", {"cheetah": 4, "lion": 4}, size=(16, 16))


def _hooks(root: Path, checkpoints: bool = True) -> RunHooks:
    dataset = scan_dataset(root)
    config = TrainConfig.finetune(epochs=EPOCHS, batch_size=4, early_stopping_patience=0)
    run = RunContext(
        config=config, dataset=dataset, split=split_dataset(dataset, 0.25, 0.0, 0),
        prep=get_backbone(config.backbone).preprocessing, network=torch.nn.Linear(3, 2),
        matches=None, device=torch.device("cpu"), generator=torch.Generator().manual_seed(0),
        draws=torch.Generator().manual_seed(1), emit=ignore_event,
        cancel=threading.Event(), workers=Workers(),
    )
    return RunHooks(run, RunSession("20260101-000000-abcdef", None, time.perf_counter()),
                    checkpoints=checkpoints)


def _loop(hooks: RunHooks, callback: Callback = ignore_event) -> EpochLoop:
    generator = torch.Generator().manual_seed(0)
    inputs, labels = torch.randn(8, 3, generator=generator), torch.tensor([0, 1] * 4)
    head = torch.nn.Linear(3, 2)
    return EpochLoop(
        module=head, forward=head, train_batches=lambda _epoch: [(inputs, labels)],
        val_batches=lambda: [(inputs, labels)], steps_per_epoch=1, config=hooks.run.config,
        callback=callback,
        cancel=threading.Event(), hooks=hooks,
    )


def test_each_epoch_leaves_a_checkpoint_and_an_interim_record_and_the_end_one_record(
        photos: Path) -> None:
    hooks = _hooks(photos)
    root, run_id = hooks.run.dataset.root, hooks.session.run_id
    path = checkpoint_path(root, run_id)
    on_disk: list[tuple[int, int, str]] = []

    def callback(event: TrainingEvent) -> None:  # called after the epoch's hook
        if isinstance(event, EpochEnded):
            records = list_runs(root)
            on_disk.append((load_checkpoint(path).state.epoch, len(records),
                            records[0].stopped))

    outcome = _loop(hooks, callback).run()
    assert on_disk == [(epoch, 1, "interrupted") for epoch in range(1, EPOCHS + 1)]
    result = hooks.run_ended(Trained(outcome, None), None, None)
    records = list_runs(root)
    assert [(r.run_id, r.stopped, r.checkpoint) for r in records] == [
        (run_id, "completed", None)]
    assert not path.exists(), "a completed run keeps no checkpoint"
    assert result.stopped == "completed" and len(result.history) == EPOCHS
    assert result.warnings == ()


def test_a_stopped_run_keeps_its_checkpoint_in_the_final_record(photos: Path) -> None:
    hooks = _hooks(photos)
    outcome = _loop(hooks).run()
    stopped = LoopOutcome(outcome.history, outcome.step_losses, outcome.best_state,
                          outcome.best_epoch, outcome.best_val_loss,
                          outcome.best_val_accuracy, "cancelled")
    hooks.run_ended(Trained(stopped, None), None, None)
    (record,) = list_runs(hooks.run.dataset.root)
    assert record.stopped == "cancelled" and record.resumable


def test_quick_runs_write_no_checkpoint(photos: Path) -> None:
    hooks = _hooks(photos, checkpoints=False)
    _loop(hooks).run()
    assert list_runs(hooks.run.dataset.root) == []
    assert not checkpoint_path(hooks.run.dataset.root, hooks.session.run_id).exists()


def test_a_checkpoint_that_fails_every_epoch_is_one_warning_of_the_result(
        photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(run_hooks, "save_checkpoint", no_space)
    hooks = _hooks(photos)
    outcome = _loop(hooks).run()
    assert len(outcome.history) == EPOCHS, "training went on"
    result = hooks.run_ended(Trained(outcome, None), None, None)
    assert len(result.warnings) == 1 and "cannot be resumed" in result.warnings[0]


def test_the_end_of_training_keeps_a_start_that_was_better(photos: Path) -> None:
    hooks = _hooks(photos, checkpoints=False)
    start: State = {"weight": torch.zeros(2, 3), "bias": torch.zeros(2)}

    def score(_state: State) -> Scores:  # every blend is worse than the start
        return 9.0, 0.0

    hooks.start = Start(start, (0.0, 1.0), score, QUICK_SHARES)
    outcome = _loop(hooks).run()
    assert hooks.kept is not None and hooks.kept.trained_share == 0.0
    assert outcome.best_state is start
    assert (outcome.best_val_loss, outcome.best_val_accuracy) == (0.0, 1.0)
    result = hooks.run_ended(Trained(outcome, None), None, None)
    assert result.kept == hooks.kept and result.best_val_accuracy == 1.0
