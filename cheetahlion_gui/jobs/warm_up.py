"""The first job after the window is painted: load the engine and say where it will train."""

from __future__ import annotations

from cheetahlion_gui.jobs.runner import Job


class WarmUpJob(Job):
    """Result: the device training will use, in words (e.g. "CPU (2 threads)").

    Every job loads the engine's heavy modules before its work (`runner.load_engine`).
    Loading torch, torchvision and timm runs C extension initialisers that hold the GIL
    for up to a few hundred milliseconds. Done in this job, right after the window is
    painted, that pause does not land in the middle of the user's first training run.
    """

    def work(self) -> str:
        from training.core.runtime import describe_device, resolve_device

        return describe_device(resolve_device("auto"))
