"""Exports and eager PyTorch never overlap (training.core.torch_access).

An exporter patches process-wide state while it traces; a module called in another thread
meanwhile was traced too and failed inside torch (the app's start-up graph export beside a
quick training). The real case: an eager thread gives its reference answer throughout an
ONNX export; and the lock's rules on threads with known timings.
"""

from __future__ import annotations

import threading
import time

import pytest
import torch
from torch import nn

from training.core import torch_access


def _tiny_network() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU6(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)).eval()


def test_an_eager_thread_gives_its_answer_while_another_exports(tmp_path) -> None:
    network = _tiny_network()
    pixels = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        expected = network(pixels)
    exported = threading.Event()
    answers: list[torch.Tensor | BaseException] = []

    def eager() -> None:
        while not exported.is_set():
            with torch_access.shared():
                try:
                    with torch.no_grad():
                        answers.append(network(pixels))
                except BaseException as error:  # what the tracer does to this thread
                    answers.append(error)
                    return
            time.sleep(0)  # let the exporter in between forward passes

    worker = threading.Thread(target=eager)
    worker.start()
    try:
        while not answers:  # the eager thread is running before the export starts
            time.sleep(0.001)
        with torch_access.exclusive():
            torch.onnx.export(network, (pixels,), tmp_path / "tiny.onnx", dynamo=True,
                              verbose=False)
    finally:
        exported.set()
        worker.join(60)
    assert (tmp_path / "tiny.onnx").stat().st_size > 0
    errors = [a for a in answers if isinstance(a, BaseException)]
    assert not errors, errors[0]
    assert all(torch.equal(a, expected) for a in answers)


def _in_thread(target) -> threading.Thread:
    thread = threading.Thread(target=target)
    thread.start()
    return thread


def test_an_export_waits_for_shared_holders_and_they_wait_for_it() -> None:
    order: list[str] = []
    holding, release = threading.Event(), threading.Event()

    def reader() -> None:
        with torch_access.shared():
            holding.set()
            release.wait(10)
            order.append("reader done")

    def exporter() -> None:
        with torch_access.exclusive():
            order.append("export")
            time.sleep(0.05)
            order.append("export done")

    first = _in_thread(reader)
    holding.wait(10)
    export = _in_thread(exporter)
    time.sleep(0.1)
    assert order == []  # the export waits for the reader
    release.set()
    first.join(10)
    export.join(10)
    assert order == ["reader done", "export", "export done"]


def test_a_thread_holding_shared_can_export_and_keeps_its_hold() -> None:
    """A classification builds its feature graph mid-job: it must not wait for itself."""
    done = threading.Event()

    def job() -> None:
        with torch_access.shared():
            with torch_access.exclusive(), torch_access.exclusive():  # nested: still alone
                assert not torch_access.held_shared()
            assert torch_access.held_shared()
        done.set()

    thread = _in_thread(job)
    thread.join(10)
    assert done.is_set()
    assert not torch_access.held_shared()


@pytest.mark.parametrize("holders", [2])
def test_shared_holders_run_together(holders: int) -> None:
    inside = threading.Barrier(holders, timeout=10)

    def reader() -> None:
        with torch_access.shared():
            inside.wait()  # breaks (and raises) if the holders were serialised

    threads = [_in_thread(reader) for _ in range(holders)]
    for thread in threads:
        thread.join(10)
    assert not inside.broken
