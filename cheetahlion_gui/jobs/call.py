"""One plain engine function in the background: file copies, moves, a CSV export."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cheetahlion_gui.jobs.runner import Job


class CallJob(Job):
    """Run `function(*args, **kwargs)` in the worker thread; its return value is the result."""

    runs_torch = False  # it writes files (CSV, sorting, adding)

    def __init__(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.function, self.args, self.kwargs = function, args, kwargs

    def work(self) -> Any:
        return self.function(*self.args, **self.kwargs)
