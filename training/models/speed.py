"""How fast this machine runs a network forward, now: the measure behind the app's estimate
of a run's time before Start (issue 25).

Random weights (the architecture's cost; nothing to read or download), a few images at the
network's own size, the first call untimed (it sets up the kernels), then the median of
`TIMINGS` timed calls: on a loaded 2-core machine one timed call swung 0.8–10.7 images/s
between consecutive probes (benchmarks/partial_finetune.py --bottom-speed), and the
estimate is only as steady as its probe.
"""

from __future__ import annotations

import statistics
import time

import torch

from training.models.networks import create_network
from training.records.backbones import BACKBONES

TIMINGS = 3


def forward_images_per_second(backbone: str, images: int = 4) -> float:
    """Images per second through `backbone`'s forward pass on the CPU (median of
    `TIMINGS`)."""
    known = BACKBONES[backbone]
    network = create_network(known).eval()
    side = known.preprocessing.crop
    batch = torch.rand(images, 3, side, side)
    seconds = []
    with torch.inference_mode():
        network(batch[:1])
        for _ in range(TIMINGS):
            started = time.perf_counter()
            network(batch)
            seconds.append(time.perf_counter() - started)
    return images / max(statistics.median(seconds), 1e-6)
