"""Exports and eager PyTorch work never overlap in one process.

PyTorch's exporters (`torch.onnx.export(dynamo=True)`, `torch.export`, `torch.jit.trace`)
trace a network by patching process-wide state: `nn.Module.__call__` is swapped for the
tracer's while they run. Any other thread that calls a module meanwhile is traced too:
a quick training started while the app exported its start-up feature graph failed inside
torch ("KeyError: 'custom'", "fake_mode.in_kernel_invocation must be False"), and nothing
says such a call cannot instead return a wrong number.

So every export holds `exclusive()`, and the threads that run PyTorch beside one (the app's
background jobs) hold `shared()`: shared holders run together, an export waits for them to
finish and they wait for it. A thread that holds `shared()` and then exports (a classification
that first builds its feature graph) sets its own shared hold aside while it exports: it is
between forward passes then, and waiting for itself would never end.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_condition = threading.Condition()
_shared: dict[int, int] = {}
"""Thread id → how many `shared()` holds it has open."""
_exclusive: int | None = None
"""The thread that is exporting, if one is."""


@contextlib.contextmanager
def shared() -> Iterator[None]:
    """Run PyTorch in this thread while no other thread exports."""
    me = threading.get_ident()
    with _condition:
        _condition.wait_for(lambda: _exclusive in (None, me))
        _shared[me] = _shared.get(me, 0) + 1
    try:
        yield
    finally:
        with _condition:
            _shared[me] -= 1
            if not _shared[me]:
                del _shared[me]
            _condition.notify_all()


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    """Export with no other thread running PyTorch; this thread's own shared holds (it is
    between forward passes) are set aside meanwhile and given back after."""
    global _exclusive
    me = threading.get_ident()
    if _exclusive == me:  # an export inside an export: already alone
        yield
        return
    with _condition:
        mine = _shared.pop(me, 0)
        _condition.notify_all()
        _condition.wait_for(lambda: _exclusive is None and not _shared)
        _exclusive = me
    try:
        yield
    finally:
        with _condition:
            _exclusive = None
            if mine:
                _shared[me] = mine
            _condition.notify_all()


def held_shared() -> bool:
    """Whether this thread holds `shared()` (for tests and assertions)."""
    with _condition:
        return threading.get_ident() in _shared
