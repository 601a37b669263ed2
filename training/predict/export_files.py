"""An export on disk is a pair, the model and its JSON sidecar: both new, or both as before.

The sidecar names the classes in the order of the model's outputs, so a model read through
another model's sidecar answers with the wrong names (a cheetah called "lion") and nothing
looks wrong. Two guards:

- Writing (`install_pair`): the model and the sidecar are both written in full to hidden
  temporaries beside their targets first; only then is the old model moved aside, the new
  one renamed into place, the new sidecar renamed over the old, and the old model deleted.
  A rename needs no free space, so a full disk fails while the temporaries are written,
  before anything is replaced; a rename that still fails puts the old model back. (It once
  renamed the new model into place, then failed writing the sidecar on a full disk.)
- Reading (`read_export`): the sidecar carries the SHA-256 of its model file
  (`model_sha256`), and a reader checks it before trusting the class names. That covers
  what no writer can prevent: a process killed between the two renames, a file copied
  without its twin. CheetahLion's app and CLI do not read exports; the README's
  onnxruntime example does, and makes the same check.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from training.core.atomic import temporary_beside
from training.core.errors import ExportError

SIDECAR_FORMAT = "cheetahlion-export"
SIDECAR_VERSION = 3
"""2: `model_sha256`, the digest of the model file the sidecar describes. 3: `task`
("multi-label") and `thresholds`, for the sigmoid outputs of a multi-label export.
Single-label exports still write 2 (`SINGLE_LABEL_SIDECAR_VERSION`): nothing in them
changed, and a reader that knows only 2 refuses a multi-label export instead of reading its
sigmoids as softmax probabilities."""
SINGLE_LABEL_SIDECAR_VERSION = 2


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """`model.onnx` → `model.onnx.json`: one sidecar per exported file, never shared."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def refuse_folders(given: Path, target: Path) -> None:
    """An `ExportError` when the model's or the sidecar's name is taken by a folder: checked
    before anything is exported, so that nothing is written (it wrote the model, then
    failed on the sidecar with an IsADirectoryError)."""
    for folder in dict.fromkeys((given, target)):
        if folder.is_dir():
            raise ExportError(f"{folder} is a folder. Give the export a file name, e.g. "
                              f"{folder / ('model' + target.suffix)}.")
    sidecar = sidecar_path(target)
    if sidecar.is_dir():
        raise ExportError(f"{sidecar} is a folder, where the export's sidecar must go. "
                          "Move it away or choose another file name.")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def install_pair(written: Path, target: Path, sidecar: dict[str, Any]) -> Path:
    """Put the checked model file `written` (a temporary beside `target`) at `target` and
    `sidecar` (with the model's digest added) beside it, both or neither; returns the
    sidecar's path. An `OSError` becomes an `ExportError` saying nothing was replaced."""
    described = sidecar_path(target)
    payload = json.dumps({**sidecar, "model_sha256": file_sha256(written)}, indent=2).encode()
    try:
        with temporary_beside(described) as new_sidecar, \
                temporary_beside(target) as old_model:
            _write_durably(new_sidecar, payload)
            _sync(written)
            _switch(written, target, new_sidecar, described, old_model)
    except OSError as error:
        raise ExportError(
            f"{target} could not be saved ({error.strerror or error}); nothing was replaced"
            f"{' (the earlier export and its sidecar are as they were)' if target.exists() else ''}"
            ". Free some space or choose another folder, then export again.") from error
    return described


def _switch(written: Path, target: Path, new_sidecar: Path, described: Path,
            old_model: Path) -> None:
    """Three renames; if the sidecar's fails, the old model goes back where it was."""
    had_model = target.exists()
    if had_model:
        os.replace(target, old_model)
    os.replace(written, target)
    try:
        os.replace(new_sidecar, described)
    except OSError:
        if had_model:
            os.replace(old_model, target)
        else:
            target.unlink(missing_ok=True)
        raise


def _write_durably(path: Path, payload: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())


def _sync(path: Path) -> None:
    """The exporters write and close the model; its bytes reach the disk before the rename."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def read_export(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The sidecar of the exported model at `path`, after checking that it describes this
    very file; an `ExportError` saying what to do otherwise."""
    path = Path(path)
    described = sidecar_path(path)
    try:
        info = json.loads(described.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ExportError(f"{described} cannot be read ({error}). Export the model again; "
                          "the sidecar names its classes.") from None
    if not isinstance(info, dict) or info.get("format") != SIDECAR_FORMAT:
        raise ExportError(f"{described} is not a CheetahLion export sidecar.")
    expected = info.get("model_sha256")
    if not isinstance(expected, str):
        raise ExportError(f"{described} does not record its model's digest (written by an "
                          "older CheetahLion). Export the model again.")
    with contextlib.suppress(OSError):
        if file_sha256(path) == expected:
            return info
    raise ExportError(f"{described} describes another model than {path} (its digest "
                      "differs): the pair is mismatched, e.g. after an interrupted export or "
                      "a copy of only one of the two files. Export the model again.")
