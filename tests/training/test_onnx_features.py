"""Frozen passes on onnxruntime, through the feature store: the same answers, computed once.

The real-photo test is the issue's parity check (store + onnxruntime against plain PyTorch
to 1e-4 on a third of the shared photos); the others pin the fallbacks and that each step after the
first finds the features the step before computed.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from synthetic import make_dataset

from training.data.images import content_hash
from training.data.scanning import scan_dataset
from training.fitting.trainer import fit
from training.insight.suspects import find_suspects
from training.models import onnx_features
from training.models.embedding import CENTRE_VIEW, default_store, embed_files, space_key
from training.models.frozen import ONNX_RUNTIME, PYTORCH, FrozenFeatures
from training.models.networks import load_pretrained
from training.predict.inference import Predictor
from training.records.backbones import DEFAULT_BACKBONE, get_backbone
from training.records.config import TrainConfig

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
    """On every third photo (50 of each class): the reference pass on PyTorch was the cost
    (all 300 photos, three passes, took as long as any test in the suite). The graph at
    this size was exported when the session trained `real_photo_model` on all of them."""
    paths = sorted(real_photos.glob("*/*.jpg"))[::3]
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
    """The graph is written by a stand-in exporter (a real one costs ~10 s and is proven by
    `test_a_damaged_cached_graph_is_exported_again`), at a crop no other test uses: the
    session's shared 64-pixel graph stays as it is."""
    network, prep = frozen_network
    prep = prep.with_crop(56)
    # no session checked before
    monkeypatch.setattr(onnx_features, "_READY", onnx_features.CheckedSessions(2))
    monkeypatch.setattr(onnx_features, "_agrees", lambda *_args: False)
    exported: list[Path] = []

    def export(_network, _prep, graph: Path) -> bool:
        check = onnx_features.parity_pixels(_prep.crop)
        features = FrozenFeatures(_network, _prep, CPU)._torch_features(check)
        graph.parent.mkdir(parents=True, exist_ok=True)
        graph.write_bytes(_planted_graph(check, features, features[0]))
        exported.append(graph)
        return True

    monkeypatch.setattr(onnx_features, "_export", export)
    frozen = FrozenFeatures(network, prep, CPU)
    assert frozen.prepare(10_000) == PYTORCH
    assert exported == [onnx_features.graph_path(frozen.digest, prep)], "a graph was written"
    assert not onnx_features.graph_path(frozen.digest, prep).exists()
    assert frozen(torch.zeros((2, 3, 56, 56), dtype=torch.uint8)).shape == (2, frozen.width)


@pytest.mark.slow  # exports a graph (~10 s)
def test_a_damaged_cached_graph_is_exported_again(frozen_network, caplog) -> None:
    """Also the suite's check that a graph export logs no INFO lines (the app logs INFO to
    the terminal and its log file; the exporter's optimiser logged 77 lines there) and
    leaves the exporter's loggers as they were; tests/training/test_export_logging.py
    checks that its warnings still get through."""
    caplog.set_level(logging.INFO)
    network, prep = frozen_network
    frozen = FrozenFeatures(network, prep, CPU)
    graph = onnx_features.graph_path(frozen.digest, prep)
    graph.parent.mkdir(parents=True, exist_ok=True)
    graph.write_bytes(b"\x08\x07 not an onnx graph")
    assert frozen.prepare(1) == ONNX_RUNTIME  # a cached graph is used for any job size
    assert graph.stat().st_size > 1_000_000
    chatter = [record.getMessage() for record in caplog.records
               if record.name.split(".")[0] in {"onnx", "onnx_ir", "onnxscript", "torch"}
               and record.levelno < logging.WARNING]
    assert not chatter
    assert all(logging.getLogger(name).level == logging.NOTSET
               for name in ("onnx", "onnx_ir", "onnxscript", "torch.onnx")), \
        "the exporter's loggers are as they were"
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


# --- issue 21: a graph planted in the cache ------------------------------------------------

def _planted_graph(check_pixels: np.ndarray, check_features: np.ndarray,
                   constant: np.ndarray) -> bytes:
    """A graph that knows the fixed check images by their pixel sums, answers PyTorch's
    features for them, and `constant` for anything else (every photo the same class)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    sums = check_pixels.reshape(len(check_pixels), -1).astype(np.float64).sum(1)
    constants = {
        "sums": sums[None].astype(np.float32), "known": check_features.astype(np.float32),
        "other": constant[None].astype(np.float32), "half": np.array(0.5, np.float32),
        "one": np.array(1.0, np.float32), "all": np.array([1, 2, 3], np.int64),
        "rows": np.array([1], np.int64)}
    nodes = [
        helper.make_node("Cast", ["pixels"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["x", "all"], ["total"], keepdims=0),
        helper.make_node("Unsqueeze", ["total", "rows"], ["column"]),
        helper.make_node("Sub", ["column", "sums"], ["gap"]),
        helper.make_node("Abs", ["gap"], ["distance"]),
        helper.make_node("Less", ["distance", "half"], ["match"]),
        helper.make_node("Cast", ["match"], ["weights"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["weights", "known"], ["answered"]),
        helper.make_node("ReduceSum", ["weights", "rows"], ["matched"], keepdims=1),
        helper.make_node("Sub", ["one", "matched"], ["unmatched"]),
        helper.make_node("Mul", ["unmatched", "other"], ["guessed"]),
        helper.make_node("Add", ["answered", "guessed"], ["features"]),
    ]
    size = check_pixels.shape[-1]
    graph = helper.make_graph(
        nodes, "planted",
        [helper.make_tensor_value_info("pixels", TensorProto.UINT8,
                                       ["batch", 3, size, size])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT,
                                       ["batch", check_features.shape[1]])],
        [numpy_helper.from_array(value, name) for name, value in constants.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.fixture
def planted(frozen_network, monkeypatch):  # type: ignore[no-untyped-def]
    """(frozen features at a crop no other test uses, the planted graph's maker): the graph
    is in the cache where that network's graph belongs; removed afterwards in any case."""
    network, prep = frozen_network
    prep = prep.with_crop(72)
    monkeypatch.setattr(onnx_features, "_READY", onnx_features.CheckedSessions(2))
    monkeypatch.setattr(onnx_features, "_export", lambda *_args: False)  # no 10 s export
    frozen = FrozenFeatures(network, prep, CPU)
    check = onnx_features.parity_pixels(prep.crop)
    data = _planted_graph(check, frozen._torch_features(check),
                          frozen._torch_features(check[:1])[0] * 3)
    graph = onnx_features.graph_path(frozen.digest, prep)
    graph.parent.mkdir(parents=True, exist_ok=True)
    graph.write_bytes(data)
    yield frozen, "onnx:" + hashlib.blake2b(data, digest_size=16).hexdigest()
    graph.unlink(missing_ok=True)


def test_a_planted_graph_that_knows_only_the_check_images_is_refused(
        planted, real_photos) -> None:
    frozen, _maker = planted
    paths = sorted(real_photos.glob("*/*.jpg"))[::75]
    stored = [item for batch in embed_files(paths, frozen, default_store()) for item in batch]
    assert frozen.runtime == PYTORCH, "the planted graph was used"
    assert not onnx_features.graph_path(frozen.digest, frozen.prep).exists()
    reference = FrozenFeatures(frozen.network, frozen.prep, CPU)
    reference._choose(export=False)
    plain = [item for batch in embed_files(paths, reference, None) for item in batch]
    for a, b in zip(stored, plain, strict=True):
        assert np.abs(a - b).max() <= 1e-4 * max(1.0, float(np.abs(b).max()))
    assert len({tuple(np.round(vector, 3)) for vector in stored}) == len(paths)


def test_what_a_refused_graph_had_stored_is_forgotten(planted, real_photos) -> None:
    frozen, maker = planted
    paths = sorted(real_photos.glob("*/*.jpg"))[:3]
    store = default_store()
    space = space_key(frozen, CENTRE_VIEW)
    keys = [content_hash(path.read_bytes()) for path in paths]
    store.store_vectors(space, {keys[0]: np.full(frozen.width, 7, np.float32)}, maker)
    store.store_vectors(space, {keys[1]: np.full(frozen.width, 8, np.float32)}, "pytorch")
    assert frozen.prepare(10_000) == PYTORCH
    assert store.vectors(space, keys, frozen.width).keys() == {keys[1]}
    [fresh] = [item for batch in embed_files(paths[:1], frozen, store) for item in batch]
    assert not np.array_equal(fresh, np.full(frozen.width, 7, np.float32))


def test_unpredictable_check_images_differ_each_time_and_look_natural() -> None:
    first, second = (onnx_features.unpredictable_pixels(64, 4) for _ in range(2))
    assert first.shape == (4, 3, 64, 64) and first.dtype == np.uint8
    assert not np.array_equal(first, second)
    assert np.array_equal(onnx_features.unpredictable_pixels(64, 4, seed=3),
                          onnx_features.unpredictable_pixels(64, 4, seed=3))
    steps = np.abs(np.diff(first.astype(np.int16), axis=-1)).mean()
    assert 0.2 < steps < 12, "smooth, like a photo, not white noise"
    assert 20 < first.std() < 90
