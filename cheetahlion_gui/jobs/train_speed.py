"""A tiny timed probe of this machine: how many images per second the network runs forward.

The Train step says what a run will cost before Start (issue 25). The honest measure is the
machine itself, as loaded as it is now: a few images through the chosen network, off the
GUI thread, on random weights (the architecture's cost, no weights to read or download).
"""

from __future__ import annotations

import time

from cheetahlion_gui.jobs.runner import Job

PROBE_IMAGES = 4
"""Images in the timed batch: enough for a rate, little enough to take about a second."""


class SpeedProbeJob(Job):
    """Result: (backbone name, images per second through its forward pass)."""

    def __init__(self, backbone: str) -> None:
        super().__init__()
        self.backbone = backbone

    def work(self) -> tuple[str, float]:
        import torch

        from training.models.networks import create_network
        from training.records.backbones import BACKBONES

        backbone = BACKBONES[self.backbone]
        network = create_network(backbone).eval()
        side = backbone.preprocessing.crop
        images = torch.rand(PROBE_IMAGES, 3, side, side)
        with torch.inference_mode():
            network(images[:1])  # the first call sets up kernels: not timed
            started = time.perf_counter()
            network(images)
            seconds = time.perf_counter() - started
        return self.backbone, PROBE_IMAGES / max(seconds, 1e-6)
