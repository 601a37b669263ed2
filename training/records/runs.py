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

A history row must open the model it describes, or say that it no longer can. A record notes
its model file's content hash (and size, time and inode, so that checking costs a `stat`
unless the file changed); `list_runs` sets `model_note` on a record whose file is gone or holds
other bytes, naming the later run that wrote over it. A run saving onto a file that holds
another recorded run's model first gives that model a second name in the other run's folder
(a hard link: no space used; a copy across disks) and points its record there
(`keeping_replaced_models`): two `train -o model.safetensors` runs keep both models. Keeping a
copy of every run's model instead would cost ~14 MB per quick run (measured: the whole
backbone is in the file) for the rare run whose file is replaced.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from training.core import paths
from training.core.atomic import write_atomically
from training.core.file_ops import copy_file, file_digest, free_name
from training.core.versions import library_versions
from training.records.config import TrainConfig
from training.records.dataset import Dataset
from training.records.fit_summary import FitSummary
from training.records.journal import applied_move_count
from training.records.model_header import model_target
from training.records.run_record import RECORD_VERSION, RunRecord

RECORD_NAME = "run.json"
MODEL_NAME = "model.safetensors"
"""A run's model file in its own folder (where models go without `output`, or are kept)."""
def run_folder(dataset_root: Path, run_id: str) -> Path:
    return paths.runs_dir() / paths.dataset_key(dataset_root) / run_id


class _Now:
    """`record_run`'s default for `cleanup_moves`: count the moves in effect when recording."""


_NOW = _Now()


def record_run(dataset: Dataset, config: TrainConfig, result: FitSummary,
               step_losses: list[float], device: str, checkpoint: Path | None = None,
               resumed_after: tuple[int, ...] = (), workers: int = 1,
               cleanup_moves: int | _Now | None = _NOW) -> RunRecord:
    """Write the run's record. `cleanup_moves`: the clean-up moves in effect when it started
    (`cleanup_moves_at_start`); a move made while it trained did not change what it saw."""
    record = RunRecord(
        run_id=result.run_id,
        # To the microsecond: two quick runs now end within one second, and the history's
        # order (oldest first) must still be the order they ended in.
        created=datetime.now(UTC).isoformat(timespec="microseconds"),
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
        model_path=str(Path(result.model_path).absolute()) if result.model_path else None,
        versions=library_versions(),
        class_counts=dataset.class_counts,
        cleanup_moves=(_cleanup_moves(dataset.root) if isinstance(cleanup_moves, _Now)
                       else cleanup_moves),
        checkpoint=str(checkpoint) if checkpoint else None,
        resumed_after=resumed_after,
        workers=workers,
        trained_share=result.kept.trained_share if result.kept else None,
        start_val_accuracy=result.kept.start_accuracy if result.kept else None,
        model_file=_model_file(result.model_path) if result.model_path else None,
        **_balanced_fields(result),
    )
    _write(run_folder(dataset.root, result.run_id), _stored(record))
    return record


def _balanced_fields(result: FitSummary) -> dict[str, Any]:
    """The record's balanced validation figures (none before the run saved its model)."""
    balance = result.balance
    if balance is None:
        return {}
    return {"val_balanced_accuracy": balance.balanced_accuracy,
            "val_recall": dict(balance.recall), "val_support": dict(balance.support),
            "logit_adjustment": balance.logit_adjustment}


def write_record(record: RunRecord) -> RunRecord:
    """Write a record built elsewhere (a multi-label run's: `training.fitting.multilabel_record`)
    into its run folder, noting its model file as `record_run` does; returns it as written.
    An `OSError` (a full disk) leaves no empty run folder."""
    if record.model_path:
        record = replace(record, model_file=_model_file(record.model_path))
    _write(run_folder(Path(record.dataset_root), record.run_id), _stored(record))
    return record


def _stored(record: RunRecord) -> dict[str, Any]:
    return {"record_version": RECORD_VERSION,
            **{k: v for k, v in asdict(record).items() if k != "model_note"}}


def _write(folder: Path, data: dict[str, Any]) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomically(folder / RECORD_NAME, json.dumps(data, indent=1).encode())
    except OSError:
        _remove_if_empty(folder, folder.parent)  # a full disk leaves no empty run folder
        raise


def _model_file(path: str | Path) -> dict[str, Any] | None:
    """What `model_file` records of the file at `path`; None when it cannot be read."""
    try:
        return {"digest": file_digest(Path(path)), **_stamp(Path(path))}
    except OSError:
        return None


def _stamp(path: Path) -> dict[str, int]:
    status = path.stat()
    return {"size": status.st_size, "mtime_ns": status.st_mtime_ns, "inode": status.st_ino}


def _remove_if_empty(*folders: Path) -> None:
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()  # refuses a folder that holds anything


def cleanup_moves_at_start(dataset_root: Path, resumed: str | None = None) -> int | None:
    """The clean-up moves in effect as a run starts: now, or for a run being resumed (id
    `resumed`), the count its first session recorded (it goes on from the data it had)."""
    if resumed is not None:
        file = run_folder(dataset_root, resumed) / RECORD_NAME
        for _, record, _ in _records([file]):
            return record.cleanup_moves
    return _cleanup_moves(dataset_root)


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
    """Runs recorded for a dataset folder, oldest first; unreadable records are skipped. A
    record whose model file is gone or was replaced carries a `model_note` saying so."""
    folder = paths.runs_dir() / paths.dataset_key(Path(dataset_root))
    records = sorted((record for _, record, _ in _records(folder.glob(f"*/{RECORD_NAME}"))),
                     key=_created)
    return [replace(record, model_note=model_problem(record, records)) for record in records]


def _created(record: RunRecord) -> datetime:
    """When a record was written; older records carry whole seconds only."""
    try:
        return datetime.fromisoformat(record.created)
    except (TypeError, ValueError):  # a damaged record sorts first, hiding no other
        return datetime.min.replace(tzinfo=UTC)


def _records(files: Iterable[Path]) -> Iterator[tuple[Path, RunRecord, dict[str, Any]]]:
    """(file, record, its JSON) of every readable record among `files`."""
    for path in sorted(files):
        try:
            data = json.loads(path.read_text())
            yield path, RunRecord.from_dict(data), data
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            continue


def model_problem(record: RunRecord, history: Sequence[RunRecord] = ()) -> str | None:
    """Why `record`'s model cannot be opened any more, in one line, or None (it can, or the
    run saved none, or the record is too old to tell). `history`: the dataset's other runs,
    to name the one that wrote over it."""
    if not record.model_path:
        return None
    path = Path(record.model_path)
    if not path.is_file():
        return (f"The model file of run {record.run_id} ({path}) no longer exists; train again "
                "to get a model.")
    saved = record.model_file
    if not saved or not _changed(path, saved):
        return None
    try:
        digest = file_digest(path)
    except OSError as error:
        return f"The model file of run {record.run_id} ({path}) cannot be read ({error.strerror})."
    if digest == saved.get("digest"):
        return None
    later = next((other for other in reversed(history)
                  if other.run_id != record.run_id and other.model_path == record.model_path
                  and (other.model_file or {}).get("digest") == digest), None)
    if later is not None:
        return (f"The model file of run {record.run_id} was replaced by a later run "
                f"({later.run_id}): {path} holds that run's model now. Train again to get this "
                "run's model back.")
    return (f"The model file of run {record.run_id} ({path}) was replaced since that run saved "
            "it (it holds other bytes now), so it no longer opens this run's model. Train "
            "again to get it back.")


def _changed(path: Path, saved: dict[str, Any]) -> bool:
    """Whether the file may differ from the one saved: its size, time or inode moved (an
    atomic save over it always makes a new inode). Unchanged, its hash need not be read."""
    try:
        return _stamp(path) != {key: saved.get(key) for key in ("size", "mtime_ns", "inode")}
    except OSError:
        return True


def follow_rewritten_model(path: str | Path, old_digest: str) -> int:
    """After `path`'s model file was rewritten in place with the same weights (its
    thresholds saved): the runs whose record noted the file as it was (`old_digest`) note it
    as it is, so the history still opens their model. Returns how many records changed; a
    record that cannot be written keeps saying the file was replaced."""
    target = Path(path).absolute()
    changed = 0
    for file, record, data in _records(paths.runs_dir().glob(f"*/*/{RECORD_NAME}")):
        if (record.model_path is not None and Path(record.model_path).absolute() == target
                and (record.model_file or {}).get("digest") == old_digest):
            with contextlib.suppress(OSError):
                _write(file.parent, {**data, "model_file": _model_file(target)})
                changed += 1
    return changed


class KeptModels:
    """What `keeping_replaced_models` did: set `saved` to where the new model went."""

    def __init__(self) -> None:
        self.saved: Path | None = None
        self.kept: list[tuple[Path, Path, dict[str, Any], str]] = []
        """(record file, kept model, the record as it was, the run's id) per model kept."""


@contextlib.contextmanager
def keeping_replaced_models(target: str | Path, run_id: str,
                            warnings: list[str]) -> Iterator[KeptModels]:
    """Around run `run_id` saving its model to `target`: if `target` holds the model of
    another recorded run (of any dataset), that model first gets a second name in that run's
    folder (a hard link, else a copy) and its record points there, so the history still
    opens it. When the new model did not go to `target` after all (set `saved`; a full disk
    sent it elsewhere, or saving failed) the old one is still there and nothing is kept.
    Adds a warning per model kept, or lost because it could not be kept."""
    target = model_target(target).absolute()
    keeping = KeptModels()
    if target.is_file():
        for file, record, data in _records(paths.runs_dir().glob(f"*/*/{RECORD_NAME}")):
            if (record.run_id != run_id and record.model_path is not None
                    and record.model_file is not None
                    and Path(record.model_path).absolute() == target
                    and model_problem(record) is None):
                _keep_model(target, file, record, data, keeping, warnings)
    try:
        yield keeping
    finally:
        replaced = keeping.saved is not None and model_target(keeping.saved).absolute() == target
        for file, kept, data, kept_id in keeping.kept:
            if replaced:
                warnings.append(f"{target} held the model of run {kept_id}; it was kept in "
                                f"that run's folder ({kept}), where the run history opens "
                                "it, before this run's model took its place.")
            else:  # the old model is where it was: as if nothing had been kept
                with contextlib.suppress(OSError):
                    _write(file.parent, data)
                    kept.unlink()


def _keep_model(target: Path, file: Path, record: RunRecord, data: dict[str, Any],
                keeping: KeptModels, warnings: list[str]) -> None:
    """Give `record`'s model a second name in its run folder and point its record there."""
    kept = free_name(file.parent, MODEL_NAME)
    try:
        try:
            os.link(target, kept)
        except OSError:  # another disk, or no hard links there
            copy_file(target, kept, durable=True)
        _write(file.parent, {**data, "model_path": str(kept), "model_file": _model_file(kept)})
    except OSError as error:
        with contextlib.suppress(OSError):
            kept.unlink()
        warnings.append(f"{target} held the model of run {record.run_id}, which this run's "
                        f"model replaces; it could not be kept in that run's folder "
                        f"({error.strerror or error}), so the run history can no longer "
                        "open it.")
        return
    keeping.kept.append((file, kept, data, record.run_id))
