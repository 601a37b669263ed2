"""How fast this machine runs a network forward, now: the measure behind the app's estimate
of a run's time before Start (issue 25).

Random weights (the architecture's cost; nothing to read or download), a few images at the
network's own size, the first call untimed (it sets up the kernels).
"""

from __future__ import annotations

import time

import torch

from training.models.networks import create_network
from training.records.backbones import BACKBONES


def forward_images_per_second(backbone: str, images: int = 4) -> float:
    """Images per second through `backbone`'s forward pass on the CPU, timed once."""
    known = BACKBONES[backbone]
    network = create_network(known).eval()
    side = known.preprocessing.crop
    batch = torch.rand(images, 3, side, side)
    with torch.inference_mode():
        network(batch[:1])
        started = time.perf_counter()
        network(batch)
        seconds = time.perf_counter() - started
    return images / max(seconds, 1e-6)
