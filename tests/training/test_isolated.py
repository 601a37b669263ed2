"""`fit_in_child_process` behaves like `fit`: events, cancel, result, errors; a
`TrainingProcess` started ahead of its run warms up, trains one run, and never lingers."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from synthetic import make_dataset

from training.core.errors import DatasetError
from training.data.scanning import scan_dataset
from training.fitting.isolated import TrainingProcess, fit_in_child_process
from training.fitting.modelfile import load_model
from training.fitting.warm_up import warm_up
from training.records.config import TrainConfig
from training.records.events import EpochEnded, RunFinished, RunStarted, StepEnded
from training.records.runs import list_runs

pytestmark = pytest.mark.slow  # each test trains in a spawned child process


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


SMALL = TrainConfig.finetune(epochs=1, image_size=64, batch_size=4)


def test_the_warm_up_step_runs_offline_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    warm_up(SMALL)
    assert list(tmp_path.iterdir()) == []


def test_a_process_started_ahead_warms_up_then_trains_exactly_one_run(colours,
                                                                      tmp_path: Path) -> None:
    process = TrainingProcess(warm_up=SMALL)
    assert process.wait_ready(timeout=300) and process.usable()
    events = []
    result = process.fit(SMALL, colours, events.append, output=tmp_path / "m.safetensors")
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert result.model_path is not None and result.model_path.exists()
    assert not process.is_alive() and not process.usable(), "the process ends with its run"
    with pytest.raises(RuntimeError, match="one run"):
        process.fit(SMALL, colours)


def test_an_unused_process_is_unusable_in_a_changed_environment_and_ends_on_close(
        monkeypatch, tmp_path: Path) -> None:
    process = TrainingProcess()
    assert process.usable()
    monkeypatch.setenv("CHEETAHLION_HOME", str(tmp_path / "elsewhere"))
    assert not process.usable(), "its records would go to the home it was started with"
    process.close()
    assert not process.is_alive()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_a_waiting_process_ends_when_its_parent_has_gone() -> None:
    parent = (
        "import os, sys\n"
        "from training.fitting.isolated import TrainingProcess\n"
        "process = TrainingProcess()\n"
        "print(process.pid, flush=True)\n"
        "process.wait_ready(300)\n"
        "os._exit(0)\n"  # no clean-up: as if the app had crashed
    )
    output = subprocess.run([sys.executable, "-c", parent], check=True, capture_output=True,
                            text=True, cwd=Path(__file__).resolve().parents[2], timeout=300)
    orphan = int(output.stdout.split()[0])
    deadline = time.monotonic() + 120
    while _running(orphan) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _running(orphan), "an orphaned training process must not wait for ever"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_a_run_whose_parent_dies_stops_and_keeps_its_best_model(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "colours", per_class=6)
    parent = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from training.records.events import EpochEnded\n"
        "from training.data.scanning import scan_dataset\n"
        "from training.records.config import TrainConfig\n"
        "from training.fitting.isolated import TrainingProcess\n"
        "def crash(event):\n"
        "    if isinstance(event, EpochEnded):\n"
        "        print(process.pid, flush=True)\n"
        "        os._exit(0)\n"  # the app dies mid-run
        "process = TrainingProcess()\n"
        "config = TrainConfig.finetune(epochs=50, image_size=64, batch_size=4,\n"
        "                              early_stopping_patience=0)\n"
        "process.fit(config, scan_dataset(Path(sys.argv[1])), crash)\n"
    )
    output = subprocess.run([sys.executable, "-c", parent, str(data)], check=True,
                            capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[2], timeout=300)
    orphan = int(output.stdout.split()[0])
    deadline = time.monotonic() + 120
    while _running(orphan) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _running(orphan)
    run, = list_runs(data)
    assert run.stopped == "cancelled" and len(run.epochs) < 50, "it stopped, not trained on"
    assert run.model_path and Path(run.model_path).exists() and run.resumable


def _running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting to be reaped has ended)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status
