"""A tiny timed probe of this machine, off the GUI thread: how many images per second the
chosen network runs forward (`training.models.speed`), for the Train step's estimate."""

from __future__ import annotations

from cheetahlion_gui.jobs.runner import Job


class SpeedProbeJob(Job):
    """Result: (backbone name, images per second through its forward pass)."""

    def __init__(self, backbone: str) -> None:
        super().__init__()
        self.backbone = backbone

    def work(self) -> tuple[str, float]:
        from training.models.speed import forward_images_per_second

        return self.backbone, forward_images_per_second(self.backbone)
