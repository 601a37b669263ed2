"""Activations at a network's cut, per photo and view, kept in the feature store.

A partial fine-tune (`training.fitting.partial`) trains only the blocks above a cut
(`training.models.cut`); what enters them never changes, so it is computed once per photo and
augmented view, like quick mode's pooled features, and kept the same way: in the feature
store (`training.data.feature_store`), keyed by the hash of the photo's bytes read at every
look-up, and by a space that names the network's weights, the preprocessing, the view and the
cut (`CutActivations.digest` is the weights' digest plus the cut, and `embedding.space_key`
adds the rest). A stored activation of the wrong length, failing its checksum or not finite
is deleted and computed again (`FeatureStore.vectors`); a photo whose bytes changed has
another key, so its old activation is never found for it.

`CutActivations` is a `FrozenFeatures` whose "features" are the flattened activations at the
cut, so `embedding.embed_dataset` reads, computes and stores them like any other frozen
features. On a CPU they come from the bottom's checked onnxruntime graph
(`training.models.onnx_cut`, about twice PyTorch's speed) when one is cached or the job is
long enough to pay for its export, otherwise from PyTorch (the bottom of the network, in eval
mode, without gradients); `runtime` says which ran, and the log says it once per choice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from training.data.feature_store import FeatureStore
from training.data.tensors import normalize
from training.models.cut import bottom, cut_shape
from training.models.embedding import CENTRE, View, embed_dataset
from training.models.frozen import (
    EXPORT_WORTHWHILE,
    ONNX_RUNTIME,
    PYTORCH,
    PYTORCH_MAKER,
    FrozenFeatures,
    weights_digest,
)
from training.models.onnx_cut import cut_runner
from training.records.preprocessing import Preprocessing

ACTIVATION_BATCH = 16
"""Images per PyTorch call (onnxruntime takes the embedding's whole batch)."""
_LOG = logging.getLogger(__name__)


class CutActivations(FrozenFeatures):
    """uint8 (N, 3, crop, crop) pixels → float32 (N, C·H·W) activations entering the last
    `top_blocks` blocks of `network` (see the module docstring)."""

    def __init__(self, network: nn.Module, prep: Preprocessing, device: torch.device,
                 top_blocks: int, digest: str | None = None, job_images: int = 0) -> None:
        """`job_images`: how many activations the whole job computes (every view of every
        photo), so the graph is exported when they pay for it, though each view alone
        (one `embed_dataset` call) may be under `EXPORT_WORTHWHILE`."""
        weights = digest or weights_digest(network)
        self.job_images = job_images
        super().__init__(network, prep, device, f"{weights}/cut-top{top_blocks}")
        self.weights = weights
        self.top_blocks = top_blocks
        self.shape = cut_shape(network, prep.crop, top_blocks)
        channels, height, width = self.shape
        self.width = channels * height * width

    def prepare(self, images: int = EXPORT_WORTHWHILE) -> str:
        """The bottom's checked onnxruntime graph on a CPU when one is cached or `images`
        photos pay for exporting it, PyTorch otherwise; returns which."""
        if self._runner is None:
            graph = None
            if self.device.type == "cpu":
                graph = cut_runner(self.network, self.prep, self.weights, self.top_blocks,
                                   self._torch_cut,
                                   export=max(images, self.job_images) >= EXPORT_WORTHWHILE)
            self._runner = graph or self._torch_cut
            self.runtime = ONNX_RUNTIME if graph is not None else PYTORCH
            self.maker = graph.maker if graph is not None else PYTORCH_MAKER
            _LOG.info("Activations at the cut (top %d blocks) run on %s.", self.top_blocks,
                      self.runtime)
        assert self.runtime is not None
        return self.runtime

    def store_digest(self, images: int = EXPORT_WORTHWHILE) -> str:
        """Activations are float on either runtime, which agree to `onnx_cut.CUT_TOLERANCE`:
        one space (the 8-bit features graph is not for them)."""
        return self.digest

    def _torch_cut(self, pixels: np.ndarray) -> np.ndarray:
        rows = [self._cut(chunk) for chunk in torch.from_numpy(pixels).split(ACTIVATION_BATCH)]
        return np.concatenate(rows) if rows else np.empty((0, self.width), np.float32)

    def _cut(self, pixels: torch.Tensor) -> np.ndarray:
        was_training = self.network.training
        self.network.eval()
        try:
            with torch.no_grad():
                inputs = normalize(pixels.to(self.device), self.prep)
                if self.device.type == "cpu":
                    inputs = inputs.contiguous(memory_format=torch.channels_last)
                out = bottom(self.network, inputs, self.top_blocks)
                return out.float().contiguous().reshape(len(pixels), -1).cpu().numpy()
        finally:
            self.network.train(was_training)


def stored_activations(paths: Sequence[Path], cut: CutActivations, store: FeatureStore | None,
                       cancel: threading.Event | None = None,
                       advance: Callable[[int], None] | None = None, view: View = CENTRE
                       ) -> torch.Tensor:
    """(N, C, H, W) float32 activations of `paths` at `cut`, from the store or computed and
    stored; `Cancelled` at a batch boundary when `cancel` is set."""
    rows = embed_dataset(paths, cut, store, cancel, advance, view)
    return rows.reshape(len(paths), *cut.shape)
