"""What "Compare networks" reports: plain, torch-free records a front end can import early.

`training.fitting.compare` does the work; these are its progress events and its rows, kept
apart so the GUI can name them (and pick the best row) before torch has loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ComparisonStarted:
    """Network `index` (from 1) of `total` starts; its run's own events follow."""

    network: str
    title: str
    index: int
    total: int


@dataclass(frozen=True)
class NetworkComparison:
    """One network's row of the comparison (plain values: it is also a progress event).

    `error` is None when the network trained; otherwise the figures are None and `error`
    says what went wrong and what to do. `stopped` is the run's ("completed",
    "early_stopping", "cancelled") or "failed".
    """

    network: str
    title: str
    val_accuracy: float | None = None
    val_loss: float | None = None
    baseline_accuracy: float | None = None
    seconds: float | None = None
    """The whole run: features, training, saving."""
    images_per_second: float | None = None
    """The frozen features' speed on this machine (decoding excluded)."""
    runtime: str | None = None
    """What computed the features for the speed figure: "onnxruntime" or "pytorch"."""
    model_mb: float | None = None
    model_path: str | None = None
    run_id: str | None = None
    stopped: str = "failed"
    error: str | None = None
    val_balanced_accuracy: float | None = None
    """The mean of the classes' validation recalls, which a rare class cannot hide in (the
    last field, so that rows built by position before it existed read as they did)."""


def best_comparison(rows: Sequence[NetworkComparison]) -> NetworkComparison | None:
    """The row to recommend: the best validation accuracy, then the lowest loss, then the
    fastest features; None when no network finished."""
    finished = [row for row in rows if row.error is None and row.stopped != "cancelled"]
    if not finished:
        return None
    return max(finished, key=lambda row: (row.val_accuracy or 0.0, -(row.val_loss or 0.0),
                                          row.images_per_second or 0.0))
