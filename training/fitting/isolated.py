"""Run `fit` in a child process, with the same callback, cancel and result as in-process.

Why: on the CPU, torch trains markedly slower when called from any thread but a process's
main thread (measured here: 25–35 % slower per fine-tune epoch from a plain
`threading.Thread`, with or without Qt; see docs/benchmarks.md). A front end must keep its
main thread for the window, so long fine-tuning runs go to a child process, whose main
thread does the work. The child starts with "spawn" (safe in frozen apps and with threads),
sends the engine's events back over a queue, and watches a cancel flag the caller's token
is mirrored to. The result is the same `FitResult`, without the in-memory model: the model
is in the file it was saved to.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

from training.core import errors
from training.core.events import Callback, ignore_event
from training.data.dataset import Dataset
from training.fitting.config import TrainConfig
from training.fitting.result import FitResult
from training.fitting.trainer import fit

POLL_SECONDS = 0.05
JOIN_SECONDS = 10.0


def fit_in_child_process(
    config: TrainConfig,
    dataset: Dataset,
    callback: Callback | None = None,
    cancel: threading.Event | None = None,
    output: str | Path | None = None,
    resume: str | Path | None = None,
) -> FitResult:
    """Like `fit`, but the training runs in a child process; events arrive in this thread."""
    emit = callback or ignore_event
    context = multiprocessing.get_context("spawn")
    messages: Any = context.Queue()
    stop = context.Event()
    child = context.Process(target=_train_in_child,
                            args=(config, dataset, output, resume, messages, stop),
                            name="cheetahlion-train", daemon=True)
    child.start()
    try:
        while True:
            if cancel is not None and cancel.is_set():
                stop.set()
            try:
                kind, payload = messages.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if not child.is_alive():
                    raise errors.CheetahLionError(
                        f"The training process ended unexpectedly (exit code {child.exitcode}). "
                        "It may have run out of memory; try a smaller batch size or image size."
                    ) from None
                continue
            if kind == "event":
                emit(payload)
            elif kind == "result":
                return payload
            else:
                raise _rebuild_error(*payload)
    finally:
        stop.set()
        child.join(JOIN_SECONDS)
        if child.is_alive():
            child.kill()
            child.join()


def _train_in_child(config: TrainConfig, dataset: Dataset, output: str | Path | None,
                    resume: str | Path | None, messages: Any, stop: Any) -> None:
    """The child's main thread: train, report every event, send the result or the error."""
    try:
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
