"""A fine-tuning run's checkpoint: one file from which an interrupted run carries on.

Written after every epoch beside the run's record (`runs.run_folder`), atomically, so a Stop,
a crash or a power cut leaves the last finished epoch on disk, never half of one. It holds
the loop's whole state (`training.fitting.loop.LoopState`) plus what the run needs to check it is
resuming the same thing: the settings, the dataset's fingerprint, the split's sizes.

The format is safe to open: a safetensors file whose tensors are the weights, optimizer
buffers and random generator states, and whose header metadata holds everything else as
JSON (tensors referenced by name). Nothing is ever unpickled. A completed run no longer
needs its checkpoint (`discard`); a stopped or crashed one keeps it until it is resumed
to the end.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from training.core.atomic import write_atomically
from training.core.errors import ConfigError, DatasetError, ModelFileError
from training.fitting.loop import LoopOutcome, LoopState
from training.records import runs
from training.records.events import EpochEnded

CHECKPOINT_NAME = "checkpoint.safetensors"
FORMAT = "cheetahlion-checkpoint"
VERSION = 1
IGNORED_SETTINGS = ("device", "precision")
"""Settings a resumed run may change: they decide where and how fast it runs (precision
only matters on a GPU), not what it computes; checkpoints from before `precision` existed
resume too."""


@dataclass(frozen=True)
class RunInfo:
    """What a checkpoint says about its run, beside the loop's state."""

    run_id: str
    config: dict[str, Any]
    dataset_root: str
    dataset_fingerprint: str
    split_sizes: dict[str, int]
    output: str | None
    """The model file the run writes (None: the run folder's)."""
    seconds: float
    """Training time so far, summed over every session of the run."""
    baseline_accuracy: float | None
    resumed_after: tuple[int, ...] = field(default=())
    """The epochs after which it was resumed, oldest first."""


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    info: RunInfo
    state: LoopState


def checkpoint_path(dataset_root: str | Path, run_id: str) -> Path:
    return runs.run_folder(Path(dataset_root), run_id) / CHECKPOINT_NAME


def save_checkpoint(path: Path, info: RunInfo, state: LoopState) -> None:
    """Write `path` atomically (temp file, fsync, rename)."""
    outcome = state.outcome
    best_is_current = outcome.best_epoch == state.epoch
    tensors: dict[str, torch.Tensor] = {}
    document = {
        "info": asdict(info),
        "epoch": state.epoch,
        "step": state.step,
        "epochs_without_progress": state.epochs_without_progress,
        "history": [asdict(event) for event in outcome.history],
        "step_losses": outcome.step_losses,
        "best_epoch": outcome.best_epoch,
        "best_val_loss": outcome.best_val_loss,
        "best_val_accuracy": outcome.best_val_accuracy,
        "best_is_current": best_is_current,
        "module": _encode(state.module, "module", tensors),
        "best": (None if best_is_current or outcome.best_state is None
                 else _encode(outcome.best_state, "best", tensors)),
        "optimizer": _encode(state.optimizer, "optimizer", tensors),
        "scheduler": _encode(state.scheduler, "scheduler", tensors),
        "rng": _encode(state.rng, "rng", tensors),
    }
    metadata = {"format": FORMAT, "version": str(VERSION), "state": json.dumps(document)}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, save(tensors, metadata))


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint, or raise `ModelFileError` naming the file and what to do."""
    path = Path(path)
    try:
        payload = path.read_bytes()
        tensors = load(payload)
        metadata = _metadata(payload)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no checkpoint here. Only a fine-tuning run that was "
                             "stopped or interrupted after an epoch has one.") from None
    except (OSError, SafetensorError, ValueError) as error:
        raise ModelFileError(f"{path}: the checkpoint cannot be read ({error}); it may be "
                             "damaged. Start the run again.") from None
    if metadata.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a CheetahLion training checkpoint. Give the run "
                             "id, or the checkpoint.safetensors file in its run folder.")
    if metadata.get("version") != str(VERSION):
        raise ModelFileError(f"{path} was written by another version of CheetahLion "
                             f"(checkpoint version {metadata.get('version')}); start the run "
                             "again.")
    try:
        document = json.loads(metadata["state"])
        return _rebuild(path, document, tensors)
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{path}: the checkpoint is incomplete or damaged ({error!r}). "
                             "Start the run again.") from None


def find_checkpoint(resume: str | Path, dataset_root: str | Path) -> Path:
    """A run id of the dataset, a run folder, or a checkpoint file → the checkpoint's path."""
    candidate = Path(resume)
    if candidate.is_dir():
        return candidate / CHECKPOINT_NAME
    if candidate.suffix == ".safetensors" or candidate.exists():
        return candidate
    return checkpoint_path(dataset_root, str(resume))


def check_compatible(saved: Checkpoint, config: dict[str, Any], fingerprint: str,
                     split_sizes: dict[str, int]) -> None:
    """Refuse to resume onto other settings or other data: the result would be neither run."""
    info, path = saved.info, saved.path
    if info.dataset_fingerprint != fingerprint or info.split_sizes != split_sizes:
        raise DatasetError(
            f"{path}: the dataset changed since this run started (files were added, removed "
            f"or edited in {info.dataset_root}), so it cannot be resumed. Start a new run.")
    different = sorted(
        name for name in set(config) | set(info.config)
        if name not in IGNORED_SETTINGS and config.get(name) != info.config.get(name)
    )
    if different:
        listed = ", ".join(f"{name} {info.config.get(name)!r} (now {config.get(name)!r})"
                           for name in different)
        raise ConfigError(f"{path}: the run was started with other settings: {listed}. "
                          "Resume it with its own settings, or start a new run.")


def discard(path: Path) -> None:
    """Delete a finished run's checkpoint: a completed run never needs it again."""
    path.unlink(missing_ok=True)


# --- the JSON + tensors encoding -------------------------------------------------------------

def _encode(value: Any, name: str, tensors: dict[str, torch.Tensor]) -> Any:
    """`value` as JSON, its tensors moved into `tensors` under names starting with `name`."""
    if isinstance(value, torch.Tensor):
        tensors[name] = value.detach().cpu().contiguous()
        return {"tensor": name}
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value):
            return {"dict": {key: _encode(item, f"{name}.{key}", tensors)
                             for key, item in value.items()}}
        return {"int_dict": [[key, _encode(item, f"{name}.{key}", tensors)]
                             for key, item in value.items()]}
    if isinstance(value, list | tuple):
        items = [_encode(item, f"{name}.{index}", tensors) for index, item in enumerate(value)]
        return {"tuple" if isinstance(value, tuple) else "list": items}
    if value is None or isinstance(value, bool | int | float | str):
        return {"value": value}
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint ({name})")


def _decode(value: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Any:
    (kind, item), = value.items()
    if kind == "tensor":
        return tensors[item]
    if kind == "dict":
        return {key: _decode(entry, tensors) for key, entry in item.items()}
    if kind == "int_dict":
        return {int(key): _decode(entry, tensors) for key, entry in item}
    if kind == "list":
        return [_decode(entry, tensors) for entry in item]
    if kind == "tuple":
        return tuple(_decode(entry, tensors) for entry in item)
    if kind == "value":
        return item
    raise ValueError(f"unknown entry {kind!r}")


def _metadata(payload: bytes) -> dict[str, str]:
    """The safetensors header's metadata (8-byte little-endian length, then JSON)."""
    length = int.from_bytes(payload[:8], "little")
    header = json.loads(payload[8:8 + length])
    return header.get("__metadata__") or {}


def _rebuild(path: Path, document: dict[str, Any], tensors: dict[str, torch.Tensor]
             ) -> Checkpoint:
    info = document["info"]
    info = RunInfo(**{**info, "resumed_after": tuple(info["resumed_after"])})
    module = _decode(document["module"], tensors)
    best = module if document["best_is_current"] else (
        None if document["best"] is None else _decode(document["best"], tensors))
    best_val_loss = document["best_val_loss"]
    outcome = LoopOutcome(
        history=[EpochEnded(**event) for event in document["history"]],
        step_losses=[float(loss) for loss in document["step_losses"]],
        best_state={key: tensor.clone() for key, tensor in best.items()} if best else None,
        best_epoch=int(document["best_epoch"]),
        best_val_loss=math.inf if best_val_loss is None else float(best_val_loss),
        best_val_accuracy=float(document["best_val_accuracy"]),
        stopped="completed",
    )
    state = LoopState(
        epoch=int(document["epoch"]), step=int(document["step"]),
        epochs_without_progress=int(document["epochs_without_progress"]),
        outcome=outcome, module=module,
        optimizer=_decode(document["optimizer"], tensors),
        scheduler=_decode(document["scheduler"], tensors),
        rng=_decode(document["rng"], tensors),
    )
    return Checkpoint(path, info, state)
