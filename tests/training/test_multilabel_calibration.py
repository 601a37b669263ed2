"""Multi-label calibration on logits whose right temperatures are known (a head made over-
confident by a known factor): a temperature per label, decisions unchanged, the labels
validation cannot judge left alone, and the header's record."""

from __future__ import annotations

import pytest
import torch
from multilabel_synthetic import known_logits

from training.fitting.multilabel_calibration import (
    MIN_EACH,
    calibrate_head,
    calibrated_thresholds,
    fit_label_temperatures,
)
from training.fitting.multilabel_metrics import best_thresholds
from training.records.calibration import CALIBRATED, FITTED, NO_MISTAKES, TOO_FEW
from training.records.multilabel_calibration import MultiLabelCalibration, pooled_reliability

NAMES = ("overconfident", "calibrated", "rare")


def test_an_overconfident_label_gets_its_factor_as_temperature() -> None:
    logits, targets = known_logits(600, (5.0, 1.0, 0.5))
    calibration = fit_label_temperatures(NAMES, logits, targets)
    over, right, under = calibration.labels
    assert over.rule == FITTED and over.temperature == pytest.approx(5.0, rel=0.2)
    assert under.rule == FITTED and under.temperature == pytest.approx(0.5, rel=0.2)
    # calibrated as drawn: no evidence for another T, so it stays 1
    assert right.rule == CALIBRATED and right.temperature == 1.0
    assert over.ece_after < over.ece_before / 2
    assert calibration.ece_after < calibration.ece_before
    scale = torch.tensor([1 / t for t in calibration.temperatures], dtype=torch.float64)
    pooled = pooled_reliability(torch.sigmoid(logits * scale).numpy(), targets.numpy())
    assert calibration.ece_after == pytest.approx(pooled.ece)


def test_a_label_with_too_few_positives_keeps_its_logits() -> None:
    logits, targets = known_logits(300, (5.0, 5.0, 5.0), positives=(1000, 1000, MIN_EACH - 1))
    calibration = fit_label_temperatures(NAMES, logits, targets)
    assert [label.rule for label in calibration.labels] == [FITTED, FITTED, TOO_FEW]
    assert calibration.labels[2].temperature == 1.0
    assert calibration.labels[2].positives == MIN_EACH - 1
    assert calibration.labels[0].temperature > 3


def test_decisions_are_the_same_after_calibration() -> None:
    """Thresholds chosen on the uncalibrated probabilities, moved with the temperatures:
    every photo, validation or not, gets the same labels from the calibrated head."""
    torch.manual_seed(0)
    head = torch.nn.Linear(16, 3)
    with torch.no_grad():
        head.weight.mul_(torch.tensor([[8.0], [3.0], [0.3]]))
    val_x, new_x = torch.randn(200, 16), torch.randn(500, 16)
    with torch.no_grad():
        logits = head(val_x)
    targets = (torch.rand(200, 3) < torch.sigmoid(logits / torch.tensor([8.0, 3.0, 0.3]))
               ).float()
    thresholds = best_thresholds(torch.sigmoid(logits).numpy(), targets.numpy())
    with torch.no_grad():
        before = torch.sigmoid(head(torch.cat([val_x, new_x]))) >= torch.tensor(thresholds)
    calibration, moved, probabilities = calibrate_head(head, NAMES, logits, targets, thresholds)
    assert all(label.temperature != 1.0 for label in calibration.labels)
    with torch.no_grad():
        after = torch.sigmoid(head(torch.cat([val_x, new_x]))) >= torch.tensor(moved)
    assert torch.equal(before, after)
    assert torch.equal(torch.from_numpy(probabilities >= moved), after[:200])


def test_thresholds_move_monotonically() -> None:
    moved = calibrated_thresholds((0.5, 0.9, 0.1), (4.0, 1.0, 2.0))
    assert moved == pytest.approx((0.5, 0.9, 1 / (1 + 9 ** 0.5)), abs=1e-4)
    assert moved[0] < 0.5 and moved[1] == 0.9  # just under: a photo on it keeps its label


def test_a_label_without_mistakes_is_not_sent_to_certainty() -> None:
    logits = torch.tensor([[8.0], [9.0], [-7.0], [-10.0]] * 10)
    targets = (logits > 0).double()
    label = fit_label_temperatures(("sure",), logits, targets).labels[0]
    assert label.rule == NO_MISTAKES
    probabilities = torch.sigmoid(logits.double() / label.temperature)
    confidence = torch.maximum(probabilities, 1 - probabilities).mean().item()
    assert confidence == pytest.approx(41 / 42, abs=1e-6)


def test_the_record_round_trips_and_refuses_bad_fields() -> None:
    logits, targets = known_logits(300, (3.0, 1.0, 1.0))
    calibration = fit_label_temperatures(NAMES, logits, targets)
    data = calibration.to_dict()
    assert MultiLabelCalibration.from_dict(data, NAMES) == calibration
    assert "overconfident" in calibration.describe()
    with pytest.raises(ValueError, match="labels in their order"):
        MultiLabelCalibration.from_dict(data, tuple(reversed(NAMES)))
    data["labels"][0]["temperature"] = -1
    with pytest.raises(ValueError, match="overconfident: temperature"):
        MultiLabelCalibration.from_dict(data)
