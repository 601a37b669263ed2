"""The history of training runs, as plain JSON files under CheetahLion's data folder.

One folder per dataset (keyed by the dataset folder's absolute path), one `run.json` per run
beside its model file. Records hold the config, per-step losses, per-epoch curves, metrics,
model path, dataset fingerprint, seed and library versions, so runs can be listed and
compared later, by the CLI, the app, or a text editor. Each also notes the images per class
it trained on and how many clean-up moves (`training.insight.cleanup`) were in effect, so the
history shows a run before a clean-up beside a run after it.

A fine-tuning run is also recorded after every epoch as "interrupted", naming its checkpoint
(`training.fitting.checkpoint`): if the process dies, the history still shows the run and that it
can be resumed. Its final record replaces that one.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from training.core import paths
from training.core.atomic import write_atomically
from training.core.runtime import library_versions
from training.data.dataset import Dataset
from training.data.journal import applied_move_count
from training.fitting.config import TrainConfig
from training.fitting.never_worse import describe, mark
from training.fitting.result import FitResult

RECORD_NAME = "run.json"
RECORD_VERSION = 4
"""2 added `class_counts` and `cleanup_moves`; 3 `checkpoint` and `resumed_after`; 4
`workers`. Older records load with them unset (`workers` 1: they all ran in one process)."""


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
    """The kept model's share of the trained weights (see `FitResult.trained_share`)."""

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
    def images(self) -> int | None:
        return sum(self.class_counts.values()) if self.class_counts is not None else None

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
        known = {f.name for f in fields(cls)}
        data = {**{k: v for k, v in data.items() if k in known},
                "classes": tuple(data["classes"]), "epochs": tuple(data["epochs"]),
                "step_losses": tuple(data["step_losses"]),
                "resumed_after": tuple(data.get("resumed_after", ()))}
        return cls(**data)


def run_folder(dataset_root: Path, run_id: str) -> Path:
    return paths.runs_dir() / paths.dataset_key(dataset_root) / run_id


def record_run(dataset: Dataset, config: TrainConfig, result: FitResult,
               step_losses: list[float], device: str, checkpoint: Path | None = None,
               resumed_after: tuple[int, ...] = (), workers: int = 1) -> RunRecord:
    record = RunRecord(
        run_id=result.run_id,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        dataset_root=str(dataset.root),
        dataset_fingerprint=dataset.fingerprint,
        classes=dataset.classes,
        config=config.to_dict(),
        device=device,
        split={"source": result.split.source, "seed": result.split.seed,
               **result.split.sizes()},
        epochs=tuple(asdict(event) for event in result.history),
        step_losses=tuple(step_losses),
        best_epoch=result.best_epoch,
        best_val_loss=result.best_val_loss if result.history else None,
        best_val_accuracy=result.best_val_accuracy,
        baseline_accuracy=result.baseline_accuracy,
        stopped=result.stopped,
        seconds=result.seconds,
        model_path=str(result.model_path) if result.model_path else None,
        versions=library_versions(),
        class_counts=dataset.class_counts,
        cleanup_moves=_cleanup_moves(dataset.root),
        checkpoint=str(checkpoint) if checkpoint else None,
        resumed_after=resumed_after,
        workers=workers,
        trained_share=result.kept.trained_share if result.kept else None,
    )
    folder = run_folder(dataset.root, result.run_id)
    text = json.dumps({"record_version": RECORD_VERSION, **asdict(record)}, indent=1)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomically(folder / RECORD_NAME, text.encode())
    except OSError:
        _remove_if_empty(folder, folder.parent)  # a full disk leaves no empty run folder
        raise
    return record


def _remove_if_empty(*folders: Path) -> None:
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()  # refuses a folder that holds anything


def _cleanup_moves(root: Path) -> int | None:
    """Moves in effect per the dataset's clean-up journal; None when it cannot be read.

    This count is a footnote to a finished training run: whatever goes wrong reading the
    journal (damaged, unreadable, locked out), the run must still be recorded.
    """

    try:
        return applied_move_count(root)
    except Exception:
        return None


def list_runs(dataset_root: str | Path) -> list[RunRecord]:
    """Runs recorded for a dataset folder, oldest first; unreadable records are skipped."""
    folder = paths.runs_dir() / paths.dataset_key(Path(dataset_root))
    records = []
    for path in sorted(folder.glob(f"*/{RECORD_NAME}")):
        try:
            records.append(RunRecord.from_dict(json.loads(path.read_text())))
        except (OSError, ValueError, TypeError, KeyError):
            continue
    return sorted(records, key=lambda record: record.created)
