"""Save per-class thresholds into a model file: only its JSON header changes.

The Evaluate step and `cheetahlion-cli thresholds` choose thresholds for a model they read
earlier. Saving them rewrites the safetensors header (a length and a JSON document) and
copies the tensors' bytes as they were, so the weights cannot change; the whole file is
checked as a model again before it replaces the old one atomically. A file that changed
since it was read (another run saved over it) is refused: thresholds chosen on one model's
validation photos mean nothing for another. The run history's records of the file follow it
(`training.records.runs.follow_rewritten_model`), so their rows still open it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from training.core.atomic import write_atomically
from training.core.errors import ModelFileError
from training.fitting.modelfile import MAX_MODEL_BYTES, METADATA_KEY, parse_model_bytes
from training.records.model_header import CLASS_THRESHOLDS, MULTI_LABEL, task_of
from training.records.operating_points import (
    SavedThresholds,
    Thresholds,
    thresholds_from_header,
    thresholds_to_header,
)
from training.records.runs import follow_rewritten_model

__all__ = ["model_thresholds", "save_thresholds"]


def model_thresholds(path: str | os.PathLike[str]) -> tuple[tuple[str, ...], Thresholds, str]:
    """A single-label model file's classes, thresholds (in class order) and content hash."""
    data, header = _read(Path(path))
    classes = tuple(header["classes"])
    return classes, thresholds_from_header(header.get(CLASS_THRESHOLDS), classes), _digest(data)


def save_thresholds(path: str | os.PathLike[str], thresholds: Thresholds,
                    expected_digest: str | None = None) -> SavedThresholds:
    """Write `thresholds` (one per class, None for none; all None removes them) into the
    model file at `path`. `expected_digest`: the file's hash when it was read; a file that
    holds other bytes now is refused with a `ModelFileError` and left as it is."""
    target = Path(path)
    data, header = _read(target)
    old_digest = _digest(data)
    if expected_digest is not None and old_digest != expected_digest:
        raise ModelFileError(
            f"{target} changed since it was evaluated (another run may have saved over it), "
            "so these thresholds may not suit it. Evaluate it again, then set them.")
    classes = tuple(header["classes"])
    if len(thresholds) != len(classes):
        raise ModelFileError(f"{target} has {len(classes)} classes, but {len(thresholds)} "
                             "thresholds were given.")
    chosen = thresholds_to_header(thresholds, classes)
    header.pop(CLASS_THRESHOLDS, None)
    if chosen:
        header[CLASS_THRESHOLDS] = chosen
    payload = _with_header(data, header)
    parse_model_bytes(target, payload)  # the new file opens as a model, or nothing is written
    try:
        write_atomically(target, payload)
    except OSError as error:
        raise ModelFileError(f"The thresholds could not be saved into {target} "
                             f"({error.strerror or error}); the file is as it was.") from None
    followed = follow_rewritten_model(target, old_digest)
    return SavedThresholds(str(target), _digest(payload),
                           thresholds_from_header(chosen, classes), followed)


def _read(path: Path) -> tuple[bytes, dict]:
    """The file's bytes and its checked header; a multi-label model is refused."""
    try:
        if path.is_file() and path.stat().st_size > MAX_MODEL_BYTES:
            raise ModelFileError(f"{path} is far larger than any CheetahLion model.")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"{path} does not exist. Choose a model file (.safetensors).") \
            from None
    except IsADirectoryError:
        raise ModelFileError(f"{path} is a folder. Choose a model file (.safetensors).") \
            from None
    except OSError as error:
        raise ModelFileError(f"{path} cannot be read ({error.strerror}).") from None
    _tensors, header = parse_model_bytes(path, data)
    if task_of(header) == MULTI_LABEL:
        raise ModelFileError(f"{path} is a multi-label model: each label's threshold is chosen "
                             "on validation when it trains; per-class thresholds are for "
                             "single-label models.")
    return data, header


def _with_header(data: bytes, header: dict) -> bytes:
    """`data` (a safetensors file) with `header` as its metadata; the tensors' bytes as they
    were (their offsets count from the end of the header, so they need no change)."""
    length = int.from_bytes(data[:8], "little")
    raw = json.loads(data[8:8 + length])
    raw["__metadata__"] = {**raw.get("__metadata__", {}), METADATA_KEY: json.dumps(header)}
    text = json.dumps(raw, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # safetensors keeps the tensors 8-byte aligned
    return len(text).to_bytes(8, "little") + text + data[8 + length:]


def _digest(data: bytes) -> str:
    """`training.core.file_ops.file_digest` of bytes already in memory."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()
