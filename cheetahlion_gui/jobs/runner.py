"""The machinery of long jobs off the GUI thread: a QObject worker per job, in its own QThread.

The wiring is the standard one (worker moved to a QThread; started→run; done→quit),
connected before the thread starts. Worker and thread are created from Python and owned by
it: they are released on the GUI thread once the thread has finished, never with
deleteLater (a deleteLater running in the worker thread races Python's own deletion of the
same object on the GUI thread: a rare segfault seen in the test suite). Workers talk
back only through signals, which Qt queues to the GUI thread; cancelling sets a
`threading.Event` directly from the GUI thread, because a worker busy in its loop never
gets to process a queued "stop" call. The engine is imported inside `work()`, i.e. in the
worker thread, so torch never loads on the GUI thread.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
import traceback
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from training.core import torch_access
from training.core.errors import CheetahLionError

log = logging.getLogger(__name__)
ENGINE_MODULES = ("training.fitting.trainer", "training.predict.inference",
                  "training.predict.evaluation", "training.data.scanning")
"""What the jobs run on; between them they import torch, torchvision and timm."""
_engine_lock = threading.Lock()
_engine_loaded = False


def load_engine() -> None:
    """Import the engine's heavy modules (torch, torchvision, timm) once, in one thread.

    torchvision's package and its `transforms` import each other; two threads importing
    them at the same time can see a half-initialised module ("cannot import name
    'InterpolationMode' from partially initialized module 'torchvision.transforms'"). The
    frozen app hit it when training started while the start-up warm-up was still
    importing. Every job calls this first; after the first time it is a flag check.
    """
    global _engine_loaded
    if _engine_loaded:
        return
    with _engine_lock:
        if not _engine_loaded:
            for module in ENGINE_MODULES:
                importlib.import_module(module)
            _engine_loaded = True


class Job(QObject):
    """A unit of background work. Subclasses implement `work()` and may emit `progressed`.

    A job runs PyTorch in its thread unless it says otherwise (`runs_torch`); it then holds
    `torch_access.shared()`, so no export traces the network meanwhile in another job's
    thread (an export patches process-wide state: a quick training started during the
    start-up graph export failed inside torch). Jobs that only read files say False, and do
    not wait for an export to end.
    """

    runs_torch = True

    progressed = Signal(object)
    """An engine event (a frozen dataclass of plain values), emitted from the worker thread."""
    succeeded = Signal(object)
    """The job's result."""
    failed = Signal(str, str)
    """A message for the user, and technical details (a traceback) for the details box."""
    done = Signal()
    """Always emitted last, after succeeded or failed."""

    def __init__(self) -> None:
        super().__init__()
        self.cancel = threading.Event()

    def work(self) -> Any:
        raise NotImplementedError

    @Slot()
    def run(self) -> None:
        try:
            load_engine()
            with torch_access.shared() if self.runs_torch else contextlib.nullcontext():
                result = self.work()
        except CheetahLionError as error:
            self.failed.emit(str(error), "")
        except Exception as error:
            log.exception("background job failed")
            self.failed.emit(f"Something went wrong: {error}", traceback.format_exc())
        else:
            self.succeeded.emit(result)
        finally:
            self.done.emit()


class JobRunner(QObject):
    """Runs at most one job at a time in a fresh QThread; refuses a second while one runs.

    Its `parent` is required: the window stops the runners it finds among its children when
    it closes (MainWindow.closeEvent), so a runner outside the tree would outlive it.
    """

    finished = Signal()

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._job: Job | None = None
        self._shut_down = False

    @property
    def busy(self) -> bool:
        return self._thread is not None

    @property
    def job(self) -> Job | None:
        return self._job

    def start(self, job: Job) -> bool:
        """Start `job` (its signals must already be connected); False if one is running
        or the runner is shut down."""
        if self.busy or self._shut_down:
            return False
        thread = QThread()
        thread.setObjectName(type(job).__name__)
        job.moveToThread(thread)
        thread.started.connect(job.run)
        # Direct: the GUI thread may be blocked in stop_and_wait(), so a queued quit() would
        # only arrive after the wait timed out. QThread.quit() is thread-safe.
        job.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._job = thread, job
        thread.start()
        return True

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel.set()

    def shut_down(self) -> None:
        """Cancel the job and start no more: its owner is closing. A job started after this
        (one queued behind the cancelled one starts from `finished`) could outlive the wait."""
        self._shut_down = True
        self.cancel()

    def stop_and_wait(self, timeout_ms: int = 2000) -> bool:
        """Cancel the job and wait for its thread to end; True when nothing runs any more."""
        thread = self._thread
        if thread is None:
            return True
        self.cancel()
        stopped = thread.wait(timeout_ms)
        if stopped:
            self._release()
        return stopped

    @Slot()
    def _on_thread_finished(self) -> None:
        # A thread already released by stop_and_wait may still deliver its queued signal.
        if self._thread is not None and self.sender() is self._thread:
            self._release()

    def _release(self) -> None:
        """Drop the finished thread and its job; Python deletes both here, on the GUI thread."""
        if self._thread is not None:
            self._thread = self._job = None
            self.finished.emit()
