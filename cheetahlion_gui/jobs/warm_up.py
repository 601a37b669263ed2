"""The first job after the window is painted: load the engine and say where it will train."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cheetahlion_gui.jobs.runner import Job

if TYPE_CHECKING:
    from cheetahlion_gui.jobs.training_process import TrainingProcessKeeper


class WarmUpJob(Job):
    """Result: the device training will use, in words (e.g. "CPU (2 threads)").

    Every job loads the engine's heavy modules before its work (`runner.load_engine`).
    Loading torch, torchvision and timm runs C extension initialisers that hold the GIL
    for up to a few hundred milliseconds. Done in this job, right after the window is
    painted, that pause does not land in the middle of the user's first training run.
    With `processes`, it then starts the training process kept ready for the first
    fine-tune (it imports and warms up on its own, in the background).
    """

    def __init__(self, processes: TrainingProcessKeeper | None = None) -> None:
        super().__init__()
        self.processes = processes

    def work(self) -> str:
        from training.core.runtime import describe_device, resolve_device

        device = describe_device(resolve_device("auto"))
        if self.processes is not None:
            self.processes.prepare()
        return device
