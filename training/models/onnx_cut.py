"""The bottom of a cut network as an ONNX Runtime session: a partial fine-tune's activations
about twice as fast as PyTorch eager on a CPU (docs/benchmarks.md "The bottom pass on
onnxruntime").

A partial fine-tune computes the activations entering its top (`training.models.cut`) once
per photo and augmented view; on a 2-core machine that pass was most of a run. So the bottom
(normalisation inside, uint8 pixels in, the flattened activations out) is exported once per
weights digest, cut and input size, kept beside the feature graphs under
`paths.cache_dir() / "onnx"` and used under the same rules as they are
(`training.models.onnx_features`, whose export, session and check images this reuses): a
graph runs only after it matched the PyTorch bottom in this process, on the four fixed check
images and on natural-looking ones from a fresh seed, to `CUT_TOLERANCE` of the
activations' scale, one image and a batch. A graph that fails, cannot be written or cannot be
loaded is not used (PyTorch runs instead); a failed cached graph is deleted, with every
activation the feature store filed under it.

The store files activations from either runtime in the same space: their difference is
float rounding, far inside the bound (measured on real photos: docs/benchmarks.md), and a
run's activations are never a mix beyond it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import numpy as np
import torch
from torch import nn

from training.core import paths as app_paths
from training.data.tensors import PixelNormalisation
from training.models.cut import bottom
from training.models.onnx_features import (
    DISABLE_ENV,
    UNPREDICTABLE_IMAGES,
    CheckedGraph,
    CheckedSessions,
    FeatureRunner,
    export_graph,
    forget_vectors_of,
    parity_pixels,
    session_from_bytes,
    unpredictable_pixels,
)
from training.records.preprocessing import Preprocessing

CUT_TOLERANCE = 1e-4
"""The largest difference from PyTorch's activations a graph may show, as a share of their
largest magnitude (at least 1). Measured on EfficientNet-Lite0 at 224 px, 1 and 2 top
blocks: at most 3.8e-6 on the check images and 1.7e-6 on 30 real photos (9e-5 on activations
up to 53), so the bound is ~30× float rounding and far below what would move a trained top."""
KEPT = "cut-*.onnx"
"""The cut graphs in the cache folder (the newest `onnx_features.KEEP_GRAPHS` are kept)."""
KEEP_SESSIONS = 2
_PREPARING = threading.Lock()
_READY: CheckedSessions[CheckedGraph] = CheckedSessions(KEEP_SESSIONS)


class PixelsToCut(nn.Module):
    """uint8 NCHW pixels → the flattened activations entering the last `top_blocks` blocks."""

    def __init__(self, network: nn.Module, prep: Preprocessing, top_blocks: int) -> None:
        super().__init__()
        self.network = network
        self.normalise = PixelNormalisation(prep)
        self.top_blocks = top_blocks

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return bottom(self.network, self.normalise(pixels), self.top_blocks).flatten(1)


def cut_graph_path(digest: str, prep: Preprocessing, top_blocks: int) -> Path:
    """The graph bakes in the weights, the cut, the input size and the normalisation."""
    norm = hashlib.blake2b(repr((prep.mean, prep.std)).encode(), digest_size=4).hexdigest()
    return (app_paths.cache_dir() / "onnx"
            / f"cut-{digest}-top{top_blocks}-{prep.crop}-{norm}.onnx")


def cut_runner(network: nn.Module, prep: Preprocessing, digest: str, top_blocks: int,
               torch_cut: FeatureRunner, export: bool) -> CheckedGraph | None:
    """A checked onnxruntime runner of `network`'s bottom (pixels → flat activations), or
    None: onnxruntime off or missing, no cached graph and `export` false, the export or the
    check against `torch_cut` failed."""
    if os.environ.get(DISABLE_ENV, "").strip() not in ("", "0"):
        return None
    graph = cut_graph_path(digest, prep, top_blocks)
    with _PREPARING:  # two jobs wanting the same graph export it once
        runner = _READY.get(graph)
        if runner is not None:
            return runner
        if graph.is_file():
            runner = _checked(graph, prep.crop, torch_cut)  # a bad cached graph is deleted
        if runner is None and export and _export(network, prep, top_blocks, graph):
            runner = _checked(graph, prep.crop, torch_cut)
        if runner is not None:
            _READY.put(graph, runner)
        return runner


def _export(network: nn.Module, prep: Preprocessing, top_blocks: int, graph: Path) -> bool:
    """Export the bottom in eval mode, leaving the network in the mode it was in."""
    was_training = network.training
    try:
        return export_graph(PixelsToCut(network, prep, top_blocks).eval(), prep.crop, graph,
                            KEPT)
    finally:
        network.train(was_training)


def _checked(graph: Path, crop: int, torch_cut: FeatureRunner) -> CheckedGraph | None:
    """The graph's session when it agrees with PyTorch; otherwise the graph is deleted,
    with what the store filed under it."""
    runner = session_from_bytes(graph)
    if runner is not None and largest_error(runner, torch_cut, crop) <= CUT_TOLERANCE:
        return runner
    graph.unlink(missing_ok=True)
    if runner is not None:
        forget_vectors_of(runner.maker)
    return None


def largest_error(runner: FeatureRunner, torch_cut: FeatureRunner, crop: int) -> float:
    """The graph's largest difference from PyTorch over the activations' largest magnitude
    (at least 1), one image and a batch, on the fixed and the unpredictable check images;
    infinite when it fails or gives the wrong shape."""
    pixels = np.concatenate([parity_pixels(crop), unpredictable_pixels(crop,
                                                                       UNPREDICTABLE_IMAGES)])
    try:
        expected = torch_cut(pixels)
        single, together = runner(pixels[:1]), runner(pixels)
    except Exception:  # a foreign graph may fail in any way; PyTorch remains the answer
        return float("inf")
    if single.shape != expected[:1].shape or together.shape != expected.shape:
        return float("inf")
    scale = max(float(np.abs(expected).max()), 1.0)
    error = max(float(np.abs(single - expected[:1]).max()),
                float(np.abs(together - expected).max()))
    return error / scale if np.isfinite(error) else float("inf")
