"""`fit` on small synthetic datasets: both modes, events, cancel, early stopping, seeds."""

from __future__ import annotations

import dataclasses
import threading
from importlib import metadata
from pathlib import Path

import pytest
import torch
from synthetic import make_dataset

from training.core.errors import DatasetError
from training.data.scanning import scan_dataset
from training.fitting.modelfile import load_model
from training.fitting.trainer import fit
from training.models.networks import load_pretrained
from training.predict.inference import Predictor
from training.records.backbones import get_backbone
from training.records.config import TrainConfig
from training.records.events import (
    EpochEnded,
    PhaseProgress,
    RunFinished,
    RunStarted,
    StepEnded,
    TrainingEvent,
)
from training.records.runs import list_runs

# Small inputs keep fine-tuning fast on a CPU; the pretrained features still separate colours.
SMALL = {"image_size": 64}


@pytest.fixture(scope="module")
def colours(tmp_path_factory: pytest.TempPathFactory):
    root = make_dataset(tmp_path_factory.mktemp("data") / "colours", per_class=10)
    return scan_dataset(root)


def _plain(value: object) -> bool:
    if isinstance(value, tuple):
        return all(_plain(v) for v in value)
    return value is None or type(value) in (int, float, str, bool)


def test_quick_mode_learns_and_reports_plain_frozen_events(colours, tmp_path: Path) -> None:
    events: list[TrainingEvent] = []
    result = fit(TrainConfig.quick(epochs=15, **SMALL), colours, events.append,
                 output=tmp_path / "m.safetensors")
    assert result.stopped in {"completed", "early_stopping"}
    assert result.best_val_accuracy == 1.0
    assert result.model_path == tmp_path / "m.safetensors" and result.model_path.exists()
    assert isinstance(events[0], RunStarted) and events[0].phases == ("features", "train")
    assert isinstance(events[-1], RunFinished) and events[-1].model_path == str(result.model_path)
    kinds = {type(event) for event in events}
    assert {PhaseProgress, StepEnded, EpochEnded} <= kinds
    for event in events:
        assert dataclasses.is_dataclass(event)
        with pytest.raises(dataclasses.FrozenInstanceError):
            event.epoch = 99  # type: ignore[union-attr,misc]
        assert all(_plain(getattr(event, f.name)) for f in dataclasses.fields(event)), event
    steps = [e.step for e in events if isinstance(e, StepEnded)]
    assert steps == sorted(steps)
    assert steps[-1] == result.history[-1].epoch * events[0].steps_per_epoch
    features = [e for e in events if isinstance(e, PhaseProgress) and e.phase == "features"]
    assert features[-1].done == features[-1].total == len(colours.images)


def test_saved_model_predicts_exactly_what_the_trained_one_did(colours, tmp_path: Path) -> None:
    result = fit(TrainConfig.quick(epochs=5, **SMALL), colours, output=tmp_path / "m")
    paths = [record.path for record in colours.images]
    live = list(Predictor.from_model(result.model).predict(paths))
    reloaded = list(Predictor.from_file(result.model_path).predict(paths))
    assert [p.probabilities for p in live] == [p.probabilities for p in reloaded]
    assert [p.label for p in live] == [colours.classes[r.label] for r in colours.images]


def test_same_seed_same_model_and_other_seed_other_split(colours, tmp_path: Path) -> None:
    first = fit(TrainConfig.quick(epochs=3, seed=7, **SMALL), colours, output=tmp_path / "a")
    second = fit(TrainConfig.quick(epochs=3, seed=7, **SMALL), colours, output=tmp_path / "b")
    weights_a = load_model(first.model_path).network.state_dict()
    weights_b = load_model(second.model_path).network.state_dict()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    other = fit(TrainConfig.quick(epochs=1, seed=8, **SMALL), colours, output=tmp_path / "c")
    assert other.split.val != first.split.val


def test_cancel_after_an_epoch_keeps_the_best_model(colours, tmp_path: Path) -> None:
    cancel = threading.Event()
    seen: list[TrainingEvent] = []

    def callback(event: TrainingEvent) -> None:
        seen.append(event)
        if isinstance(event, EpochEnded) and event.epoch == 2:
            cancel.set()

    result = fit(TrainConfig.quick(epochs=50, early_stopping_patience=0, **SMALL), colours,
                 callback, cancel, output=tmp_path / "m")
    assert result.stopped == "cancelled"
    assert len(result.history) == 2
    assert result.model_path is not None
    assert load_model(result.model_path).classes == colours.classes
    after_cancel = seen[[i for i, e in enumerate(seen) if isinstance(e, EpochEnded)][-1] + 1:]
    # Within one batch: at most the finishing event follows the cancelling epoch.
    assert [type(e) for e in after_cancel] == [RunFinished]


def test_cancel_before_the_first_epoch_saves_nothing(colours, tmp_path: Path) -> None:
    cancel = threading.Event()

    def callback(event: TrainingEvent) -> None:
        if isinstance(event, PhaseProgress):
            cancel.set()

    result = fit(TrainConfig.quick(**SMALL), colours, callback, cancel, output=tmp_path / "m")
    assert result.stopped == "cancelled" and result.model is None and result.model_path is None
    assert not (tmp_path / "m.safetensors").exists()


def test_early_stopping_stops_when_validation_stops_improving(colours, tmp_path: Path) -> None:
    result = fit(TrainConfig.quick(epochs=200, early_stopping_patience=2, learning_rate=1.0,
                                   **SMALL), colours, output=tmp_path / "m")
    assert result.stopped == "early_stopping"
    assert len(result.history) < 200
    assert len(result.history) - result.best_epoch == 2


def test_finetune_mode_trains_the_whole_network_and_stops_mid_epoch(colours, tmp_path: Path
                                                                     ) -> None:
    cancel = threading.Event()
    events: list[TrainingEvent] = []

    def callback(event: TrainingEvent) -> None:
        events.append(event)
        if isinstance(event, StepEnded) and event.epoch == 2:
            cancel.set()

    config = TrainConfig.finetune(epochs=3, batch_size=4, cutout_size=16, cutout_probability=0.5,
                                  **SMALL)
    result = fit(config, colours, callback, cancel, output=tmp_path / "m")
    assert events[0].phases == ("decode", "train", "features")  # type: ignore[union-attr]
    assert result.stopped == "cancelled" and len(result.history) == 1
    steps_in_epoch_2 = [e for e in events if isinstance(e, StepEnded) and e.epoch == 2]
    assert len(steps_in_epoch_2) == 1, "stopped within one batch of the request"
    loaded = load_model(result.model_path)
    assert loaded.novelty is None, "a cancelled fine-tune is saved at once, without novelty data"
    original = load_pretrained(get_backbone("efficientnet_lite0"))
    assert not torch.equal(loaded.network.conv_stem.weight, original.conv_stem.weight), \
        "the backbone's weights must have trained, not only the head"
    assert loaded.preprocessing.crop == 64


def test_every_run_is_recorded_with_curves(colours, tmp_path: Path) -> None:
    result = fit(TrainConfig.quick(epochs=4, early_stopping_patience=0, **SMALL), colours,
                 output=tmp_path / "m")
    records = list_runs(colours.root)
    assert [r.run_id for r in records][-1] == result.run_id
    record = records[-1]
    assert len(record.epochs) == 4 and record.step_losses
    assert record.dataset_fingerprint == colours.fingerprint
    assert record.config["seed"] == 0
    assert record.versions["torch"] == metadata.version("torch")
    assert record.model_path == str(result.model_path)
    assert result.record == record, "the result carries the entry it wrote"


def test_a_dataset_with_errors_is_refused(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "one", classes=("red",), per_class=3)
    dataset = scan_dataset(root)
    with pytest.raises(DatasetError, match="at least two classes"):
        fit(TrainConfig.quick(), dataset)


def test_nothing_is_written_into_the_dataset(colours, tmp_path: Path) -> None:
    before = sorted((p, p.stat().st_mtime_ns) for p in colours.root.rglob("*"))
    fit(TrainConfig.quick(epochs=1, **SMALL), colours)
    after = sorted((p, p.stat().st_mtime_ns) for p in colours.root.rglob("*"))
    assert before == after
