"""`cheetahlion-cli` as a user runs it: one-line errors, JSON, CSV, real exit codes."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from synthetic import make_dataset

from training.cli import main
from training.fitting.modelfile import read_metadata


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("cli") / "colours", per_class=8)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_scan_json(capsys, data: Path) -> None:
    code, out, _ = _run(capsys, "scan", str(data), "--json")
    report = json.loads(out)
    assert code == 0 and report["classes"] == {"blue": 8, "red": 8} and report["can_train"]
    assert report["split"]["train"] + report["split"]["val"] == 16


def test_missing_dataset_is_one_line_and_exit_1(capsys, tmp_path: Path) -> None:
    code, out, err = _run(capsys, "scan", str(tmp_path / "nowhere"))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "does not exist" in err and "Traceback" not in err


def test_train_predict_evaluate_runs(capsys, data: Path, tmp_path: Path) -> None:
    model = tmp_path / "m.safetensors"
    code, out, _ = _run(capsys, "train", str(data), "-o", str(model), "--epochs", "5",
                        "--image-size", "64", "--quiet")
    assert code == 0 and model.exists() and "validation accuracy" in out
    assert "\nFrozen network: " in out and " · float\n" in out  # the CLI's default precision
    assert read_metadata(model)["frozen_features"]["precision"] == "float"
    assert out.startswith(("finished all 5 epochs: ", "stopped early after epoch")), out

    broken = data.parent / "gallery"
    broken.mkdir()
    (broken / "broken.jpg").write_bytes(b"\xff\xd8\xff nope")
    for image in sorted((data / "red").iterdir())[:3]:
        (broken / image.name).write_bytes(image.read_bytes())
    out_csv = tmp_path / "out.csv"
    code, out, err = _run(capsys, "predict", str(model), str(broken), "--csv", str(out_csv),
                          "--quiet")
    assert code == 0 and "3 classified, 1 could not be read" in err
    last = err.rstrip().splitlines()[-1]  # float, as the model was trained: not mixed
    assert last.startswith("Frozen network: ") and last.endswith((" · float", "float features)"))
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["path"].rsplit("/", 1)[1] for r in rows] == ["0.png", "1.png", "2.png", "broken.jpg"]
    assert all(r["label"] == "red" for r in rows[:3]) and rows[3]["error"]
    assert set(rows[0]) == {"path", "label", "confidence", "error", "novelty", "none_of_these",
                            "unsure", "blue", "red"}
    assert [r["unsure"] for r in rows] == ["0", "0", "0", ""]  # the model has no thresholds

    code, out, _ = _run(capsys, "evaluate", str(model), str(data), "--json", "--quiet")
    report = json.loads(out)
    assert code == 0 and report["accuracy"] == 1.0 and len(report["confusion"]) == 2
    assert (report["frozen"]["precision"], report["frozen"]["trained_precision"],
            report["frozen"]["mixed"]) == ("float", "float", False)

    code, out, _ = _run(capsys, "runs", str(data), "--json")
    assert code == 0 and len(json.loads(out)) >= 1
    code, out, _ = _run(capsys, "runs", str(data))
    images = sum(1 for path in data.rglob("*.png"))
    assert code == 0 and f" {images} images " in out.splitlines()[-1]


def test_a_pickle_model_file_is_refused_in_one_line(capsys, tmp_path: Path, data: Path) -> None:
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(b"\x80\x04\x95 pickle")
    code, _, err = _run(capsys, "predict", str(evil), str(data))
    assert code == 1 and "not a CheetahLion model file" in err and "Traceback" not in err


def test_baseline_without_imagenet_names_explains(capsys, data: Path) -> None:
    code, _, err = _run(capsys, "baseline", str(data), "--quiet")
    assert code == 1 and "not every class folder is named after an ImageNet category" in err


def test_bad_setting_is_a_user_error(capsys, data: Path, tmp_path: Path) -> None:
    code, _, err = _run(capsys, "train", str(data), "-o", str(tmp_path / "m"), "--epochs", "0")
    assert code == 1 and "epochs must be 1 to 10000" in err


@pytest.mark.real_photos
@pytest.mark.slow
def test_new_user_workflow_on_real_photos(real_photos: Path, tmp_path: Path) -> None:
    """`cheetahlion-cli train DATA -o m.safetensors && cheetahlion-cli predict m … --csv`."""
    cli = [sys.executable, "-m", "training.cli"]
    model = tmp_path / "m.safetensors"
    subprocess.run([*cli, "train", str(real_photos), "-o", str(model)], check=True,
                   capture_output=True, cwd=tmp_path)
    out_csv = tmp_path / "out.csv"
    done = subprocess.run([*cli, "predict", str(model), str(real_photos / "lion"), "--csv",
                           str(out_csv)], check=True, capture_output=True, text=True,
                          cwd=tmp_path)
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 150 and "150 classified, 0 could not be read" in done.stderr
    assert sum(r["label"] == "lion" for r in rows) >= 140
