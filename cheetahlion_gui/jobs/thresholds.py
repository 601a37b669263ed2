"""Saving per-class thresholds into a model file's header (the Evaluate step's panel)."""

from __future__ import annotations

from cheetahlion_gui.jobs.runner import Job
from training.records.operating_points import SavedThresholds, Thresholds


class SaveThresholdsJob(Job):
    """Write `thresholds` into the model file at `model_path`, refused if the file no longer
    holds the bytes it had when evaluated (`digest`)."""

    runs_torch = False  # it rewrites a file's header; no network runs

    def __init__(self, model_path: str, thresholds: Thresholds, digest: str | None) -> None:
        super().__init__()
        self.model_path, self.thresholds, self.digest = model_path, thresholds, digest

    def work(self) -> SavedThresholds:
        from training.fitting.model_thresholds import save_thresholds

        return save_thresholds(self.model_path, self.thresholds, self.digest)
