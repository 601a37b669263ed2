"""Run `fit` in a child process, with the same callback, cancel and result as in-process.

Why: on the CPU, torch trains markedly slower when called from any thread but a process's
main thread (measured here: 25–35 % slower per fine-tune epoch from a plain
`threading.Thread`, with or without Qt; see docs/benchmarks.md). A front end must keep its
main thread for the window, so long fine-tuning runs go to a child process, whose main
thread does the work. The child starts with "spawn" (safe in frozen apps and with threads),
sends the engine's events back over a queue, and watches a cancel flag the caller's token
is mirrored to. The result is the same `FitResult`, without the in-memory model: the model
is in the file it was saved to.

A `TrainingProcess` can be started ahead of its run: it imports the engine and, given a
config, warms up (`training.fitting.warm_up`) while nobody waits, then trains the one run it
is given and ends. A fresh process spends seconds importing torch before the run can start,
and its first epoch costs ~3 % more CPU than a warmed-up one's; a front end that keeps one
ready pays neither when the user presses Start. This module imports no torch itself: the
caller's side only spawns, sends and listens.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import queue
import sys
import threading
import traceback
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.core import errors
from training.records.config import TrainConfig
from training.records.dataset import Dataset
from training.records.events import Callback, ignore_event

if TYPE_CHECKING:
    from training.fitting.result import FitResult

POLL_SECONDS = 0.05
JOIN_SECONDS = 10.0
EXIT_SECONDS = 0.5
"""How long `fit` waits for a child that has answered to exit before ending it."""
PARENT_CHECK_SECONDS = 1.0
"""How often a waiting process checks that its parent is still alive (it ends if not)."""
SETTINGS_READ_IN_THE_CHILD = ("CHEETAHLION_", "HOME", "XDG_", "OMP_", "MKL_", "KMP_",
                              "WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_")
"""Environment variables (name prefixes) that decide where a run's records and caches go,
how many threads it uses and whether it is under torchrun. A child keeps the values it was
started with; a change to one of these makes a process started earlier unusable. Others
change under a running app (libraries set their own, e.g. TORCHINDUCTOR_CACHE_DIR) and do
not matter."""


class TrainingProcess:
    """A spawned process that trains one run, started before the run is known.

    `warm_up`: a config to warm the process up for once the engine is imported (None: only
    import). `fit` hands it the run and follows it; the process ends with the run. `close`
    ends a process that was never used. Use `usable()` before `fit` on a process started a
    while ago: it says whether it is alive, unused, and started with this process's current
    settings (`SETTINGS_READ_IN_THE_CHILD`) and folder: a child keeps those it was spawned
    with, so a changed `CHEETAHLION_HOME` would otherwise send the run's records to the old
    place.
    """

    def __init__(self, warm_up: TrainConfig | None = None) -> None:
        context = multiprocessing.get_context("spawn")
        self._jobs: Any = context.Queue()
        self._messages: Any = context.Queue()
        self._stop = context.Event()
        self._ready = context.Event()
        self._started_in = _settings()
        self._used = False
        self._answered = False
        """The child sent its result or error: all it does from then on is exit."""
        self._process = context.Process(
            target=_serve, args=(self._jobs, self._messages, self._stop, self._ready, warm_up),
            name="cheetahlion-train", daemon=True)
        self._process.start()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def is_alive(self) -> bool:
        return self._process.is_alive()

    def is_ready(self) -> bool:
        """True once the engine is imported and the warm-up (if any) is done."""
        return self._ready.is_set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until `is_ready()`, or the timeout; whether it is ready."""
        return self._ready.wait(timeout)

    def usable(self) -> bool:
        """Alive, never given a run, and started in the environment and folder of now."""
        return not self._used and self.is_alive() and self._started_in == _settings()

    def fit(self, config: TrainConfig, dataset: Dataset, callback: Callback | None = None,
            cancel: threading.Event | None = None, output: str | Path | None = None,
            resume: str | Path | None = None) -> FitResult:
        """Like `fit`, run in this process; events arrive in the calling thread. Once only:
        the process ends with the run."""
        if self._used:
            raise RuntimeError("a TrainingProcess trains one run; start another one")
        self._used = True
        try:
            self._jobs.put((config, dataset, output, resume))
            self._jobs.close()  # nothing more to send: its feeder thread ends once it is sent
            return self._follow(callback or ignore_event, cancel)
        finally:
            self._stop.set()
            # Its result or error is the child's last act; it then only exits, which took
            # 7-11 s (torch's teardown) on a busy 2-core machine: a Stop, the run's end and
            # closing the window all waited for that. Not waiting long costs nothing.
            self._process.join(EXIT_SECONDS if self._answered else JOIN_SECONDS)
            self._end()

    def close(self) -> None:
        """End the process if it is still there: at once when it never got a run (it holds
        nothing worth waiting for), else after its cancelled run has had time to save."""
        if not self._used:
            self._used = True
            self._process.terminate()
        self._stop.set()
        self._process.join(JOIN_SECONDS)
        self._end()

    def _follow(self, emit: Callback, cancel: threading.Event | None) -> FitResult:
        """Pass on the child's events until its result or error; mirror `cancel` to it."""
        while True:
            if cancel is not None and cancel.is_set():
                self._stop.set()
            try:
                kind, payload = self._messages.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if not self._process.is_alive():
                    raise errors.CheetahLionError(
                        "The training process ended unexpectedly (exit code "
                        f"{self._process.exitcode}). It may have run out of memory; try a "
                        "smaller batch size or image size.") from None
                continue
            if kind == "event":
                emit(payload)
                continue
            self._answered = True
            if kind == "result":
                return payload
            raise _rebuild_error(*payload)

    def _end(self) -> None:
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


def _settings() -> tuple[dict[str, str], str]:
    """The environment variables a child reads (`SETTINGS_READ_IN_THE_CHILD`), and the
    working folder."""
    return ({name: value for name, value in os.environ.items()
             if name.startswith(SETTINGS_READ_IN_THE_CHILD)}, os.getcwd())


def fit_in_child_process(
    config: TrainConfig,
    dataset: Dataset,
    callback: Callback | None = None,
    cancel: threading.Event | None = None,
    output: str | Path | None = None,
    resume: str | Path | None = None,
) -> FitResult:
    """Like `fit`, but the training runs in a new child process; events arrive in this
    thread."""
    return TrainingProcess().fit(config, dataset, callback, cancel, output, resume)


def _serve(jobs: Any, messages: Any, stop: Any, ready: Any, warm_up: TrainConfig | None
           ) -> None:
    """The child's main thread: import (and warm up), say so, wait for the run, train it."""
    _prepare(warm_up, jobs)
    ready.set()
    job = _next_job(jobs)
    if job is not None:
        _stop_when_orphaned(stop)
        _train_in_child(*job, messages, stop)


def _stop_when_orphaned(stop: Any) -> None:
    """Cancel the run if the parent process ends (the app crashed or was killed): nobody
    would hear of it, and it would train on for nothing. Cancelled, it saves its best model
    and a checkpoint to resume from, as a Stop does. The watching thread only waits."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        stop.set()

    threading.Thread(target=watch, name="cheetahlion-watch-parent", daemon=True).start()


def _prepare(warm_up: TrainConfig | None, jobs: Any) -> None:
    """Import the engine now, not when the run is asked for, and warm up for `warm_up`
    unless the run has arrived meanwhile (its first epoch then pays what the warm-up would
    have, and the user does not wait for both).

    A failure here is only reported on stderr: the run itself will meet (and report) any
    real problem, and a process that merely could not warm up still trains.
    """
    try:
        import training.fitting.trainer  # noqa: F401  (the slow imports: torch, timm)

        if warm_up is not None and jobs.empty():
            from training.fitting.warm_up import warm_up as run_warm_up

            run_warm_up(warm_up)
    except Exception:
        traceback.print_exc(file=sys.stderr)


def _next_job(jobs: Any) -> tuple[Any, ...] | None:
    """The run to train, or None when told to end or the parent has gone (an orphaned
    process would otherwise wait, holding its memory, for ever)."""
    parent = multiprocessing.parent_process()
    while True:
        try:
            return jobs.get(timeout=PARENT_CHECK_SECONDS)
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                return None


def _train_in_child(config: TrainConfig, dataset: Dataset, output: str | Path | None,
                    resume: str | Path | None, messages: Any, stop: Any) -> None:
    """Train, report every event, send the result or the error."""
    try:
        from training.fitting.trainer import fit

        # A multiprocessing Event has the is_set() the engine checks at every batch.
        result = fit(config, dataset, callback=_Forward(messages), cancel=stop, output=output,
                     resume=resume)
        messages.put(("result", replace(result, model=None)))
    except errors.CheetahLionError as error:
        messages.put(("error", (type(error).__name__, str(error), "")))
    except BaseException as error:  # the parent must hear of any failure, not hang
        messages.put(("error", (type(error).__name__, str(error), traceback.format_exc())))


class _Forward:
    """The child's callback: put each (picklable, frozen) event on the queue."""

    def __init__(self, messages: Any) -> None:
        self.messages = messages

    def __call__(self, event: object) -> None:
        self.messages.put(("event", event))


def _rebuild_error(name: str, message: str, details: str) -> Exception:
    kind = getattr(errors, name, None)
    if isinstance(kind, type) and issubclass(kind, errors.CheetahLionError):
        return kind(message)
    return RuntimeError(f"{name}: {message}\n{details}".strip())
