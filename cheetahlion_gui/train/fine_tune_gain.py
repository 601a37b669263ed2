"""What fine-tuning gained over quick mode on the same split, in the words the Train page and
the run history show (issue 25).

A fine-tune costs minutes where quick mode costs seconds; the user must learn whether those
minutes bought anything. A partial fine-tune ("fine-tune the top") starts from quick mode's
model and keeps the better of the two on validation, so its kept-model figures are against
quick mode (`Kept.start_accuracy`, the record's `start_val_accuracy`), never against
ImageNet's own classifier: the generic "kept ImageNet's own classifier" sentence is wrong
for it. A full fine-tune is compared with the newest quick run on the same photos and split
in the history, when there is one.
"""

from __future__ import annotations

from collections.abc import Sequence

from training.records.run_record import RunRecord
from training.records.run_summary import against_quick_mode, points

PARTIAL = "partial"


def when(record: RunRecord) -> str:
    """When a run started, as the history's Run column shows it ("12-07 12:45")."""
    return record.created.replace("T", " ")[5:16]


def quick_on_same_split(record: RunRecord, runs: Sequence[RunRecord]) -> RunRecord | None:
    """The newest quick run before `record` on the same photos, network and split (same
    dataset fingerprint, seed, validation and test fractions and split sizes), or None."""
    config = record.config

    def same(other: RunRecord) -> bool:
        theirs = other.config
        return (theirs.get("mode") == "quick" and bool(other.epochs)
                and not other.is_multilabel
                and other.dataset_fingerprint == record.dataset_fingerprint
                and other.split == record.split and other.created < record.created
                and all(theirs.get(key) == config.get(key)
                        for key in ("backbone", "seed", "val_fraction", "test_fraction")))

    return max((r for r in runs if same(r)), key=lambda r: r.created, default=None)


def finetune_line(record: RunRecord, runs: Sequence[RunRecord]) -> str | None:
    """A full fine-tune's validation accuracy beside the newest quick run's on the same
    split, e.g. "Fine-tuning: 0.933 on validation, quick mode 0.900 on the same split (run
    …) (+3.3 points)."; None without such a quick run."""
    quick = quick_on_same_split(record, runs)
    if quick is None:
        return None
    gain = record.best_val_accuracy - quick.best_val_accuracy
    return (f"Fine-tuning: {record.best_val_accuracy:.3f} on validation, quick mode "
            f"{quick.best_val_accuracy:.3f} on the same split (the run of {when(quick)}) "
            f"({points(gain)}).")


def record_line(record: RunRecord, runs: Sequence[RunRecord]) -> str | None:
    """What fine-tuning gained over quick mode for a run in the history; None for a quick
    or multi-label run, a run without a finished epoch, or no quick figure to compare."""
    if not record.epochs or record.is_multilabel:
        return None
    mode = record.config.get("mode")
    if mode == PARTIAL:
        return against_quick_mode(record.best_val_accuracy, record.trained_share,
                            record.start_val_accuracy)
    if mode == "finetune":
        return finetune_line(record, runs)
    return None


def kept_mark(record: RunRecord) -> str:
    """The accuracy column's note: a partial run's start is quick mode's model, not
    ImageNet's classifier ("(quick mode's)", "(blend 50%)")."""
    if record.config.get("mode") == PARTIAL and record.trained_share == 0.0:
        return "(quick mode's)"
    return record.kept_mark
