"""Activations at the cut on onnxruntime: the PyTorch bottom's numbers, or PyTorch itself.

The cut is near the bottom of EfficientNet-Lite0 (the stem and the first block below it,
`top_blocks` 15) at 64 pixels, exported once for the module (two graphs); the 224-pixel cut of
a real run is measured in benchmarks/partial_finetune.py --bottom-speed (docs/benchmarks.md).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from training.data.feature_store import FeatureStore, default_location
from training.models import onnx_cut, onnx_features
from training.models.activations import CutActivations
from training.models.frozen import ONNX_RUNTIME, PYTORCH
from training.models.networks import load_pretrained
from training.models.onnx_features import unpredictable_pixels
from training.records.backbones import DEFAULT_BACKBONE, get_backbone

pytestmark = pytest.mark.slow  # two exports (~10 s each on a loaded machine)

CPU = torch.device("cpu")
LOW_CUT = 15
"""Everything above the first block trains: the bottom is the stem and one block."""
PREP = get_backbone(DEFAULT_BACKBONE).preprocessing.with_crop(64)


@dataclass(frozen=True)
class Exported:
    """The pretrained network's bottom and that of a copy with other weights, each exported
    once for the module (an export costs seconds even for a bottom this small)."""

    first: CutActivations
    second: CutActivations
    exports: list[Path]


@pytest.fixture(scope="module")
def exported() -> Exported:
    network = load_pretrained(get_backbone(DEFAULT_BACKBONE)).eval()
    changed = copy.deepcopy(network)
    with torch.no_grad():
        changed.blocks[0][0].conv_dw.weight.mul_(-1.0)
    written: list[Path] = []
    original = onnx_cut._export

    def counted(network: torch.nn.Module, prep: object, top_blocks: int, graph: Path) -> bool:
        written.append(graph)
        return original(network, prep, top_blocks, graph)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(onnx_cut, "_READY", onnx_features.CheckedSessions(2))  # none checked yet
        patch.setattr(onnx_cut, "_export", counted)
        first, second = (CutActivations(n, PREP, CPU, LOW_CUT) for n in (network, changed))
        assert first.prepare(10_000) == ONNX_RUNTIME
        assert second.prepare(10_000) == ONNX_RUNTIME
    return Exported(first, second, written)


def _within_bound(cut: CutActivations, pixels: np.ndarray) -> bool:
    expected = cut._torch_cut(pixels)
    got = cut(torch.from_numpy(pixels)).numpy()
    scale = max(float(np.abs(expected).max()), 1.0)
    return got.shape == expected.shape and \
        float(np.abs(got - expected).max()) <= onnx_cut.CUT_TOLERANCE * scale


def test_onnxruntime_activations_agree_with_pytorch(exported, caplog) -> None:
    caplog.set_level(logging.INFO, logger="training.models.activations")
    cut = exported.first
    assert cut.maker.startswith("onnx:")
    assert exported.exports[0].name == onnx_cut.cut_graph_path(cut.weights, PREP, LOW_CUT).name
    assert _within_bound(cut, unpredictable_pixels(64, 5, seed=11))
    again = CutActivations(cut.network, PREP, CPU, LOW_CUT)
    assert again.prepare(1) == ONNX_RUNTIME, "a cached graph serves any job size"
    assert f"run on {ONNX_RUNTIME}" in caplog.text, "the log says which runtime ran"


def test_the_graph_is_made_again_when_the_weights_change(exported) -> None:
    first, second = exported.first, exported.second
    assert [graph.name for graph in exported.exports] == [
        onnx_cut.cut_graph_path(cut.weights, PREP, LOW_CUT).name for cut in (first, second)]
    assert first.weights != second.weights and first.maker != second.maker
    pixels = unpredictable_pixels(64, 3, seed=5)
    assert _within_bound(second, pixels) and _within_bound(first, pixels)
    assert not np.allclose(first(torch.from_numpy(pixels)), second(torch.from_numpy(pixels)))


def test_a_graph_that_disagrees_is_refused_and_pytorch_runs(exported, monkeypatch) -> None:
    """The graph on disk is another network's bottom (a valid graph, wrong numbers), filed
    under this network's name; an activation it had stored is forgotten with it."""
    monkeypatch.setattr(onnx_cut, "_READY", onnx_features.CheckedSessions(2))
    network = exported.first.network
    cut = CutActivations(network, PREP, CPU, LOW_CUT, digest="0" * 32)  # a name of its own
    graph = onnx_cut.cut_graph_path(cut.weights, PREP, LOW_CUT)
    other = onnx_cut.cut_graph_path(exported.second.weights, PREP, LOW_CUT)
    graph.write_bytes(other.read_bytes())
    planted = onnx_cut.session_from_bytes(graph)
    store = FeatureStore(default_location())
    store.store_vectors("space", {"photo": np.ones(3, np.float32)}, planted.maker)
    assert "photo" in store.vectors("space", ["photo"], 3)

    assert cut.prepare(10) == PYTORCH  # too few photos to export again: PyTorch
    assert not graph.exists()
    assert store.vectors("space", ["photo"], 3) == {}
    store.close()
    pixels = unpredictable_pixels(64, 2, seed=3)
    assert np.array_equal(cut(torch.from_numpy(pixels)).numpy(), cut._torch_cut(pixels))


def test_the_whole_jobs_activations_decide_the_export(monkeypatch) -> None:
    """A partial run asks for each view apart (fewer than `EXPORT_WORTHWHILE` photos each
    on a small dataset); the export is decided on all of them together."""
    from training.models import activations

    asked: list[bool] = []

    def runner(*_args: object, export: bool) -> None:
        asked.append(export)

    monkeypatch.setattr(activations, "cut_runner", runner)
    network = load_pretrained(get_backbone(DEFAULT_BACKBONE)).eval()
    few = activations.EXPORT_WORTHWHILE // 3
    for job_images in (0, 3 * few + 10):
        CutActivations(network, PREP, CPU, LOW_CUT, job_images=job_images).prepare(few)
    assert asked == [False, True]
