"""A multi-label run's entry in the run history, beside the single-label runs.

`records.runs.record_run` describes a single-label run (its `Dataset`, a `FitSummary`); a
multi-label run fills the same `RunRecord` with `task` "multi-label", its label names as
`classes`, the photos per label and its validation mAP, macro-F1 and exact match, so `runs
DATA`, the app's run history and a text editor list it with the others; its config says
its mode. A fine-tune keeps its per-step losses (a quick run none: its head trains in a
fraction of a second); neither keeps a clean-up count. A fine-tune that kept the
quick-mode head (best epoch 0) has that head's validation mAP as its best "accuracy".
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from training.core.paths import runs_dir
from training.core.versions import library_versions
from training.records import runs
from training.records.config import TrainConfig
from training.records.dataset import Split
from training.records.events import EpochEnded
from training.records.model_header import MULTI_LABEL
from training.records.multilabel import MultiLabelDataset
from training.records.run_record import RunRecord


class FinishedRun(Protocol):
    """What this needs of a `training.fitting.multilabel.MultiLabelFitResult` (that module
    calls this one: naming the class here would be an import cycle)."""

    @property
    def run_id(self) -> str: ...
    @property
    def history(self) -> tuple[EpochEnded, ...]: ...
    @property
    def step_losses(self) -> tuple[float, ...]: ...
    @property
    def best_epoch(self) -> int: ...
    @property
    def best_val_loss(self) -> float: ...
    @property
    def stopped(self) -> str: ...
    @property
    def seconds(self) -> float: ...
    @property
    def model_path(self) -> str | None: ...
    @property
    def val_map(self) -> float | None: ...
    @property
    def val_macro_f1(self) -> float | None: ...
    @property
    def val_exact_match(self) -> float | None: ...


def record_multilabel_run(config: TrainConfig, dataset: MultiLabelDataset, split: Split,
                          result: FinishedRun, device: str
                          ) -> tuple[RunRecord | None, tuple[str, ...]]:
    """Write `result` to the run history: the entry as written (None when it could not be)
    and the warnings to add to the result (one when the history could not be written; the
    model itself is saved either way)."""
    try:
        return runs.write_record(multilabel_record(config, dataset, split, result, device)), ()
    except OSError as error:
        return None, (f"The run could not be added to the history ({error.strerror or error}, "
                      f"in {runs_dir()}): free some space there. The model itself was saved.",)


def multilabel_record(config: TrainConfig, dataset: MultiLabelDataset, split: Split,
                      result: FinishedRun, device: str) -> RunRecord:
    """The run's `RunRecord` (its `model_file` is noted when written)."""
    best = result.history[result.best_epoch - 1] if 0 < result.best_epoch <= len(
        result.history) else None
    return RunRecord(
        run_id=result.run_id,
        created=datetime.now(UTC).isoformat(timespec="microseconds"),
        dataset_root=str(dataset.root), dataset_fingerprint=dataset.fingerprint,
        classes=dataset.labels, config=config.to_dict(), device=device,
        split={"source": split.source, "seed": split.seed, **split.sizes()},
        epochs=tuple(asdict(event) for event in result.history),
        step_losses=tuple(result.step_losses), best_epoch=result.best_epoch,
        best_val_loss=result.best_val_loss if result.history else None,
        best_val_accuracy=best.val_accuracy if best is not None else (
            _number(result.val_map) or 0.0),
        baseline_accuracy=None, stopped=result.stopped, seconds=result.seconds,
        model_path=str(Path(result.model_path).absolute()) if result.model_path else None,
        versions=library_versions(), task=MULTI_LABEL, label_counts=dataset.label_counts,
        image_count=len(dataset.images), val_map=_number(result.val_map),
        val_macro_f1=result.val_macro_f1, val_exact_match=result.val_exact_match)


def _number(value: float | None) -> float | None:
    """JSON has no NaN: mAP without any validation positive is stored as null."""
    return None if value is None or value != value else value
