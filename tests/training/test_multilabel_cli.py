"""`cheetahlion-cli` with a multi-label dataset: train --json, evaluate, predict with a CSV
and copies into every label's folder.

The folder's labels.csv is read by the real data layer (`scan_multilabel`, then
`split_multilabel`'s seeded split).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from multilabel_synthetic import LABELS, make_patch_dataset

from training.cli.commands import main
from training.records.multilabel import MultiLabelDataset, is_unsure
from training.records.multilabel_calibration import chance_wrong


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([*argv])
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def patches(tmp_path_factory: pytest.TempPathFactory) -> MultiLabelDataset:
    dataset = make_patch_dataset(tmp_path_factory.mktemp("cli-patches") / "photos")
    rows = ["path,labels"] + [f"{image.relpath},{';'.join(LABELS[j] for j in image.labels)}"
                              for image in dataset.images]
    (dataset.root / "labels.csv").write_text("\n".join(rows) + "\n")
    return dataset


@pytest.fixture(scope="module")
def trained(patches: MultiLabelDataset, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[Path, dict[str, Any]]:
    model = tmp_path_factory.mktemp("cli-model") / "patches.safetensors"
    status, out, err = _run("train", str(patches.root), "-o", str(model), "--json")
    assert status == 0, err
    return model, json.loads(out)


def test_train_json_carries_the_multilabel_figures(trained: tuple[Path, dict[str, Any]]
                                                   ) -> None:
    model, summary = trained
    assert summary["task"] == "multi-label" and summary["model"] == str(model)
    assert summary["val_map"] >= 0.9 and summary["val_macro_f1"] >= 0.9
    assert 0 <= summary["val_exact_match"] <= 1
    assert set(summary["thresholds"]) == set(LABELS)
    assert 0 <= summary["ece_after"] <= 1 and 0 <= summary["ece_before"] <= 1
    assert set(summary["temperatures"]) == set(LABELS)
    assert summary["temperatures"]["green"] == 1.0  # one validation positive: too few


def test_predict_honours_a_stated_chance_of_being_wrong(
        trained: tuple[Path, dict[str, Any]], patches: MultiLabelDataset) -> None:
    """With --unsure-chance, a label is unsure when its chance of being on the wrong side
    of its threshold (1 − p when given, p when not) is over the stated chance."""
    model, summary = trained
    photos = [str(image.path) for image in patches.images[:40]]
    thresholds = summary["thresholds"]
    counts = []
    for chance in (1.0, 30.0):
        status, out, err = _run("predict", str(model), *photos, "--json", "--quiet",
                                "--unsure-chance", str(chance))
        assert status == 0, err
        rows = json.loads(out)
        for row in rows:
            expected = {name for name in LABELS
                        if chance_wrong(row["probabilities"][name], thresholds[name])
                        > chance / 100}
            assert {entry.split()[0] for entry in row["unsure_labels"]} == expected
            assert row["unsure"] == bool(expected)
        counts.append(sum(row["unsure"] for row in rows))
        assert (f"({counts[-1]} unsure: a label over {chance:g} % chance of being on the "
                "wrong side of its threshold)") in err
    assert counts[0] > counts[1]  # a smaller chance of being wrong tolerated: more unsure


def test_evaluate_finds_a_multilabel_model(trained: tuple[Path, dict[str, Any]],
                                           patches: MultiLabelDataset) -> None:
    model, summary = trained
    status, out, _ = _run("evaluate", str(model), str(patches.root), "--json")
    assert status == 0
    report = json.loads(out)
    assert report["map"] == pytest.approx(summary["val_map"], abs=1e-4)
    assert [s["name"] for s in report["per_label"]] == list(LABELS)
    assert 0 <= report["ece"] <= 1 and report["calibration"]["labels"][1]["name"] == "green"
    status, text, _ = _run("evaluate", str(model), str(patches.root))
    assert status == 0 and "mAP" in text and "exact match" in text
    assert "calibration: ECE" in text and "model file: temperature per label" in text


def test_predict_writes_the_csv_and_copies_into_every_label(
        trained: tuple[Path, dict[str, Any]], patches: MultiLabelDataset, tmp_path: Path
) -> None:
    model, summary = trained
    photos = [patches.images[i].path for i in (0, 1, 2, 3, 21)]  # none, red, blue, both, +green
    before = {path: path.read_bytes() for path in photos}
    results, sorted_into = tmp_path / "out.csv", tmp_path / "sorted"
    status, _, err = _run("predict", str(model), *map(str, photos), "--csv", str(results),
                          "--sort-into", str(sorted_into), "--quiet")
    assert status == 0, err
    rows = list(csv.reader(results.open()))
    assert rows[0] == ["path", "labels", *LABELS]
    thresholds = summary["thresholds"]
    for row in rows[1:]:  # the CSV's probabilities are rounded to 6 decimals
        probabilities = dict(zip(LABELS, map(float, row[2:]), strict=True))
        given = set(row[1].split(";")) - {""}
        for name in LABELS:
            if abs(probabilities[name] - thresholds[name]) > 1e-6:
                assert (name in given) == (probabilities[name] >= thresholds[name]), row
    labelled = {Path(row[0]).name: row[1].split(";") if row[1] else [] for row in rows[1:]}
    assert any(len(labels) > 1 for labels in labelled.values()), labelled
    for name, labels in labelled.items():
        for label in labels or ["none of these"]:
            assert (sorted_into / label / name).read_bytes() == (patches.root / name).read_bytes()
    assert {path: path.read_bytes() for path in photos} == before  # copied, never moved


def test_predict_json_says_which_photos_are_unsure_by_the_apps_rule(
        trained: tuple[Path, dict[str, Any]], patches: MultiLabelDataset) -> None:
    model, summary = trained
    photos = [str(patches.images[i].path) for i in (0, 1, 3, 21)]
    status, out, err = _run("predict", str(model), *photos, "--json", "--quiet")
    assert status == 0, err
    thresholds = [summary["thresholds"][name] for name in LABELS]
    found = {row["path"]: row for row in json.loads(out)}
    expected = {path for path, row in found.items()
                if is_unsure([row["probabilities"][name] for name in LABELS], thresholds)}
    assert {path for path, row in found.items() if row["unsure"]} == expected
    assert f"4 labelled ({len(expected)} unsure: a label near its threshold)" in err


def test_predict_refuses_to_move_with_a_multilabel_model(trained: tuple[Path, dict[str, Any]],
                                                         patches: MultiLabelDataset,
                                                         tmp_path: Path) -> None:
    status, _, err = _run("predict", str(trained[0]), str(patches.images[0].path),
                          "--sort-into", str(tmp_path / "s"), "--move", "--quiet")
    assert status == 1 and "--move does not go with a multi-label model" in err
    assert patches.images[0].path.exists()


def test_train_finetune_json_carries_the_figures(patches: MultiLabelDataset,
                                                 tmp_path: Path) -> None:
    """--mode finetune trains the whole network (one epoch at 64 pixels here); --json says
    so, with the validation mAP and macro-F1 of the model kept."""
    model = tmp_path / "finetuned.safetensors"
    status, out, err = _run("train", str(patches.root), "-o", str(model), "--mode",
                            "finetune", "--epochs", "1", "--image-size", "64", "--json")
    assert status == 0, err
    summary = json.loads(out)
    assert summary["task"] == "multi-label" and summary["mode"] == "finetune"
    assert summary["model"] == str(model) and model.is_file()
    assert summary["val_map"] >= 0.9 and summary["val_macro_f1"] >= 0.8
    assert isinstance(summary["kept_quick_head"], bool)


def test_train_refuses_to_resume_a_multilabel_run_in_one_line(patches: MultiLabelDataset,
                                                              tmp_path: Path) -> None:
    status, _, err = _run("train", str(patches.root), "-o", str(tmp_path / "m"),
                          "--mode", "finetune", "--resume", "20260101-000000-abcdef", "--quiet")
    assert status == 1 and "a multi-label run keeps no checkpoint" in err
    assert len(err.strip().splitlines()) == 1


def test_train_with_the_real_data_layer(patches: MultiLabelDataset, tmp_path: Path) -> None:
    status, out, err = _run("train", str(patches.root), "-o", str(tmp_path / "m"), "--json",
                            "--multi-label")
    assert status == 0, err
    summary = json.loads(out)
    assert summary["task"] == "multi-label" and summary["val_map"] >= 0.8
