"""A multi-label run is in the run history like a single-label one: its task, label names,
photos per label and validation mAP / macro-F1 / exact match, listed by `runs DATA`."""

from __future__ import annotations

import errno
import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest
from multilabel_synthetic import LABELS, make_patch_dataset, patch_split

from training.cli import main as cli_main
from training.fitting.multilabel import MultiLabelFitResult, fit_multilabel
from training.fitting.multilabel_record import multilabel_record, record_multilabel_run
from training.records import runs
from training.records.config import TrainConfig
from training.records.multilabel import MultiLabelDataset
from training.records.run_record import RECORD_VERSION, RunRecord

COUNT = 30
CONFIG = TrainConfig.quick(epochs=3, image_size=64)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[MultiLabelDataset, MultiLabelFitResult, Path]:
    """A run recorded in a home of its own, which each test then uses as its home."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHEETAHLION_HOME", str(home))
        dataset = make_patch_dataset(tmp_path_factory.mktemp("patches") / "photos", COUNT)
        result = fit_multilabel(CONFIG, dataset, patch_split(COUNT))
    return dataset, result, home


@pytest.fixture
def history(trained: tuple[MultiLabelDataset, MultiLabelFitResult, Path],
            monkeypatch: pytest.MonkeyPatch) -> tuple[MultiLabelDataset, MultiLabelFitResult]:
    dataset, result, home = trained
    monkeypatch.setenv("CHEETAHLION_HOME", str(home))
    return dataset, result


def test_the_run_is_recorded_with_its_labels_and_figures(
        history: tuple[MultiLabelDataset, MultiLabelFitResult]) -> None:
    dataset, result = history
    [record] = runs.list_runs(dataset.root)
    assert record.run_id == result.run_id and record.task == "multi-label"
    assert record.is_multilabel and record.classes == LABELS
    assert record.label_counts == dataset.label_counts == {"blue": 14, "green": 1, "red": 15}
    assert record.image_count == COUNT and record.data_used == str(COUNT)
    assert record.class_counts is None and record.baseline_accuracy is None
    assert record.val_map == pytest.approx(result.val_map)
    assert record.val_macro_f1 == pytest.approx(result.val_macro_f1)
    assert record.val_exact_match == pytest.approx(result.val_exact_match)
    assert len(record.epochs) == len(result.history) and record.best_epoch == result.best_epoch
    assert record.best_val_accuracy == result.history[result.best_epoch - 1].val_accuracy
    assert record.model_path == str(Path(result.model_path).absolute())
    assert record.model_file and record.model_note is None  # its model opens
    assert record.split == {"source": "seeded", "seed": 0, "train": 24, "val": 6, "test": 0}
    stored = json.loads((runs.run_folder(dataset.root, result.run_id) / "run.json").read_text())
    assert stored["record_version"] == RECORD_VERSION >= 6 and stored["task"] == "multi-label"
    assert result.warnings == ()


def test_cli_runs_lists_it_with_its_map(
        history: tuple[MultiLabelDataset, MultiLabelFitResult],
        capsys: pytest.CaptureFixture[str]) -> None:
    dataset, result = history
    assert cli_main(["runs", str(dataset.root)]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{result.run_id}  quick ")
    assert f"{COUNT} images" in line and f"val mAP {result.val_map:.3f}" in line
    assert "val acc" not in line
    assert cli_main(["runs", str(dataset.root), "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["task"] == "multi-label" and listed["classes"] == list(LABELS)
    assert listed["val_macro_f1"] == pytest.approx(result.val_macro_f1)


def test_a_full_disk_costs_the_history_entry_not_the_run(
        history: tuple[MultiLabelDataset, MultiLabelFitResult],
        monkeypatch: pytest.MonkeyPatch) -> None:
    dataset, result = history

    def full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runs, "write_atomically", full)
    again = replace(result, run_id="20260101-000000-abcdef")
    record, [warning] = record_multilabel_run(CONFIG, dataset, patch_split(COUNT), again, "cpu")
    assert record is None
    assert warning.startswith("The run could not be added to the history (No space left on "
                              "device, in ")
    assert warning.endswith("): free some space there. The model itself was saved.")
    assert not runs.run_folder(dataset.root, again.run_id).exists()  # no empty folder left


def test_a_run_cancelled_before_its_first_epoch_has_no_figures(
        history: tuple[MultiLabelDataset, MultiLabelFitResult]) -> None:
    dataset, result = history
    cancelled = replace(result, history=(), best_epoch=0, validation=None, model_path=None,
                        model=None, thresholds=(), stopped="cancelled")
    record = multilabel_record(CONFIG, dataset, patch_split(COUNT), cancelled, "cpu")
    assert record.val_map is None and record.val_exact_match is None
    assert record.best_val_loss is None and record.model_path is None
    assert RunRecord.from_dict(json.loads(json.dumps(asdict(record)))) == record


def test_records_written_before_multi_label_still_load() -> None:
    """A version-5 record (no `task`, no multi-label fields) is a single-label run."""
    old = {"record_version": 5, "run_id": "r", "created": "2026-01-01T10:00:00",
           "dataset_root": "/d", "dataset_fingerprint": "f", "classes": ["a", "b"],
           "config": {"mode": "quick"}, "device": "cpu", "split": {}, "epochs": [],
           "step_losses": [], "best_epoch": 0, "best_val_loss": None,
           "best_val_accuracy": 0.0, "baseline_accuracy": None, "stopped": "cancelled",
           "seconds": 1.0, "model_path": None, "versions": {}, "class_counts": {"a": 2, "b": 3}}
    record = RunRecord.from_dict(old)
    assert record.task == "single-label" and not record.is_multilabel
    assert record.images == 5 and record.label_counts is None and record.val_map is None
