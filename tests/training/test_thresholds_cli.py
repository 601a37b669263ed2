"""`cheetahlion-cli thresholds` sets and clears a model's per-class thresholds; `predict`
and `evaluate` apply them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from training.cli import main
from training.fitting.modelfile import read_metadata


@pytest.fixture
def model(colours_model: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(colours_model, tmp_path / "colours.safetensors"))


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_set_and_clear(capsys, model: Path) -> None:
    code, out, _ = _run(capsys, "thresholds", str(model))
    assert code == 0 and "no per-class thresholds" in out
    code, out, _ = _run(capsys, "thresholds", str(model), "--set", "red=0.8",
                        "--set", "blue=0.6")
    assert code == 0 and "red\t0.8" in out and "blue\t0.6" in out
    assert read_metadata(model)["class_thresholds"] == {"red": 0.8, "blue": 0.6}
    code, out, _ = _run(capsys, "thresholds", str(model), "--set", "blue=none", "--json")
    assert json.loads(out)["thresholds"] == {"red": 0.8}
    code, out, _ = _run(capsys, "thresholds", str(model), "--clear")
    assert code == 0 and "now has no per-class thresholds" in out
    assert "class_thresholds" not in read_metadata(model)


def test_a_wrong_setting_is_one_line_and_changes_nothing(capsys, model: Path) -> None:
    before = model.read_bytes()
    code, out, err = _run(capsys, "thresholds", str(model), "--set", "lion=0.8")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "no class 'lion'" in err and "blue, red" in err
    assert model.read_bytes() == before


def test_predict_and_evaluate_apply_them(capsys, model: Path, colours_model: Path) -> None:
    data = colours_model.parent / "colours"
    _run(capsys, "thresholds", str(model), "--set", "red=1.0")  # no red photo reaches it
    code, out, err = _run(capsys, "predict", str(model), str(data / "red"), "--json",
                          "--quiet", "--unfamiliar-percentile", "100")
    rows = json.loads(out)
    assert code == 0 and rows
    for row in rows:
        assert row["label"] == "red"  # the closest class, never another one
        assert row["unsure"] == (not row["none_of_these"]) and row["threshold"] == 1.0
    code, out, err = _run(capsys, "predict", str(model), str(data / "red" / "0.png"),
                          "--quiet", "--unfamiliar-percentile", "100",
                          "--sort-into", str(model.parent / "sorted"))
    assert "\tunsure\t" in out and "below red's threshold 1\n" in out
    assert "1 unsure (below their class's threshold)" in err
    assert (model.parent / "sorted" / "unsure" / "0.png").is_file()
    code, out, _ = _run(capsys, "evaluate", str(model), str(data), "--quiet")
    assert code == 0 and "at the model's thresholds" in out
    table = out.split("at the model's thresholds")[1].splitlines()
    red_row = next(line.split() for line in table if line.startswith("red "))
    assert red_row[1:4] == ["1", "-", "0.000"]  # nothing given red: no precision, recall 0
    assert int(red_row[4]) >= 1
