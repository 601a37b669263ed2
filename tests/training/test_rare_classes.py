"""A rare class is not sacrificed: logit adjustment on data whose answer is known.

Three Gaussian classes in feature space (`tests/synthetic.py`), the third one 20 times rarer
in training: a head trained as usual calls most of its photos one of the common classes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from synthetic import RARE_CLASSES, make_rare_feature_dataset, rare_features, store_rare_features

from training.cli import main
from training.fitting.rare_classes import (
    adjust,
    balanced_accuracy,
    choose_tau,
    class_recalls,
    fold_into_bias,
    log_priors,
)
from training.predict.evaluation import summarize
from training.records.evaluation import TOO_FEW_TO_TRUST, small_class_note
from training.records.predictions import Prediction
from training.records.run_record import RunRecord

WIDTH = 64


def _features(counts: tuple[int, int, int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    labels = np.repeat(np.arange(3), counts)
    return (torch.from_numpy(rare_features(labels, seed, WIDTH)),
            torch.from_numpy(labels).long())


def _plain_head(features: torch.Tensor, labels: torch.Tensor) -> torch.nn.Linear:
    """A linear head trained the usual way: unweighted cross-entropy, to convergence."""
    torch.manual_seed(0)
    head = torch.nn.Linear(features.shape[1], 3)
    optimizer = torch.optim.AdamW(head.parameters(), lr=0.05, weight_decay=1e-2)
    for _ in range(300):
        loss = torch.nn.functional.cross_entropy(head(features), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return head


def test_the_adjustment_raises_the_rare_class_on_held_out_points() -> None:
    train, train_labels = _features((100, 100, 5), seed=1)
    val, val_labels = _features((30, 30, 30), seed=2)
    test, test_labels = _features((300, 300, 300), seed=3)
    head = _plain_head(train, train_labels)
    log_prior = log_priors(train_labels, 3)
    with torch.no_grad():
        tau = choose_tau(head(val), val_labels, log_prior)
        before = head(test).argmax(1)
        after = adjust(head(test), tau, log_prior).argmax(1)
    assert tau > 0
    rare_before = class_recalls(before, test_labels, 3)[2]
    rare_after = class_recalls(after, test_labels, 3)[2]
    assert rare_after > rare_before + 0.4, (rare_before, rare_after)  # measured 0.23 → 0.77
    assert balanced_accuracy(after, test_labels, 3) > \
        balanced_accuracy(before, test_labels, 3) + 0.05  # 0.640 → 0.728
    common_after = class_recalls(after, test_labels, 3)[:2]
    common_before = class_recalls(before, test_labels, 3)[:2]
    # the price: the common classes lose some recall, not much (0.81 → 0.58, 0.88 → 0.83)
    assert all(a > b - 0.25 for a, b in zip(common_after, common_before, strict=True))


def test_balanced_classes_keep_tau_zero() -> None:
    train, train_labels = _features((60, 60, 60), seed=4)
    val, val_labels = _features((20, 20, 20), seed=5)
    head = _plain_head(train, train_labels)
    with torch.no_grad():
        assert choose_tau(head(val), val_labels, log_priors(train_labels, 3)) == 0.0


def test_the_bias_fold_gives_the_explicit_adjustment() -> None:
    features, labels = _features((50, 50, 3), seed=6)
    head = _plain_head(features, labels)
    log_prior = log_priors(labels, 3)
    with torch.no_grad():
        explicit = adjust(head(features), 1.25, log_prior)
        fold_into_bias(head, 1.25, log_prior)
        folded = head(features)
    assert torch.equal(folded.argmax(1), explicit.argmax(1))
    assert torch.allclose(folded, explicit, atol=1e-5)


def test_evaluation_reports_balanced_accuracy_and_small_classes() -> None:
    classes = ("common", "rare")
    truth = [0] * 18 + [1] * 2
    said = ["common"] * 18 + ["common", "rare"]
    predictions = [Prediction(f"{i}.png", label, 0.9, (0.9, 0.1) if label == "common"
                              else (0.1, 0.9)) for i, label in enumerate(said)]
    report = summarize(classes, truth, predictions)
    assert report.accuracy == pytest.approx(0.95)
    assert report.balanced_accuracy == pytest.approx(0.75)  # (18/18 + 1/2) / 2
    note = small_class_note(report.support)
    assert note is not None and "rare (2 photos: one photo moves it by 50 %)" in note
    assert "common" not in note
    assert small_class_note({"a": TOO_FEW_TO_TRUST}) is None


def test_records_before_version_7_still_load() -> None:
    old = {"run_id": "r", "created": "2026-01-01T10:00:00", "dataset_root": "/d",
           "dataset_fingerprint": "f", "classes": ["a", "b"], "config": {}, "device": "cpu",
           "split": {}, "epochs": [], "step_losses": [], "best_epoch": 0, "best_val_loss": None,
           "best_val_accuracy": 0.0, "baseline_accuracy": None, "stopped": "completed",
           "seconds": 1.0, "model_path": None, "versions": {}, "record_version": 6}
    record = RunRecord.from_dict(old)
    assert record.val_balanced_accuracy is None and record.val_recall is None


@pytest.fixture(scope="module")
def rare_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1:20 in training (100, 100, 5), with only 6 rare photos in validation (their
    features go into each test's own feature store: `store_rare_features`)."""
    return make_rare_feature_dataset(tmp_path_factory.mktemp("rare") / "rare", {
        "train": {"common_a": 100, "common_b": 100, "rare": 5},
        "val": {"common_a": 30, "common_b": 30, "rare": 6}})


def test_train_json_and_record_show_the_balanced_scores(capsys, rare_data: Path,
                                                        tmp_path: Path) -> None:
    """A quick run on features whose answer is known adjusts for the rare class, and says
    so with the balanced accuracy and each class's recall in its JSON and its record."""
    from training.data.scanning import scan_dataset
    from training.fitting.modelfile import read_metadata
    from training.records.runs import list_runs

    store_rare_features(scan_dataset(rare_data))
    model = tmp_path / "m.safetensors"
    assert main(["train", str(rare_data), "-o", str(model), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["logit_adjustment"] > 0
    assert set(summary["val_recall"]) == set(RARE_CLASSES)
    recalls = summary["val_recall"]
    assert summary["val_balanced_accuracy"] == pytest.approx(sum(recalls.values()) / 3)
    assert summary["val_support"] == {"common_a": 30, "common_b": 30, "rare": 6}
    record = list_runs(rare_data)[-1]
    assert record.val_balanced_accuracy == pytest.approx(summary["val_balanced_accuracy"])
    assert record.logit_adjustment == summary["logit_adjustment"]
    assert "rare (6 photos" in (small_class_note(record.val_support or {}) or "")
    metrics = read_metadata(model)["metrics"]
    assert metrics["logit_adjustment"] == summary["logit_adjustment"]

    assert main(["evaluate", str(model), str(rare_data), "--quiet"]) == 0
    printed = capsys.readouterr().out
    balanced = f"balanced accuracy {summary['val_balanced_accuracy']:.3f} on 66 images"
    assert balanced in printed, printed  # the saved model scores as its run said
    assert "Too few validation photos to trust the recall of rare (6 photos" in printed

    assert main(["runs", str(rare_data)]) == 0
    listed = capsys.readouterr().out.splitlines()[-1]
    assert f"bal {summary['val_balanced_accuracy']:.3f}" in listed, listed
