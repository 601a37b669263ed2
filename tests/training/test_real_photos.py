"""The engine on 300 real cheetah and lion photos (skipped when the dataset is absent).

The quick-mode model is the session's `real_photo_model` (tests/conftest.py), shared with
the export checks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from training.data.scanning import scan_dataset
from training.fitting.result import FitResult
from training.predict.baseline import zero_shot_baseline
from training.predict.evaluation import evaluate
from training.predict.inference import Predictor

pytestmark = pytest.mark.real_photos


@pytest.fixture(scope="module")
def dataset(real_photos: Path):
    return scan_dataset(real_photos)


def test_scan_finds_both_classes_and_the_near_duplicates(dataset) -> None:
    assert dataset.class_counts == {"cheetah": 150, "lion": 150}
    assert dataset.report.can_train
    near = dataset.report.of_kind("near_duplicate")
    assert len(near) >= 15, "the dataset's README says some cheetah photos are re-encoded copies"
    assert all("cheetah/" in issue.message for issue in near)


def test_no_real_photo_is_taken_for_a_blank_placeholder(dataset) -> None:
    assert not dataset.report.of_kind("one_colour")


@pytest.mark.slow  # the session trains real_photo_model for it
def test_quick_mode_reaches_095_and_matches_the_baseline(real_photo_model: FitResult) -> None:
    assert real_photo_model.best_val_accuracy >= 0.95
    assert real_photo_model.baseline_accuracy is not None
    assert real_photo_model.best_val_accuracy >= real_photo_model.baseline_accuracy - 0.02


@pytest.mark.slow
def test_reloaded_model_predicts_identically(real_photo_model: FitResult, dataset) -> None:
    paths = [dataset.images[i].path for i in real_photo_model.split.val]
    live = list(Predictor.from_model(real_photo_model.model).predict(paths))
    reloaded = list(Predictor.from_file(real_photo_model.model_path).predict(paths))
    assert [p.probabilities for p in live] == [p.probabilities for p in reloaded]
    assert [p.label for p in live] == [p.label for p in reloaded]


@pytest.mark.slow
def test_evaluation_on_the_model_own_split(real_photo_model: FitResult, dataset) -> None:
    report = evaluate(real_photo_model.model, dataset)
    assert report.images == len(real_photo_model.split.val)
    assert report.accuracy == pytest.approx(real_photo_model.best_val_accuracy)
    assert sum(map(sum, report.confusion)) == report.images
    assert {s.name for s in report.per_class} == {"cheetah", "lion"}


def test_zero_shot_baseline_needs_no_training(dataset) -> None:
    baseline = zero_shot_baseline(dataset)
    assert baseline is not None
    assert baseline.matches == {"cheetah": ("cheetah",), "lion": ("lion",)}
    assert baseline.accuracy >= 0.9 and baseline.images > 50
