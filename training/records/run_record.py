"""One run's entry in the run history: `RunRecord`, as stored in its `run.json`.

Its own module so that a fit's summary can carry the record it wrote while the history on
disk (`training.records.runs`) reads and writes summaries' records.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from training.records.kept import describe, mark
from training.records.model_header import MULTI_LABEL, SINGLE_LABEL

RECORD_VERSION = 7
"""2 added `class_counts` and `cleanup_moves`; 3 `checkpoint` and `resumed_after`; 4
`workers`; 5 `model_file`; 6 `task` and, for a multi-label run, `label_counts`,
`image_count`, `val_map`, `val_macro_f1` and `val_exact_match`; 7 `val_balanced_accuracy`,
`val_recall`, `val_support` and `logit_adjustment`. Older records load with them
unset (`workers` 1: they all ran in one process; without `model_file` a replaced model
cannot be told apart; without `task` a run is single-label, as every run before version 6;
without `val_balanced_accuracy` the history shows "—", not a figure it never measured)."""


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    created: str
    dataset_root: str
    dataset_fingerprint: str
    classes: tuple[str, ...]
    config: dict[str, Any]
    device: str
    split: dict[str, Any]
    epochs: tuple[dict[str, Any], ...]
    step_losses: tuple[float, ...]
    best_epoch: int
    best_val_loss: float | None
    best_val_accuracy: float
    baseline_accuracy: float | None
    stopped: str
    seconds: float
    model_path: str | None
    versions: dict[str, str]
    class_counts: dict[str, int] | None = None
    """Images per class in the dataset when it trained (None in records before version 2)."""
    cleanup_moves: int | None = None
    """Clean-up moves in effect on the dataset when it trained (None: not recorded)."""
    checkpoint: str | None = None
    """The checkpoint a stopped or interrupted run can be resumed from (None: none kept)."""
    resumed_after: tuple[int, ...] = ()
    """The epochs after which this run was resumed, oldest first."""
    workers: int = 1
    """Processes that trained it together (torchrun's world size; 1 for a single process)."""
    trained_share: float | None = None
    """The kept model's share of the trained weights (see `FitSummary.kept`)."""
    start_val_accuracy: float | None = None
    """The validation accuracy of the start the kept model was chosen against
    (`Kept.start_accuracy`; a partial fine-tune: quick mode's model on the same split)."""
    model_file: dict[str, Any] | None = None
    """The model file as saved: `digest` (its content hash), `size`, `mtime_ns`, `inode`."""
    task: str = SINGLE_LABEL
    """"single-label", or "multi-label": then `classes` are its label names, `class_counts`
    is None and the fields below say what it trained on and how it scored."""
    label_counts: dict[str, int] | None = None
    """Multi-label: photos carrying each label in the dataset when it trained."""
    image_count: int | None = None
    """Multi-label: images in the dataset when it trained (each once, whatever its labels)."""
    val_map: float | None = None
    """Multi-label: validation mAP at the end (None: no epoch ended, or no label had a
    positive in validation)."""
    val_macro_f1: float | None = None
    val_exact_match: float | None = None
    """Multi-label: share of validation photos given exactly their labels, at the model's
    thresholds (`best_val_accuracy` is the best epoch's, at 0.5, as the curves show it)."""
    val_balanced_accuracy: float | None = None
    """Single-label: the saved model's mean per-class recall on validation (None: no model,
    or a record before version 7)."""
    val_recall: dict[str, float] | None = None
    """Single-label: each class's recall on validation, for the saved model."""
    val_support: dict[str, int] | None = None
    """Single-label: each class's validation photos (few: the recall is too coarse to trust,
    `training.records.evaluation.small_class_note`)."""
    logit_adjustment: float | None = None
    """The τ folded into the classifier for rare classes (`training.fitting.rare_classes`;
    0: none was needed)."""
    model_note: str | None = field(default=None, compare=False)
    """Set by `list_runs`, never stored: why this run's model cannot be opened (gone, or
    replaced by a later run); None when it can, or when the run saved none."""

    @property
    def resumable(self) -> bool:
        return self.checkpoint is not None and self.stopped in ("cancelled", "interrupted")

    @property
    def kept_mark(self) -> str:
        """"(blend 60%)" or "(ImageNet's)" when the kept model is not the trained one, else ""."""
        return mark(self.trained_share)

    @property
    def kept_note(self) -> str | None:
        """A sentence on how the kept model differs from the trained one, or None."""
        alone = (self.epochs[self.best_epoch - 1].get("val_accuracy")
                 if 0 < self.best_epoch <= len(self.epochs) else None)
        return describe(self.trained_share, alone)

    @property
    def is_multilabel(self) -> bool:
        return self.task == MULTI_LABEL

    @property
    def images(self) -> int | None:
        if self.class_counts is None:
            return self.image_count
        return sum(self.class_counts.values())

    @property
    def data_used(self) -> str | None:
        """The images it trained on, e.g. "300", or "292 (8 moved)" after a clean-up, so runs
        before and after a clean-up read side by side; None for records that lack it."""
        if self.images is None:
            return None
        moves = self.cleanup_moves
        return f"{self.images} ({moves} moved)" if moves else str(self.images)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        known = {f.name for f in fields(cls)} - {"model_note"}
        data = {**{k: v for k, v in data.items() if k in known},
                "classes": tuple(data["classes"]), "epochs": tuple(data["epochs"]),
                "step_losses": tuple(data["step_losses"]),
                "resumed_after": tuple(data.get("resumed_after", ()))}
        return cls(**data)
