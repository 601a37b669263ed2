"""Issue 21: the run history opens the model each row describes, or says it no longer can;
what a run records of the data it started with; Ctrl+C once the run is over."""

from __future__ import annotations

import os
import shutil
import signal
import threading
from pathlib import Path

import pytest
from synthetic import make_dataset as make_colour_dataset

from training.cli import main
from training.cli import train as train_command
from training.data.scanning import scan_dataset
from training.fitting.modelfile import read_metadata
from training.fitting.trainer import fit
from training.insight.cleanup import move_to_class
from training.records import runs
from training.records.config import TrainConfig
from training.records.events import EpochEnded
from training.records.runs import list_runs

QUICK = ("--epochs", "2", "--image-size", "64", "--quiet")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return make_colour_dataset(tmp_path / "data", per_class=8, size=64)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# --- item 4 ------------------------------------------------------------------------------------

def test_two_runs_into_one_file_keep_both_models_and_the_history_opens_each(
        capsys, data: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.safetensors"
    code, _, _ = _cli(capsys, "train", str(data), "-o", str(model), "--seed", "1", *QUICK)
    assert code == 0
    first_bytes = model.read_bytes()
    code, out, err = _cli(capsys, "train", str(data), "-o", str(model), "--seed", "2", *QUICK)
    assert code == 0 and f"model saved to {model}" in out
    first, second = sorted(list_runs(data), key=lambda r: r.config["seed"])
    # Was: no warning, and both rows pointing at `model`, which held only the second model.
    assert f"held the model of run {first.run_id}; it was kept in that run's folder" in err
    assert second.model_path == str(model) and first.model_path != str(model)
    assert Path(first.model_path).read_bytes() == first_bytes
    assert read_metadata(first.model_path)["seed"] == 1 and read_metadata(model)["seed"] == 2
    assert first.model_note is None and second.model_note is None
    code, out, _ = _cli(capsys, "runs", str(data))
    assert first.model_path in out and "replaced" not in out


def test_a_row_whose_file_a_later_run_replaced_says_so(data: Path, tmp_path: Path,
                                                       monkeypatch) -> None:
    """When the model cannot be kept (here: keeping is switched off, as a full disk would),
    the earlier row names the run that replaced its file, in one line."""
    monkeypatch.setattr(runs, "_keep_model", lambda *_args: None)
    dataset = scan_dataset(data)
    model = tmp_path / "model.safetensors"
    first = fit(TrainConfig.quick(epochs=1, image_size=64, seed=1), dataset, output=model)
    second = fit(TrainConfig.quick(epochs=1, image_size=64, seed=2), dataset, output=model)
    by_id = {record.run_id: record for record in list_runs(data)}
    earlier, later = by_id[first.run_id], by_id[second.run_id]
    assert earlier.model_note == (
        f"The model file of run {first.run_id} was replaced by a later run ({second.run_id}): "
        f"{model} holds that run's model now. Train again to get this run's model back.")
    assert later.model_note is None


def test_a_model_file_changed_or_deleted_outside_is_named(capsys, data: Path,
                                                         tmp_path: Path) -> None:
    model, other = tmp_path / "model.safetensors", tmp_path / "other.safetensors"
    for seed, output in ((1, model), (2, other)):
        assert _cli(capsys, "train", str(data), "-o", str(output), "--seed", str(seed),
                    *QUICK)[0] == 0
    shutil.copyfile(other, model)  # a user copies one model over another
    notes = {Path(r.model_path or "").name: r.model_note or "" for r in list_runs(data)}
    assert "was replaced since that run saved it" in notes[model.name]
    assert notes[other.name] == ""
    other.unlink()
    notes = {Path(r.model_path or "").name: r.model_note or "" for r in list_runs(data)}
    assert "no longer exists" in notes[other.name]
    code, out, _ = _cli(capsys, "runs", str(data))
    assert code == 0 and "replaced since" in out and "no longer exists" in out


# --- item 12 -----------------------------------------------------------------------------------

def test_a_run_cancelled_before_its_first_epoch_shows_no_accuracy(capsys, data: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    result = fit(TrainConfig.quick(epochs=1, image_size=64), scan_dataset(data), cancel=cancel)
    assert result.model_path is None and result.history == ()
    code, out, _ = _cli(capsys, "runs", str(data))
    assert code == 0 and "val acc —" in out and "0.000" not in out  # was "val acc 0.000"


def test_a_move_during_a_fine_tune_is_not_counted_as_data_it_trained_on(data: Path) -> None:
    dataset = scan_dataset(data)
    moved: list[object] = []

    def move_once(event: object) -> None:
        if isinstance(event, EpochEnded) and not moved:
            moved.append(move_to_class(data, [data / "red" / "0.png"], "blue"))

    config = TrainConfig.finetune(epochs=1, image_size=32, batch_size=8, augment=False)
    fit(config, dataset, move_once)
    assert moved and moved[0].moves  # type: ignore[attr-defined]
    record = list_runs(data)[-1]
    # It trained on the 16 photos as they were when it started: was "16 (1 moved)".
    assert (record.cleanup_moves, record.data_used) == (0, "16")


def test_ctrl_c_just_after_model_saved_exits_0(capsys, data: Path, tmp_path: Path,
                                               monkeypatch) -> None:
    """A real SIGINT to this process right after "model saved" is printed."""
    report = train_command._report

    def report_then_ctrl_c(*arguments: object) -> None:
        report(*arguments)
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # Python runs signal handlers between bytecodes
            pass

    monkeypatch.setattr(train_command, "_report", report_then_ctrl_c)
    code, out, err = _cli(capsys, "train", str(data), "-o", str(tmp_path / "m.safetensors"),
                          *QUICK)
    assert "model saved to" in out
    assert code == 0 and "interrupted" not in err  # was 130, with the run recorded completed
    assert list_runs(data)[-1].stopped == "completed"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler



def test_runs_that_end_within_one_second_are_listed_in_the_order_they_ended(
        capsys, data: Path, tmp_path: Path) -> None:
    """Quick runs now end within a second of each other: with `created` in whole seconds the
    history's order (oldest first) was a coin toss, and "the newest run" another run."""
    for seed in range(4):
        code, _, _ = _cli(capsys, "train", str(data), "-o", str(tmp_path / f"{seed}.safetensors"),
                          "--seed", str(seed), "--epochs", "1", "--image-size", "64", "--quiet")
        assert code == 0
    listed = list_runs(data)
    assert [record.config["seed"] for record in listed] == [0, 1, 2, 3]
    assert len({record.created for record in listed}) == 4
