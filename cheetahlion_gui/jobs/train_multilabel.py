"""Training a multi-label model (quick or fine-tuned) on a labels.csv dataset, in the job's
thread.

The GUI thread gets `MultiLabelTrained`, plain figures and the model file's path, never the
network (`MultiLabelFitResult.model` stays in the worker). A fine-tune trains here too, not
in single-label's child process (`fit_multilabel` is not wired into it): torch releases the
GIL in its kernels, so the window stays responsive, and Stop sets the same cancel event.
"""

from __future__ import annotations

from dataclasses import dataclass

from cheetahlion_gui.jobs.runner import Job
from training.records.config import TrainConfig
from training.records.dataset import Split
from training.records.multilabel import MultiLabelDataset
from training.records.run_record import RunRecord


@dataclass(frozen=True)
class MultiLabelTrained:
    run_id: str
    model_path: str | None
    """None when the run was stopped before its first epoch ended (nothing was saved)."""
    labels: tuple[str, ...]
    val_map: float | None
    val_macro_f1: float | None
    val_exact_match: float | None
    seconds: float
    stopped: str
    warnings: tuple[str, ...] = ()
    record: RunRecord | None = None
    """The run's entry in the run history, to add to the history shown."""
    kept_note: str | None = None
    """Why a fine-tune kept the quick-mode head (it did no better, or was stopped first)."""

    def describe(self) -> str:
        """E.g. "Trained in 4.1 s, stopped early: validation mAP 0.98, macro-F1 0.93, exact
        match 0.90." (a fine-tune that kept the quick-mode head says so and why)."""
        if self.model_path is None:
            return "Stopped before the first epoch ended: no model was saved."
        figures = ", ".join(f"{name} {value:.2f}" for name, value in (
            ("validation mAP", self.val_map), ("macro-F1", self.val_macro_f1),
            ("exact match", self.val_exact_match)) if value is not None)
        note = {"early_stopping": ", stopped early", "cancelled": ", stopped"}.get(
            self.stopped, "")
        kept = f" {self.kept_note}" if self.kept_note else ""
        return f"Trained in {self.seconds:.1f} s{note}: {figures}.{kept}"


class MultiLabelTrainJob(Job):
    """`fit_multilabel(config, dataset, split)`; result: `MultiLabelTrained`."""

    def __init__(self, config: TrainConfig, dataset: MultiLabelDataset, split: Split) -> None:
        super().__init__()
        self.config = config
        self.dataset = dataset
        self.split = split

    def work(self) -> MultiLabelTrained:
        from training.fitting.multilabel import fit_multilabel

        result = fit_multilabel(self.config, self.dataset, self.split,
                                callback=self.progressed.emit, cancel=self.cancel)
        return MultiLabelTrained(result.run_id, result.model_path, result.labels,
                                 result.val_map, result.val_macro_f1, result.val_exact_match,
                                 result.seconds, result.stopped, tuple(result.warnings),
                                 result.record, result.kept_note)
