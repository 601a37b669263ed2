"""A full disk: the model is saved elsewhere or the error says what to do; nothing is lost or
left half-written.

The disks are real: small tmpfs mounts, filled to the last byte. Mounting needs root (CI and
the development machines run as root); elsewhere these tests skip and say why.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from training.core.errors import ModelFileError
from training.data.scanning import scan_dataset
from training.fitting.modelfile import load_model
from training.fitting.trainer import fit
from training.predict.sorting import sort_into_folders
from training.records.config import TrainConfig
from training.records.runs import list_runs

REPO = Path(__file__).resolve().parents[2]
QUICK = TrainConfig.quick(epochs=3, image_size=64)




def fill(disk: Path) -> Path:
    """Write zeros into `disk` until it has no byte left; return the filler file."""
    filler = disk / "filler.bin"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for block in (bytes(64 * 1024), b"\0"):  # big blocks, then the last bytes
            try:
                while True:
                    os.write(descriptor, block)
            except OSError as error:
                assert error.errno == errno.ENOSPC
    finally:
        os.close(descriptor)
    return filler


def hidden_leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if p.is_file()]


@pytest.fixture
def dataset(make_dataset: Callable[..., Path], tmp_path: Path):  # type: ignore[no-untyped-def]
    return scan_dataset(make_dataset(tmp_path / "data", {"red": 8, "blue": 8}))


def test_a_model_that_cannot_be_saved_where_asked_goes_to_the_run_folder(
        dataset, small_disk: Callable[[str, str], Path]) -> None:  # type: ignore[no-untyped-def]
    disk = small_disk("usb", "32m")
    target = disk / "model.safetensors"
    first = fit(QUICK, dataset, output=target)
    before = target.read_bytes()
    fill(disk)
    result = fit(QUICK, dataset, output=target)
    assert target.read_bytes() == before, "the old model must stay whole"
    assert result.model_path is not None and result.model_path != target
    assert load_model(result.model_path).classes == dataset.classes
    assert len(result.warnings) == 1 and str(target) in result.warnings[0]
    assert "No space left on device" in result.warnings[0]
    assert hidden_leftovers(disk) == []
    records = {record.run_id: record for record in list_runs(dataset.root)}
    assert records[result.run_id].model_path == str(result.model_path)
    assert first.run_id in records
    # The new model did not replace the old one: the old run's row still opens it at target.
    assert records[first.run_id].model_path == str(target)
    assert records[first.run_id].model_note is None


def test_when_no_disk_has_room_the_error_says_so_and_the_old_model_stays(
        dataset, small_disk: Callable[[str, str], Path],  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    disk = small_disk("full", "32m")
    monkeypatch.setenv("CHEETAHLION_HOME", str(disk / "home"))
    target = disk / "model.safetensors"
    fit(QUICK, dataset, output=target)
    before = target.read_bytes()
    fill(disk)
    with pytest.raises(ModelFileError) as error:
        fit(QUICK, dataset, output=target)
    message = str(error.value)
    assert str(target) in message and "No space left on device" in message
    assert "Free some space" in message and "unchanged" in message
    assert target.read_bytes() == before
    assert hidden_leftovers(disk) == []


def test_cli_train_on_a_full_disk_prints_one_line_and_exits_1(
        dataset, small_disk: Callable[[str, str], Path],  # type: ignore[no-untyped-def]
        tmp_path: Path) -> None:
    disk = small_disk("full", "8m")
    fill(disk)
    home = disk / "home"
    done = subprocess.run(
        [sys.executable, "-m", "training.cli", "train", str(dataset.root), "-o",
         str(disk / "model.safetensors"), "--epochs", "2", "--image-size", "64", "--quiet"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "CHEETAHLION_HOME": str(home)})
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: The model could not be saved"), \
        done.stderr
    assert "Traceback" not in done.stderr


def test_a_full_data_folder_keeps_the_model_and_leaves_no_empty_run_folder(
        dataset, small_disk: Callable[[str, str], Path],  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    disk = small_disk("home", "4m")
    monkeypatch.setenv("CHEETAHLION_HOME", str(disk))
    fill(disk)
    target = tmp_path / "model.safetensors"
    result = fit(QUICK, dataset, output=target)
    assert result.model_path == target and load_model(target).classes == dataset.classes
    assert len(result.warnings) == 1 and "could not be added to the history" in \
        result.warnings[0]
    assert list(disk.rglob(result.run_id)) == [], "an empty run folder was left behind"
    assert list_runs(dataset.root) == []


def test_checkpoints_that_cannot_be_written_do_not_stop_fine_tuning(
        dataset, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
        tmp_path: Path) -> None:
    import training.fitting.run_hooks as run_hooks

    def no_space(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(run_hooks, "save_checkpoint", no_space)
    config = TrainConfig.finetune(epochs=2, image_size=32, batch_size=8, augment=False)
    result = fit(config, dataset, output=tmp_path / "model.safetensors")
    assert result.stopped == "completed" and len(result.history) == 2
    assert result.model_path is not None and result.model_path.exists()
    assert len(result.warnings) == 1 and "cannot be resumed" in result.warnings[0]


@pytest.mark.parametrize("move", [False, True], ids=["copy", "move"])
def test_sorting_onto_a_full_disk_leaves_no_empty_files_and_a_retry_keeps_the_names(
        make_dataset: Callable[..., Path], small_disk: Callable[[str, str], Path],
        tmp_path: Path, move: bool) -> None:
    photos = make_dataset(tmp_path / "photos", {"red": 3}, size=(256, 256))
    files = sorted((photos / "red").iterdir())
    disk = small_disk("sorted", "1m")
    filler = fill(disk)
    summary = sort_into_folders([(path, "red") for path in files], disk, move=move)
    assert summary.done == [] and len(summary.failed) == len(files)
    assert "The disk is full" in summary.describe("copied")
    assert [p for p in disk.rglob("*") if p.is_file() and p != filler] == []
    assert all(path.exists() for path in files), "the originals must stay where they were"
    filler.unlink()
    retry = sort_into_folders([(path, "red") for path in files], disk, move=move)
    assert sorted(p.name for p in (disk / "red").iterdir()) == [p.name for p in files]
    assert retry.renamed == 0 and retry.failed == []


def test_a_full_disk_under_the_feature_store_costs_only_the_keeping(
        small_disk: Callable[[str, str], Path], tmp_path: Path) -> None:
    from test_feature_store import MeanColour, features, photos

    from training.data.feature_store import FeatureStore

    disk = small_disk("cache", "1m")
    store = FeatureStore(disk / "features.sqlite3")
    paths = photos(tmp_path / "gallery", 40)
    network = MeanColour()
    first = features(paths[:4], network, store)
    filler = fill(disk)
    second = features(paths, network, store)  # writes fail from here on
    assert not store.available
    unstored = features(paths, MeanColour(), None)
    assert all(isinstance(item, type(first[0])) for item in second)
    assert all((a == b).all() for a, b in zip(second, unstored, strict=True))
    assert network.computed == 40  # the first four were read back, the rest computed
    filler.unlink()
    again = FeatureStore(disk / "features.sqlite3")  # once there is room, it keeps again
    features(paths[4:8], network, again)
    assert again.available and network.computed == 44
    assert len(features(paths[:8], network, again)) == 8 and network.computed == 44


def test_a_store_that_cannot_be_made_on_a_full_disk_leaves_no_empty_file(
        small_disk: Callable[[str, str], Path]) -> None:
    """Opening a new store on a full disk left a 0-byte features.sqlite3 (SQLite makes the
    file, then cannot write its first page); nothing of it may stay."""
    from training.data.feature_store import FeatureStore

    disk = small_disk("cache", "1m")
    fill(disk)
    store = FeatureStore(disk / "features.sqlite3")
    assert not store.available
    assert sorted(p.name for p in disk.iterdir()) == ["filler.bin"]
