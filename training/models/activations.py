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
cut, computed with PyTorch (the bottom of the network, in eval mode, without gradients), so
`embedding.embed_dataset` reads, computes and stores them like any other frozen features.
"""

from __future__ import annotations

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
from training.models.frozen import PYTORCH, FrozenFeatures, weights_digest
from training.records.preprocessing import Preprocessing

ACTIVATION_BATCH = 16


class CutActivations(FrozenFeatures):
    """uint8 (N, 3, crop, crop) pixels → float32 (N, C·H·W) activations entering the last
    `top_blocks` blocks of `network` (see the module docstring)."""

    def __init__(self, network: nn.Module, prep: Preprocessing, device: torch.device,
                 top_blocks: int, digest: str | None = None) -> None:
        super().__init__(network, prep, device,
                         f"{digest or weights_digest(network)}/cut-top{top_blocks}")
        self.top_blocks = top_blocks
        self.shape = cut_shape(network, prep.crop, top_blocks)
        channels, height, width = self.shape
        self.width = channels * height * width

    def prepare(self, images: int = 0) -> str:
        """Always PyTorch: the bottom's graph is not exported (it runs once per photo)."""
        self.runtime = PYTORCH
        return self.runtime

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        self.prepare()
        rows = [self._cut(chunk) for chunk in pixels.split(ACTIVATION_BATCH)]
        return torch.from_numpy(np.concatenate(rows)) if rows else torch.empty((0, self.width))

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
