"""Resuming a fine-tune: stop or crash after epoch 1, resume, and end exactly where an
uninterrupted run with the same seed ends; and refuse checkpoints that do not fit."""

from __future__ import annotations

import threading
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
from synthetic import make_dataset

from training.cli import main
from training.core.errors import ConfigError, DatasetError, ModelFileError
from training.data.scanning import scan_dataset
from training.fitting.checkpoint import CHECKPOINT_NAME, load_checkpoint
from training.fitting.modelfile import load_model
from training.fitting.result import FitResult
from training.fitting.trainer import fit
from training.records.config import TrainConfig
from training.records.events import EpochEnded, RunStarted, StepEnded, TrainingEvent
from training.records.runs import list_runs

CONFIG = TrainConfig.finetune(epochs=3, batch_size=4, image_size=64, seed=7,
                              early_stopping_patience=0, device="cpu")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data") / "colours", per_class=6)


@pytest.fixture(scope="module")
def uninterrupted(data: Path, tmp_path_factory: pytest.TempPathFactory) -> FitResult:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHEETAHLION_HOME", str(tmp_path_factory.mktemp("home")))
        return fit(CONFIG, scan_dataset(data), output=tmp_path_factory.mktemp("m") / "m")


def _curves(result: FitResult) -> list[dict[str, object]]:
    return [{k: v for k, v in asdict(event).items() if k != "seconds"}
            for event in result.history]


def _largest_difference(a: FitResult, b: FitResult) -> float:
    first, second = a.model.network.state_dict(), b.model.network.state_dict()
    assert first.keys() == second.keys()
    return max(float((first[k].double() - second[k].double()).abs().max()) for k in first)


def _stop_after(epoch: int, cancel: threading.Event):
    def callback(event: TrainingEvent) -> None:
        if isinstance(event, EpochEnded) and event.epoch == epoch:
            cancel.set()
    return callback


def test_stopped_after_epoch_one_and_resumed_ends_like_the_uninterrupted_run(
        data: Path, uninterrupted: FitResult, tmp_path: Path) -> None:
    dataset = scan_dataset(data)
    cancel = threading.Event()
    stopped = fit(CONFIG, dataset, _stop_after(1, cancel), cancel, output=tmp_path / "m")
    assert stopped.stopped == "cancelled" and len(stopped.history) == 1
    assert stopped.model_path is not None and stopped.model_path.exists()
    record, = list_runs(data)
    assert record.stopped == "cancelled" and record.resumable
    assert Path(record.checkpoint).name == CHECKPOINT_NAME and Path(record.checkpoint).exists()

    events: list[TrainingEvent] = []
    resumed = fit(CONFIG, dataset, events.append, resume=stopped.run_id)
    assert resumed.run_id == stopped.run_id and resumed.stopped == "completed"
    assert resumed.model_path == tmp_path / "m.safetensors"  # where the run was writing
    assert [e.epoch for e in events if isinstance(e, EpochEnded)] == [2, 3]
    assert next(e for e in events if isinstance(e, StepEnded)).step == \
        next(e for e in events if isinstance(e, RunStarted)).steps_per_epoch + 1

    assert _curves(resumed) == _curves(uninterrupted)
    assert resumed.best_epoch == uninterrupted.best_epoch
    assert _largest_difference(resumed, uninterrupted) == 0.0
    saved = load_model(resumed.model_path).network.state_dict()
    assert all(torch.equal(saved[k], v) for k, v in
               uninterrupted.model.network.state_dict().items())

    record, = list_runs(data)
    assert record.stopped == "completed" and record.resumed_after == (1,)
    assert record.checkpoint is None and not record.resumable
    assert not Path(stopped.model_path.parent, CHECKPOINT_NAME).exists()
    steps = next(e for e in events if isinstance(e, RunStarted)).steps_per_epoch
    assert len(record.epochs) == 3 and len(record.step_losses) == 3 * steps
    assert record.seconds >= stopped.seconds


def test_a_crash_after_epoch_one_leaves_a_checkpoint_the_cli_resumes_from(
        data: Path, uninterrupted: FitResult, tmp_path: Path, capsys) -> None:
    dataset = scan_dataset(data)

    def crash(event: TrainingEvent) -> None:
        if isinstance(event, EpochEnded) and event.epoch == 1:
            raise RuntimeError("the power went out")

    with pytest.raises(RuntimeError, match="power"):
        fit(CONFIG, dataset, crash)
    record, = list_runs(data)
    assert record.stopped == "interrupted" and record.resumable and record.model_path is None
    assert len(record.epochs) == 1

    model = tmp_path / "resumed.safetensors"
    train = ["train", str(data), "-o", str(model), "--resume"]
    assert main([*train, record.checkpoint, "--epochs", "4", "--quiet"]) == 1
    assert "epochs 3 (now 4)" in capsys.readouterr().err and not model.exists()

    assert main([*train, record.checkpoint, "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"resuming run {record.run_id} after epoch 1 of 3" in out
    assert "epoch 2/3" in out and "epoch 3/3" in out and "finished all 3 epochs" in out
    weights = load_model(model).network.state_dict()
    assert all(torch.equal(weights[k], v)
               for k, v in uninterrupted.model.network.state_dict().items())
    record, = list_runs(data)
    assert record.stopped == "completed" and record.resumed_after == (1,)


def test_a_damaged_or_foreign_checkpoint_is_refused_naming_the_file(
        data: Path, uninterrupted: FitResult, tmp_path: Path) -> None:
    dataset = scan_dataset(data)
    damaged = tmp_path / CHECKPOINT_NAME
    damaged.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ModelFileError, match=str(damaged)):
        fit(CONFIG, dataset, resume=damaged)
    with pytest.raises(ModelFileError, match="not a CheetahLion training checkpoint"):
        load_checkpoint(uninterrupted.model_path)
    with pytest.raises(ModelFileError, match="no checkpoint"):
        fit(CONFIG, dataset, resume="20200101-000000-abcdef")


def test_other_settings_or_changed_data_are_refused(data: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    for image in data.rglob("*.png"):
        (root / image.parent.name).mkdir(parents=True, exist_ok=True)
        (root / image.parent.name / image.name).write_bytes(image.read_bytes())
    cancel = threading.Event()
    config = replace(CONFIG, epochs=2)
    stopped = fit(config, scan_dataset(root), _stop_after(1, cancel), cancel)
    with pytest.raises(ConfigError, match="learning_rate"):
        fit(replace(config, learning_rate=1e-3), scan_dataset(root), resume=stopped.run_id)
    with pytest.raises(ConfigError, match="Only fine-tuning"):
        fit(TrainConfig.quick(), scan_dataset(root), resume=stopped.run_id)
    (root / "red" / "0.png").write_bytes((root / "red" / "1.png").read_bytes())
    with pytest.raises(DatasetError, match="dataset changed"):
        fit(config, scan_dataset(root), resume=stopped.run_id)
