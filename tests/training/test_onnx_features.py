"""Frozen passes on onnxruntime, through the feature store: the same answers, computed once.

The real-photo test is the issue's parity check (store + onnxruntime against plain PyTorch
to 1e-4 on the shared photos); the others pin the fallbacks and that each step after the
first finds the features the step before computed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from synthetic import make_dataset

from training.data.scanning import scan_dataset
from training.fitting.config import TrainConfig
from training.fitting.trainer import fit
from training.insight.suspects import find_suspects
from training.models import onnx_features
from training.models.backbones import DEFAULT_BACKBONE, get_backbone
from training.models.frozen import ONNX_RUNTIME, PYTORCH, FrozenFeatures
from training.models.networks import load_pretrained
from training.predict.inference import Predictor

CPU = torch.device("cpu")


@pytest.fixture
def frozen_network() -> tuple[torch.nn.Module, object]:
    backbone = get_backbone(DEFAULT_BACKBONE)
    return load_pretrained(backbone).eval(), backbone.preprocessing.with_crop(64)


@pytest.fixture
def count_frozen_passes(monkeypatch) -> list[int]:
    """Every batch any `FrozenFeatures` runs through a network, by size."""
    batches: list[int] = []
    original = FrozenFeatures.__call__

    def counted(self, pixels):
        batches.append(len(pixels))
        return original(self, pixels)
    monkeypatch.setattr(FrozenFeatures, "__call__", counted)
    return batches


def test_store_and_onnxruntime_predict_what_pytorch_predicts(real_photo_model, real_photos,
                                                              monkeypatch) -> None:
    paths = sorted(real_photos.glob("*/*.jpg"))
    fast = Predictor.from_model(real_photo_model.model)
    first = list(fast.predict(paths))
    assert fast.runtime == ONNX_RUNTIME
    again = list(fast.predict(paths))  # all from the store now

    monkeypatch.setenv(onnx_features.DISABLE_ENV, "1")
    plain = Predictor(real_photo_model.model, CPU, keep_features=False)
    reference = list(plain.predict(paths))
    assert plain.runtime == PYTORCH
    largest = 0.0
    for a, b, c in zip(first, again, reference, strict=True):
        assert a.error is None and a.label == b.label == c.label
        assert a.probabilities == b.probabilities and a.novelty == b.novelty
        largest = max(largest, *(abs(x - y) for x, y in zip(a.probabilities, c.probabilities,
                                                             strict=True)))
        assert a.novelty == pytest.approx(c.novelty, abs=1e-4)
    assert largest <= 1e-4


def test_a_graph_that_disagrees_is_not_used(frozen_network, monkeypatch) -> None:
    network, prep = frozen_network
    monkeypatch.setattr(onnx_features, "_READY", {})  # no session checked before
    monkeypatch.setattr(onnx_features, "_agrees", lambda *_args: False)
    frozen = FrozenFeatures(network, prep, CPU)
    assert frozen.prepare(10_000) == PYTORCH
    assert not onnx_features.graph_path(frozen.digest, prep).exists()
    assert frozen(torch.zeros((2, 3, 64, 64), dtype=torch.uint8)).shape == (2, frozen.width)


@pytest.mark.slow  # exports a graph (~10 s)
def test_a_damaged_cached_graph_is_exported_again(frozen_network) -> None:
    network, prep = frozen_network
    frozen = FrozenFeatures(network, prep, CPU)
    graph = onnx_features.graph_path(frozen.digest, prep)
    graph.parent.mkdir(parents=True, exist_ok=True)
    graph.write_bytes(b"\x08\x07 not an onnx graph")
    assert frozen.prepare(1) == ONNX_RUNTIME  # a cached graph is used for any job size
    assert graph.stat().st_size > 1_000_000
    pixels = torch.randint(0, 256, (3, 3, 64, 64), dtype=torch.uint8)
    expected = frozen._torch_features(pixels.numpy())
    assert torch.allclose(frozen(pixels), torch.from_numpy(expected), atol=1e-4)


def test_small_jobs_do_not_pay_for_an_export(frozen_network) -> None:
    network, prep = frozen_network
    prep = prep.with_crop(48)  # a size no other test exports
    frozen = FrozenFeatures(network, prep, CPU)
    assert frozen.prepare(10) == PYTORCH
    assert not onnx_features.graph_path(frozen.digest, prep).exists()


def test_without_onnxruntime_pytorch_runs(frozen_network, monkeypatch) -> None:
    network, prep = frozen_network
    monkeypatch.setenv(onnx_features.DISABLE_ENV, "1")
    assert FrozenFeatures(network, prep, CPU).prepare(10_000) == PYTORCH


def test_each_step_after_the_finder_reuses_its_features(tmp_path: Path,
                                                         count_frozen_passes) -> None:
    dataset = scan_dataset(make_dataset(tmp_path / "colours", per_class=10))
    find_suspects(dataset)
    assert sum(count_frozen_passes) == len(dataset.images)

    result = fit(TrainConfig.quick(epochs=3), dataset, output=tmp_path / "m.safetensors")
    assert sum(count_frozen_passes) == len(dataset.images)  # training computed nothing

    validation = [dataset.images[i].path for i in result.split.val]
    predictor = Predictor.from_file(result.model_path)
    stored = list(predictor.predict(validation))
    assert sum(count_frozen_passes) == len(dataset.images)  # nor did evaluating it
    fresh = list(Predictor(predictor.model, CPU, keep_features=False).predict(validation))
    for a, b in zip(stored, fresh, strict=True):
        assert a.label == b.label
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-5)


def test_augmented_views_are_stored_and_repeatable(tmp_path: Path, count_frozen_passes) -> None:
    dataset = scan_dataset(make_dataset(tmp_path / "colours", per_class=6))
    config = TrainConfig.quick(epochs=2, feature_views=2, rotate_degrees=20.0,
                               rotate_probability=1.0)
    first = fit(config, dataset, output=tmp_path / "a.safetensors")
    computed = sum(count_frozen_passes)
    train = len(first.split.train)
    assert computed == 3 * train + len(first.split.val)
    second = fit(config, dataset, output=tmp_path / "b.safetensors")
    assert sum(count_frozen_passes) == computed  # every view found in the store
    assert [(e.train_loss, e.val_loss) for e in second.history] == [
        (e.train_loss, e.val_loss) for e in first.history]
    other_seed = fit(TrainConfig.quick(epochs=2, feature_views=2, rotate_degrees=20.0,
                                       rotate_probability=1.0, seed=1),
                     dataset, output=tmp_path / "c.safetensors")
    # Another seed draws other augmentations; the centre view is shared.
    assert sum(count_frozen_passes) == computed + 2 * len(other_seed.split.train)
