"""`fit_in_child_process` behaves like `fit`: events, cancel, result, errors."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from synthetic import make_dataset

from training.core.errors import DatasetError
from training.core.events import EpochEnded, RunFinished, RunStarted, StepEnded
from training.data.scanning import scan_dataset
from training.fitting.config import TrainConfig
from training.fitting.isolated import fit_in_child_process
from training.fitting.modelfile import load_model
from training.fitting.runs import list_runs


@pytest.fixture(scope="module")
def colours(tmp_path_factory: pytest.TempPathFactory):
    return scan_dataset(make_dataset(tmp_path_factory.mktemp("data") / "colours", per_class=8))


def test_events_result_and_model_come_back(colours, tmp_path: Path) -> None:
    events = []
    result = fit_in_child_process(TrainConfig.finetune(epochs=2, image_size=64), colours,
                                  events.append, output=tmp_path / "m.safetensors")
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert sum(isinstance(e, EpochEnded) for e in events) == 2
    assert result.model is None and result.model_path == tmp_path / "m.safetensors"
    assert load_model(result.model_path).classes == colours.classes
    assert [r.run_id for r in list_runs(colours.root)][-1] == result.run_id


def test_cancel_reaches_the_child_and_the_best_model_is_kept(colours, tmp_path: Path) -> None:
    cancel = threading.Event()
    steps_after_cancel = []

    def callback(event: object) -> None:
        if cancel.is_set() and isinstance(event, StepEnded):
            steps_after_cancel.append(event)
        if isinstance(event, EpochEnded):
            cancel.set()

    result = fit_in_child_process(TrainConfig.finetune(epochs=5, image_size=64, batch_size=4),
                                  colours, callback, cancel, output=tmp_path / "m")
    assert result.stopped == "cancelled" and len(result.history) < 5
    assert result.model_path is not None and result.model_path.exists()
    assert len(steps_after_cancel) <= 2, "the child stops within a batch or two of the request"


def test_user_errors_cross_the_process_boundary(tmp_path: Path) -> None:
    one_class = scan_dataset(make_dataset(tmp_path / "one", classes=("red",), per_class=3))
    with pytest.raises(DatasetError, match="at least two classes"):
        fit_in_child_process(TrainConfig.finetune(), one_class)
