"""Calibrated confidence (issue 24): the temperature fitted on synthetic logits whose answer
is known, its rules where validation cannot say, folding it into the classifier, the ECE
and its bins, and the model file's header with and without it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from training.core.errors import ModelFileError
from training.fitting.calibration import (
    MIN_IMAGES,
    calibrate_network,
    fit_temperature,
    fold_temperature,
)
from training.fitting.modelfile import TrainedModel, load_model, save_model
from training.models.frozen import weights_digest
from training.models.networks import create_network
from training.records.backbones import get_backbone
from training.records.calibration import (
    BINS,
    CALIBRATED,
    FITTED,
    NO_MISTAKES,
    TOO_FEW,
    ModelCalibration,
    calibrated_chance,
    calibrated_eces,
    ece_floor,
    expected_calibration_error,
    is_unsure,
    reliability,
)


def _known_set(scale: float, images: int = 6000, classes: int = 4, seed: int = 0
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels drawn from softmax(z), so z is perfectly calibrated; the logits given are
    `scale` · z (scale 3: overconfident, and the temperature that undoes it is 3)."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(images, classes, generator=generator, dtype=torch.float64) * 1.5
    labels = torch.multinomial(z.softmax(1), 1, generator=generator).squeeze(1)
    return (scale * z).float(), labels


def test_an_overconfident_set_gets_its_known_temperature_and_a_small_ece() -> None:
    logits, labels = _known_set(3.0)
    calibration = fit_temperature(logits, labels)
    assert calibration.rule == FITTED
    assert calibration.temperature == pytest.approx(3.0, rel=0.08)
    assert calibration.ece_before > 0.1
    assert calibration.ece_after < 0.03


def test_an_underconfident_set_is_sharpened() -> None:
    logits, labels = _known_set(0.5)
    calibration = fit_temperature(logits, labels)
    assert calibration.temperature == pytest.approx(0.5, rel=0.08)
    assert calibration.ece_after < 0.03 < calibration.ece_before


def test_an_already_calibrated_set_keeps_a_temperature_of_one() -> None:
    logits, labels = _known_set(1.0, seed=1)
    calibration = fit_temperature(logits, labels)
    assert calibration.temperature == pytest.approx(1.0, abs=0.08)
    assert calibration.ece_after < 0.03


@pytest.mark.parametrize("seed", range(5))
def test_a_small_calibrated_set_is_left_alone(seed: int) -> None:
    """60 images drawn from calibrated probabilities: a T fitted to them is noise, and the
    likelihood-ratio test keeps T = 1 exactly; the same 60 at 3 × z still get T fitted."""
    logits, labels = _known_set(1.0, images=60, seed=seed)
    calibration = fit_temperature(logits, labels)
    assert (calibration.temperature, calibration.rule) == (1.0, CALIBRATED)
    assert calibration.ece_after == calibration.ece_before
    assert fit_temperature(logits * 3, labels).rule == FITTED


def test_too_few_validation_images_leave_the_model_as_trained() -> None:
    logits, labels = _known_set(3.0, images=MIN_IMAGES - 1)
    calibration = fit_temperature(logits, labels)
    assert (calibration.temperature, calibration.rule) == (1.0, TOO_FEW)


def test_no_mistakes_give_the_confidence_that_count_supports() -> None:
    """All 54 right: not 100 % (the NLL's answer), but Laplace's (n + 1) / (n + 2)."""
    generator = torch.Generator().manual_seed(2)
    labels = torch.arange(54) % 2
    logits = torch.randn(54, 2, generator=generator)
    logits[torch.arange(54), labels] += 6.0  # every one right, most near 100 %
    calibration = fit_temperature(logits, labels)
    assert calibration.rule == NO_MISTAKES
    mean = (logits / calibration.temperature).softmax(1).max(1).values.mean().item()
    assert mean == pytest.approx(55 / 56, abs=1e-6)


def test_folding_gives_the_probabilities_of_dividing_and_the_same_labels() -> None:
    torch.manual_seed(0)
    classifier = torch.nn.Linear(16, 3)
    features = torch.randn(200, 16)
    with torch.no_grad():
        divided = (classifier(features) / 2.5).softmax(1)
        labels = classifier(features).argmax(1)
    fold_temperature(classifier, 2.5)
    with torch.no_grad():
        folded = classifier(features).softmax(1)
    assert torch.allclose(folded, divided, atol=1e-6)
    assert torch.equal(folded.argmax(1), labels)


def test_calibrating_a_network_folds_into_its_classifier_only() -> None:
    backbone = get_backbone("efficientnet_lite0")
    network = create_network(backbone, num_classes=4).eval()
    torch.nn.init.normal_(network.get_classifier().bias)
    before = {k: v.clone() for k, v in network.state_dict().items()}
    logits, labels = _known_set(1.0, images=500)
    classifier = network.get_classifier()
    with torch.no_grad():  # features whose logits under this classifier are 3 · z
        features = torch.linalg.lstsq(classifier.weight,
                                      (3 * logits - classifier.bias).T).solution.T
    digest = weights_digest(network)  # the feature store's key: features, not logits
    calibration = calibrate_network(network, features, labels)
    assert calibration.temperature == pytest.approx(3.0, rel=0.25)
    changed = {k for k, v in network.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"classifier.weight", "classifier.bias"}
    assert weights_digest(network) == digest  # "none of these" and stored features unchanged


def test_ece_and_bins_of_a_known_case() -> None:
    confidences = [0.95] * 10 + [0.55] * 10
    correct = [True] * 5 + [False] * 5 + [True] * 10
    result = reliability(confidences, correct)
    assert len(result.bins) == BINS and result.images == 20
    # 0.95 said, 0.5 right; 0.55 said, 1.0 right: |0.45| and |0.45|, each half the images
    assert result.ece == pytest.approx(0.45)
    full = [b for b in result.bins if b.count]
    assert [(b.count, round(b.accuracy, 3)) for b in full] == [(10, 1.0), (10, 0.5)]
    assert reliability([1.0, 1.0], [True, True]).bins[-1].count == 2  # 1.0 in the last bin
    assert expected_calibration_error([], []) == 0.0


def test_the_ece_of_calibrated_draws_is_small() -> None:
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.5, 1.0, 20_000)
    assert expected_calibration_error(confidence, rng.uniform(size=20_000) < confidence) < 0.01


def _binomial_gap(images: int, chance: float) -> float:
    """E|right / images − chance| for right ~ Binomial(images, chance), exactly."""
    return sum(math.comb(images, k) * chance ** k * (1 - chance) ** (images - k)
               * abs(k / images - chance) for k in range(images + 1))


@pytest.mark.parametrize("images", [100, 400])
def test_the_ece_floor_is_a_calibrated_models_sampling_bias(images: int) -> None:
    """Every confidence 0.9 falls in one bin, so a calibrated model's ECE is |share right −
    0.9| with the share binomial: its mean is known exactly (0.024 on 100, 0.012 on 400)."""
    floor = ece_floor([0.9] * images)
    assert floor == pytest.approx(_binomial_gap(images, 0.9), rel=0.1)
    assert ece_floor([0.9] * images) == floor  # seeded: the same confidences, the same floor


def test_calibrated_draws_are_scored_as_the_ece_scores_them() -> None:
    confidence = np.random.default_rng(4).uniform(0.4, 1.0, 150)
    first = np.random.default_rng(0).uniform(size=(1, 150))[0] < confidence
    assert calibrated_eces(confidence, draws=3)[0] == pytest.approx(
        expected_calibration_error(confidence, first), abs=1e-12)
    assert ece_floor([]) == 0.0


def test_calibrated_chance_tells_sampling_from_miscalibration() -> None:
    """120 answers drawn with their stated chance are rarely called miscalibrated (about 1
    set in 20 at the 5 % level); 600 answers whose confidence states 15 points too much are
    found every time (on 120 the gap drawn is often far smaller, and only most are)."""
    rng = np.random.default_rng(1)
    called = 0
    for _ in range(20):
        confidence = rng.uniform(0.5, 1.0, 120)
        called += calibrated_chance(confidence, rng.uniform(size=120) < confidence) < 0.05
        confidence = rng.uniform(0.5, 1.0, 600)
        assert calibrated_chance(confidence, rng.uniform(size=600) < confidence - 0.15) < 0.01
    assert called <= 3


def test_unsure_is_a_stated_chance_of_being_wrong() -> None:
    assert is_unsure(0.69) and not is_unsure(0.7) and not is_unsure(0.95)
    assert is_unsure(0.85, chance_wrong=0.1) and not is_unsure(0.9, chance_wrong=0.1)


def _tiny_model(metadata: dict) -> TrainedModel:
    backbone = get_backbone("efficientnet_lite0")
    network = create_network(backbone, num_classes=2).eval()
    return TrainedModel(network, backbone.name, ("cat", "dog"), backbone.preprocessing,
                        metadata=metadata)


def test_a_file_without_calibration_opens_as_trained(tmp_path: Path) -> None:
    path = save_model(_tiny_model({"seed": 1}), tmp_path / "old.safetensors")
    assert ModelCalibration.of_header(load_model(path).metadata) is None


def test_a_file_keeps_its_calibration(tmp_path: Path) -> None:
    stored = ModelCalibration(2.5, 0.12, 0.02, 60, FITTED)
    path = save_model(_tiny_model({"calibration": stored.to_dict()}), tmp_path / "m.safetensors")
    assert ModelCalibration.of_header(load_model(path).metadata) == stored
    assert "temperature 2.50" in stored.describe()
    assert ModelCalibration(1.0, 0.0, 0.0, 5, TOO_FEW).describe() == \
        "not calibrated (only 5 validation images: left as trained)"


@pytest.mark.parametrize("bad", [{"temperature": 0}, {"temperature": math.nan},
                                 "warm", {"temperature": 2.0, "ece_before": 3, "ece_after": 0,
                                          "images": 5}])
def test_a_damaged_calibration_is_refused_by_name(tmp_path: Path, bad: object) -> None:
    path = save_model(_tiny_model({"calibration": bad}), tmp_path / "m.safetensors")
    with pytest.raises(ModelFileError, match="'calibration'"):
        load_model(path)


def test_training_calibrates_and_evaluation_reports_it(real_photo_model, real_photos: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    """The real photos' quick model: T stored in its header, folded into its classifier
    (Evaluate's validation ECE is the stored "after"), and both shown by the CLI."""
    from training.cli import main
    from training.data.scanning import scan_dataset
    from training.predict.evaluation import evaluate

    model = load_model(real_photo_model.model_path)
    stored = ModelCalibration.of_header(model.metadata)
    assert stored is not None and stored.rule in (FITTED, NO_MISTAKES)
    assert stored.images >= MIN_IMAGES and stored.temperature != 1.0
    assert stored.ece_after <= 0.03  # with no mistakes: 1 / (n + 2) by the rule, not 0
    report = evaluate(model, scan_dataset(real_photos), "val")
    assert report.calibration == stored and report.reliability is not None
    assert report.reliability.images == report.images
    assert report.reliability.ece == pytest.approx(stored.ece_after, abs=2e-3)
    assert main(["evaluate", str(real_photo_model.model_path), str(real_photos)]) == 0
    out = capsys.readouterr().out
    assert f"calibration: ECE {report.reliability.ece:.3f} on these" in out
    assert f"model file: temperature {stored.temperature:.2f}" in out


def test_predict_names_the_unsure_by_their_chance_of_being_wrong(
        real_photo_model, real_photos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from training.cli import main

    photos = sorted((real_photos / "lion").glob("*.jpg"))[:3]
    model = str(real_photo_model.model_path)
    assert main(["predict", model, *map(str, photos), "--unsure-chance", "0", "--quiet"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 3 and all("\tunsure: " in line and "chance wrong" in line
                                   for line in lines)
    assert "3 unsure (over 0% chance of being wrong)" in captured.err
    assert main(["predict", model, *map(str, photos), "--quiet"]) == 0
    assert "0 unsure (over 30% chance of being wrong)" in capsys.readouterr().err
    assert main(["predict", model, str(photos[0]), "--unsure-chance", "150"]) != 0
    assert "--unsure-chance is a percentage from 0 to 100, not 150" in capsys.readouterr().err
