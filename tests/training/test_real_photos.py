"""The engine on 300 real cheetah and lion photos (skipped when the dataset is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.data.scanning import scan_dataset
from training.fitting.config import TrainConfig
from training.fitting.result import FitResult
from training.fitting.trainer import fit
from training.predict.baseline import zero_shot_baseline
from training.predict.evaluation import evaluate
from training.predict.inference import Predictor

pytestmark = pytest.mark.real_photos


@pytest.fixture(scope="module")
def dataset(real_photos: Path):
    return scan_dataset(real_photos)


@pytest.fixture(scope="module")
def quick_result(dataset, tmp_path_factory: pytest.TempPathFactory) -> FitResult:
    return fit(TrainConfig.quick(), dataset,
               output=tmp_path_factory.mktemp("model") / "cheetah-lion.safetensors")


def test_scan_finds_both_classes_and_the_near_duplicates(dataset) -> None:
    assert dataset.class_counts == {"cheetah": 150, "lion": 150}
    assert dataset.report.can_train
    near = dataset.report.of_kind("near_duplicate")
    assert len(near) >= 15, "the dataset's README says some cheetah photos are re-encoded copies"
    assert all("cheetah/" in issue.message for issue in near)


def test_quick_mode_reaches_095_and_matches_the_baseline(quick_result) -> None:
    assert quick_result.best_val_accuracy >= 0.95
    assert quick_result.baseline_accuracy is not None
    assert quick_result.best_val_accuracy >= quick_result.baseline_accuracy - 0.02


def test_reloaded_model_predicts_identically(quick_result, dataset) -> None:
    paths = [dataset.images[i].path for i in quick_result.split.val]
    live = list(Predictor.from_model(quick_result.model).predict(paths))
    reloaded = list(Predictor.from_file(quick_result.model_path).predict(paths))
    assert [p.probabilities for p in live] == [p.probabilities for p in reloaded]
    assert [p.label for p in live] == [p.label for p in reloaded]


def test_evaluation_on_the_model_own_split(quick_result, dataset) -> None:
    report = evaluate(quick_result.model, dataset)
    assert report.images == len(quick_result.split.val)
    assert report.accuracy == pytest.approx(quick_result.best_val_accuracy)
    assert sum(map(sum, report.confusion)) == report.images
    assert {s.name for s in report.per_class} == {"cheetah", "lion"}


def test_zero_shot_baseline_needs_no_training(dataset) -> None:
    baseline = zero_shot_baseline(dataset)
    assert baseline is not None
    assert baseline.matches == {"cheetah": ("cheetah",), "lion": ("lion",)}
    assert baseline.accuracy >= 0.9 and baseline.images > 50
