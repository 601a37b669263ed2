"""A training process kept ready for the next fine-tune, started after the window is up.

Why: fine-tuning runs in a child process (training.fitting.isolated). A fresh one first
spends seconds importing torch, then spends ~3 % more CPU on its first epoch than a
warmed-up one (allocator and oneDNN warm-up; training.fitting.warm_up, docs/benchmarks.md).
The keeper starts one in the background once the user chooses fine-tuning on the Train
step (not at start-up: a user who only classifies, and every window a test opens, would pay
for a torch import and a training step for nothing), warmed up for the default fine-tune,
and hands it to the next run; after each run it starts the next one. Closing the window
ends the one waiting.

Everything here may run off the GUI thread (the start-up job and the training job call it);
the lock makes `prepare`, `take` and `close` safe to call from any thread. Spawning takes
tens of milliseconds, so the GUI thread only ever calls `close`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from training.fitting.isolated import TrainingProcess


class TrainingProcessKeeper:
    """Holds at most one started, unused `TrainingProcess` for the next fine-tune."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: TrainingProcess | None = None
        self._closed = False
        self.started = 0
        """How many processes it has started (for tests and benchmarks)."""

    @property
    def waiting(self) -> TrainingProcess | None:
        """The process kept for the next run, if any."""
        return self._waiting

    def prepare(self) -> None:
        """Have a warm process waiting: start one unless a usable one waits already or the
        keeper is closed. Call it off the GUI thread."""
        from training.fitting.isolated import TrainingProcess
        from training.records.config import TrainConfig

        with self._lock:
            if self._closed or (self._waiting is not None and self._waiting.usable()):
                return
            stale, self._waiting = self._waiting, None
            if stale is not None:
                stale.close()
            self._waiting = TrainingProcess(warm_up=TrainConfig.finetune())
            self.started += 1

    def prepare_in_background(self) -> None:
        """`prepare` in a short-lived thread: the GUI thread must not import the engine's
        torch-bearing modules nor wait for a spawn."""
        threading.Thread(target=self.prepare, name="training-process-start",
                         daemon=True).start()

    def take(self) -> TrainingProcess:
        """The waiting process for a run (the caller owns it now), or a fresh one when none
        waits or the one waiting can no longer be used (it died, or the environment
        changed since it started)."""
        from training.fitting.isolated import TrainingProcess

        with self._lock:
            process, self._waiting = self._waiting, None
            if process is not None and process.usable():
                return process
            if process is not None:
                process.close()
            self.started += 1
            return TrainingProcess()

    def close(self) -> None:
        """End the waiting process and start no more (the window is closing)."""
        with self._lock:
            self._closed = True
            process, self._waiting = self._waiting, None
        if process is not None:
            process.close()
