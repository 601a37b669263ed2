""""None of these": a model trained on two kinds of image flags a third kind, its calibration
flags about 5 % of validation, the model file keeps it, old files still work, CLI and CSV."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from synthetic import CLASS_COLOURS, make_dataset, textured_image

from training.cli import main
from training.core.errors import ConfigError, ModelFileError
from training.data.scanning import scan_dataset
from training.fitting.isolated import fit_in_child_process
from training.fitting.modelfile import (
    FORMAT_VERSION,
    TrainedModel,
    load_model,
    read_metadata,
    save_model,
)
from training.fitting.result import FitResult
from training.fitting.trainer import fit
from training.models.novelty import TENSOR_NAME, NoveltyReference, stratified_subset
from training.predict.evaluation import evaluate
from training.predict.inference import Predictor
from training.predict.results_csv import results_csv
from training.predict.sorting import NONE_OF_THESE_FOLDER
from training.records.config import TrainConfig
from training.records.events import PhaseProgress, RunStarted
from training.records.novelty_calibration import NoveltyCalibration

SMALL = {"image_size": 64}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> FitResult:
    root = make_dataset(tmp_path_factory.mktemp("novelty") / "colours", per_class=30)
    return fit(TrainConfig.quick(epochs=10, **SMALL), scan_dataset(root),
               output=root.parent / "model.safetensors")


@pytest.fixture(scope="module")
def strangers(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Images of kinds the red/blue model never saw: noise, a flat grey, a yellow texture."""
    folder = tmp_path_factory.mktemp("strangers")
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "noise.png")
    Image.new("RGB", (64, 64), (128, 128, 128)).save(folder / "grey.png")
    textured_image(CLASS_COLOURS["yellow"], 4242).save(folder / "yellow.png")
    return sorted(folder.iterdir())


@pytest.fixture(scope="module")
def familiar(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """New red and blue images (seeds the dataset did not use)."""
    return sorted(make_dataset(tmp_path_factory.mktemp("familiar"), per_class=10, seed=7)
                  .rglob("*.png"))


def test_calibration_maps_percentiles_to_thresholds_and_back() -> None:
    scores = [i / 10 for i in range(200)]  # 0.0 .. 19.9
    calibration = NoveltyCalibration.from_scores(scores, k=5, reference_size=50)
    threshold = calibration.threshold(95)
    assert sum(s > threshold for s in scores) == 10, "5 % of the validation scores lie above"
    assert calibration.percentile(threshold) == pytest.approx(95)
    assert calibration.percentile(-1) == 0 and calibration.percentile(100) == 100
    assert calibration.threshold(100) == max(scores)
    assert not calibration.is_unfamiliar(max(scores), 100)
    assert calibration.is_unfamiliar(20.0) and not calibration.is_unfamiliar(None)
    assert NoveltyCalibration.from_dict(json.loads(json.dumps(calibration.to_dict()))) \
        == calibration
    with pytest.raises(ConfigError, match="0 to 100"):
        calibration.threshold(101)


def test_reference_subset_is_stratified_seeded_and_capped() -> None:
    labels = torch.tensor([0] * 900 + [1] * 100)
    chosen = stratified_subset(labels, 100, seed=3)
    assert len(chosen) == 100 and (labels[chosen] == 1).sum() == 10
    assert torch.equal(chosen, stratified_subset(labels, 100, seed=3))
    assert torch.equal(stratified_subset(labels[:50], 100, seed=3), torch.arange(50))


def test_a_third_kind_is_flagged_and_familiar_images_mostly_are_not(
        trained: FitResult, strangers: list[Path], familiar: list[Path]) -> None:
    predictor = Predictor.from_file(trained.model_path)
    odd = list(predictor.predict(strangers))
    assert all(p.unfamiliar and p.label in ("blue", "red") for p in odd), \
        [(Path(p.path).name, p.novelty) for p in odd]
    usual = list(predictor.predict(familiar))
    assert sum(p.unfamiliar for p in usual) <= 2, "about 5 % of familiar images, not more"
    assert max(p.novelty for p in usual) < min(p.novelty for p in odd)  # type: ignore[type-var]
    predictor.unfamiliar_percentile = 100
    assert sum(p.unfamiliar for p in predictor.predict(familiar)) <= \
        sum(p.unfamiliar for p in usual)
    with pytest.raises(ConfigError):
        predictor.unfamiliar_percentile = -1


def test_validation_calibration_flags_about_five_percent(trained: FitResult) -> None:
    model = load_model(trained.model_path)
    calibration = model.novelty.calibration  # type: ignore[union-attr]
    assert calibration.validation_size == len(trained.split.val) == 12
    dataset = scan_dataset(trained.model_path.parent / "colours")  # type: ignore[union-attr]
    report = evaluate(model, dataset, "val")
    # 12 images: the 95th percentile lies between the 11th and 12th score: one is above.
    assert report.unfamiliar_fraction == pytest.approx(1 / 12)
    assert report.unfamiliar_percentile == 95
    assert evaluate(model, dataset, "val", unfamiliar_percentile=100).unfamiliar_fraction == 0


def test_model_file_round_trips_reference_and_calibration(trained: FitResult,
                                                          tmp_path: Path) -> None:
    original = trained.model.novelty  # type: ignore[union-attr]
    assert original is not None
    assert original.features.dtype == torch.float16
    assert original.calibration.reference_size == len(trained.split.train) == 48
    loaded = load_model(trained.model_path)
    assert loaded.novelty is not None
    assert torch.equal(loaded.novelty.features, original.features)
    assert loaded.novelty.calibration == original.calibration
    assert TENSOR_NAME not in loaded.network.state_dict()
    header = read_metadata(trained.model_path)
    assert header["format_version"] == FORMAT_VERSION == 2 and header["novelty"]["k"] == 5
    assert "novelty" not in loaded.metadata
    again = save_model(loaded, tmp_path / "again.safetensors")  # a loaded model saves alike
    assert load_model(again).novelty.calibration == original.calibration  # type: ignore[union-attr]


@pytest.mark.parametrize("damage", ["fewer rows", "narrower rows", "not finite", "nan quantile"])
def test_damaged_novelty_data_is_refused(trained: FitResult, tmp_path: Path,
                                         damage: str) -> None:
    """Refused when the file opens, not later in the middle of classifying a gallery."""
    model = load_model(trained.model_path)
    reference = model.novelty
    assert reference is not None
    features, calibration = reference.features, reference.calibration
    if damage == "fewer rows":
        features = features[:3]
    elif damage == "narrower rows":
        features = features[:, :7].contiguous()
    elif damage == "not finite":
        features = features.clone()
        features[0, 0] = float("inf")
    else:
        quantiles = (*calibration.quantiles[:50], float("nan"), *calibration.quantiles[51:])
        calibration = dataclasses.replace(calibration, quantiles=quantiles)
    model.novelty = NoveltyReference(features, calibration)
    path = save_model(model, tmp_path / "bad.safetensors")
    with pytest.raises(ModelFileError, match="none of these"):
        load_model(path)


def _as_format_1(model: TrainedModel, path: Path) -> Path:
    """A file as the previous version wrote it: format 1, no novelty data."""
    model.novelty = None
    save_model(model, path)
    data = path.read_bytes()
    patched = data.replace(f'\\"format_version\\": {FORMAT_VERSION}'.encode(),
                           b'\\"format_version\\": 1')
    assert patched != data
    path.write_bytes(patched)
    return path


def test_old_format_file_loads_and_predicts_without_a_score(
        trained: FitResult, strangers: list[Path], tmp_path: Path) -> None:
    old = _as_format_1(load_model(trained.model_path), tmp_path / "old.safetensors")
    assert read_metadata(old)["format_version"] == 1
    predictor = Predictor.from_file(old)
    assert predictor.calibration is None and predictor.unfamiliar_threshold is None
    results = list(predictor.predict(strangers))
    assert all(r.label and r.novelty is None and not r.unfamiliar for r in results)
    rows = list(csv.DictReader(results_csv(results, predictor.classes).splitlines()))
    assert all(r["novelty"] == "" and r["none_of_these"] == "" for r in rows)


def test_cli_marks_none_of_these_in_text_json_and_csv(
        capsys: pytest.CaptureFixture[str], trained: FitResult, strangers: list[Path],
        familiar: list[Path], tmp_path: Path) -> None:
    model = str(trained.model_path)
    paths = [str(strangers[0]), str(familiar[0])]
    out_csv = tmp_path / "out.csv"
    assert main(["predict", model, *paths, "--csv", str(out_csv), "--quiet"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split("\t")[1] == "none of these" and "closest: " in lines[0]
    assert lines[1].split("\t")[1] == "blue"  # familiar[0] is blue/0.png
    assert "1 none of these" in err
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert [r["none_of_these"] for r in rows] == ["1", "0"]
    assert float(rows[0]["novelty"]) > float(rows[1]["novelty"])

    assert main(["predict", model, *paths, "--json", "--unfamiliar-percentile", "100"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results[0]["none_of_these"] is True and results[1]["none_of_these"] is False
    assert results[0]["novelty"] > results[1]["novelty"]

    data = trained.model_path.parent / "colours"  # type: ignore[union-attr]
    assert main(["evaluate", model, str(data), "--quiet"]) == 0
    assert "none of these: 1 of 12 val images (8.3%)" in capsys.readouterr().out
    assert main(["predict", model, *paths, "--unfamiliar-percentile", "120"]) == 1
    assert "0 to 100" in capsys.readouterr().err


def test_cli_sorts_none_of_these_into_its_own_folder(
        capsys: pytest.CaptureFixture[str], trained: FitResult, strangers: list[Path],
        familiar: list[Path], tmp_path: Path) -> None:
    sorted_into = tmp_path / "sorted"
    assert main(["predict", str(trained.model_path), str(strangers[0]), str(familiar[0]),
                 "--sort-into", str(sorted_into), "--quiet"]) == 0
    capsys.readouterr()
    assert (sorted_into / NONE_OF_THESE_FOLDER / strangers[0].name).is_file()
    assert (sorted_into / "blue" / familiar[0].name).is_file()
    assert not (sorted_into / "red").exists() and strangers[0].is_file(), "copied, not moved"


@pytest.mark.slow
def test_finetune_in_the_child_process_writes_the_reference(tmp_path: Path) -> None:
    dataset = scan_dataset(make_dataset(tmp_path / "tiny", per_class=5))
    events: list[object] = []
    result = fit_in_child_process(TrainConfig.finetune(epochs=1, batch_size=4, **SMALL),
                                  dataset, events.append, output=tmp_path / "m.safetensors")
    assert isinstance(events[0], RunStarted) and events[0].phases[-1] == "features"
    features = [e for e in events if isinstance(e, PhaseProgress) and e.phase == "features"]
    assert features and features[-1].done == features[-1].total == len(dataset.images)
    model = load_model(result.model_path)  # type: ignore[arg-type]
    assert model.novelty is not None
    assert model.novelty.calibration.reference_size == len(result.split.train)
    assert model.novelty.calibration.validation_size == len(result.split.val)
    assert Predictor.from_model(model).unfamiliar_threshold is not None
