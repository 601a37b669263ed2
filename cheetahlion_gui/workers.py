"""Long jobs off the GUI thread: one QObject worker per kind of job, each in its own QThread.

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

import importlib
import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

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
    """A unit of background work. Subclasses implement `work()` and may emit `progressed`."""

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


# --- the jobs ------------------------------------------------------------------------------

class CallJob(Job):
    """Run one plain engine function in the background (file copies, CSV export…)."""

    def __init__(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.function, self.args, self.kwargs = function, args, kwargs

    def work(self) -> Any:
        return self.function(*self.args, **self.kwargs)


@dataclass(frozen=True)
class ScanOutcome:
    dataset: Any
    split: Any
    runs: list[Any]


class ScanJob(Job):
    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def work(self) -> ScanOutcome:
        from training import list_runs, scan_dataset, split_dataset

        dataset = scan_dataset(self.folder, progress=self.progressed.emit, cancel=self.cancel)
        split = split_dataset(dataset) if dataset.report.can_train else None
        return ScanOutcome(dataset, split, list_runs(dataset.root))


@dataclass(frozen=True)
class TrainOutcome:
    result: Any
    runs: list[Any]


class TrainJob(Job):
    """Train, or with `resume` (a run id) carry a stopped fine-tune on from its checkpoint."""

    def __init__(self, config: Any, dataset: Any, resume: str | None = None) -> None:
        super().__init__()
        self.config = config
        self.dataset = dataset
        self.resume = resume

    def work(self) -> TrainOutcome:
        """Quick runs train in this thread. Fine-tuning goes to a child process: there it
        never holds this process's GIL (saving an 18 MB model froze the window ~70 ms), and
        torch trains faster in a process's main thread (training.fitting.isolated)."""
        from training import fit, list_runs
        from training.fitting.isolated import fit_in_child_process

        run = fit_in_child_process if self.config.mode == "finetune" else fit
        result = run(self.config, self.dataset, callback=self.progressed.emit, cancel=self.cancel,
                     resume=self.resume)
        return TrainOutcome(result, list_runs(self.dataset.root))


class RunsJob(Job):
    """Read a dataset's run history (`training.list_runs`); result: the records."""

    def __init__(self, dataset_root: Path) -> None:
        super().__init__()
        self.dataset_root = dataset_root

    def work(self) -> list[Any]:
        from training import list_runs

        return list_runs(self.dataset_root)


@dataclass(frozen=True)
class EvaluateOutcome:
    report: Any
    model_path: str


class EvaluateJob(Job):
    def __init__(self, model_path: str, dataset: Any, part: str = "val",
                 unfamiliar_percentile: float = 95.0) -> None:
        super().__init__()
        self.model_path = model_path
        self.dataset = dataset
        self.part = part
        self.unfamiliar_percentile = unfamiliar_percentile

    def work(self) -> EvaluateOutcome:
        from training import evaluate, load_model

        model = load_model(self.model_path)
        report = evaluate(model, self.dataset, self.part, progress=self.progressed.emit,
                          cancel=self.cancel, unfamiliar_percentile=self.unfamiliar_percentile)
        return EvaluateOutcome(report, self.model_path)


class ExportJob(Job):
    """Export a model file and check it against the app (training.predict.export); result:
    ExportResult."""

    def __init__(self, model_path: str, target: Path, export_format: str,
                 sample_images: list[Path]) -> None:
        super().__init__()
        self.model_path = model_path
        self.target = target
        self.export_format = export_format
        self.sample_images = sample_images

    def work(self) -> Any:
        from training import export_model

        return export_model(self.model_path, self.target, self.export_format, self.sample_images)


@dataclass(frozen=True)
class GalleryFiles:
    """The files of a gallery, listed in the worker (never on the GUI thread)."""

    generation: int
    paths: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    """(path, why) of every file under the sources that is not read as an image."""


@dataclass(frozen=True)
class PredictionBatch:
    generation: int
    predictions: tuple[Any, ...]
    classes: tuple[str, ...]
    calibration: Any = None
    """The model's `NoveltyCalibration` (101 plain floats, torch-free), or None: with it the
    GUI thread re-flags "none of these" for any percentile without running the model."""


class ClassifyJob(Job):
    """List the images under the given files/folders, then classify them in batches.

    `model` is a model file path, or None for the built-in ImageNet classifier. Every
    message carries the gallery `generation` it belongs to, so results of a job the user
    has since replaced are recognised and dropped.
    """

    BATCH = 32

    def __init__(self, sources: list[Path], model: str | None, generation: int) -> None:
        super().__init__()
        self.sources = sources
        self.model = model
        self.generation = generation

    def work(self) -> int:
        from training import Predictor
        from training.data.listing import list_images

        listing = list_images(self.sources)
        paths = tuple(str(p) for p in listing.images)
        skipped = tuple((str(item.path), item.reason) for item in listing.skipped)
        self.progressed.emit(GalleryFiles(self.generation, paths, skipped))
        if not paths or self.cancel.is_set():
            return 0
        predictor = Predictor.imagenet() if self.model is None else Predictor.from_file(self.model)
        batch: list[Any] = []
        done = 0
        for prediction in predictor.predict(paths, self.BATCH, self.cancel):
            batch.append(prediction)
            if len(batch) == self.BATCH:
                done += len(batch)
                self.progressed.emit(PredictionBatch(self.generation, tuple(batch),
                                                     predictor.classes, predictor.calibration))
                batch = []
        if batch:
            done += len(batch)
            self.progressed.emit(PredictionBatch(self.generation, tuple(batch),
                                                 predictor.classes, predictor.calibration))
        return done
