"""What a network "sees" in an image: its pooled features, and the logits computed from them.

Quick-mode training, the likely-mislabelled finder and the "none of these" score all need
the same thing: the vector a backbone pools just before its classifier (the space in which
similar photos sit close together) and, from the same forward pass, the classifier's logits.
`embed` computes both in batches, without gradients, in channels-last layout on CPUs (where
it is markedly faster for these networks), with cancellation at every batch boundary.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from training.data.pixel_cache import Pixels
from training.data.tensors import normalize
from training.records.events import Cancelled, PhaseProgress
from training.records.preprocessing import Preprocessing

EMBED_BATCH = 32


@dataclass(frozen=True)
class Embeddings:
    features: torch.Tensor
    """(N, D) float32 pooled features, before the classifier."""
    logits: torch.Tensor
    """(N, C) float32 logits of the network's own classifier."""


def embed(
    network: nn.Module,
    pixels: Pixels,
    prep: Preprocessing,
    device: torch.device,
    cancel: threading.Event | None = None,
    advance: Callable[[int], None] | None = None,
    batch_size: int = EMBED_BATCH,
) -> Embeddings:
    """Features and logits of a timm `network` for uint8 NCHW `pixels` (in RAM or on disk).

    `advance(n)` is called after each batch with its size, for progress reporting. The
    network must be in eval mode; its weights are not changed.
    """
    features, logits = [], []
    with torch.no_grad():
        for start in range(0, len(pixels), batch_size):
            if cancel is not None and cancel.is_set():
                raise Cancelled
            batch = pixels[start:start + batch_size].to(device)
            inputs = normalize(batch, prep)
            if device.type == "cpu":
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            pooled = network.forward_head(network.forward_features(inputs), pre_logits=True)
            features.append(pooled.float().cpu())
            logits.append(network.get_classifier()(pooled).float().cpu())
            if advance is not None:
                advance(len(batch))
    if not features:
        classifier = network.get_classifier()  # its input is what `pre_logits` gives
        return Embeddings(torch.empty((0, classifier.in_features)),
                          torch.empty((0, classifier.out_features)))
    return Embeddings(torch.cat(features), torch.cat(logits))


class FeatureCounter:
    """Turns `embed`'s per-batch `advance(n)` calls into "features" progress events.

    One counter can span several `embed` calls (training views, then validation), so the
    bar runs once from 0 to `total` and the rate is over the whole phase.
    """

    def __init__(self, total: int, emit: Callable[[PhaseProgress], None]) -> None:
        self.total = total
        self.done = 0
        self.emit = emit
        self.started = time.perf_counter()

    def advance(self, count: int) -> None:
        self.done += count
        rate = self.done / max(time.perf_counter() - self.started, 1e-9)
        self.emit(PhaseProgress("features", self.done, self.total, rate))
