"""Add a photo from outside a dataset to one of its classes: a copy, journalled, undoable.

Reviewing a gallery's unsure photos puts each one into a class by copying it in; the
original stays where the user keeps it. A copy changes the dataset as much as a move does,
so it goes into the same journal (`training.data.journal`, kind "add"), the run history
counts it, and `undo_move` deletes it again: only that copy, checked by content hash, and
the class folder too when the add created it and it is empty again.

Crash safety follows the moves: the entry is saved as `pending` with its destination, the
bytes go to a hidden temporary file that is fsynced and then linked to the free name (never
half a photo under a real name, `file_ops.copy_file`), then the entry becomes `done`. A
crash in between is settled on the next read of the journal (`journal._settle_add`).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from training.core.file_ops import copy_file, free_name
from training.data.images import content_hash, is_supported
from training.data.journal import (
    CleanupError,
    Move,
    load,
    locked,
    now,
    remove_empty_folder,
    save,
)
from training.data.listing import skip_reason
from training.data.scanning import SPLIT_FOLDERS
from training.insight.cleanup import class_names, dataset_root, split_dirs, with_move

MAX_CLASS_NAME = 64
"""Characters; well inside every file system's 255-byte limit for a folder name."""
_NOT_IN_NAMES = frozenset('/\\<>:"|?*')
"""Path separators, and the characters Windows refuses in names (a dataset travels)."""
_WINDOWS_DEVICES = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                              *(f"lpt{i}" for i in range(1, 10))})


class AlreadyInClass(CleanupError):
    """The photo's exact bytes are in the class already (under `existing`): not copied again,
    since a duplicate would count twice in training and could leak into validation."""

    def __init__(self, message: str, existing: Path) -> None:
        super().__init__(message)
        self.existing = existing


def class_name_problem(name: str) -> str | None:
    """Why `name` cannot be a class folder's name, in words; None when it can.

    A class name is typed by a person and becomes one folder: not a path, not hidden (the
    scanner skips hidden folders), not a split folder's name (a class "train" beside "val"
    would turn the layout into a split), and valid on every system the dataset may go to.
    """
    if not name.strip():
        return "Type a name for the class."
    if name != name.strip():
        return "A class name cannot start or end with a space."
    if len(name) > MAX_CLASS_NAME:
        return f"A class name can have at most {MAX_CLASS_NAME} characters."
    if any(c in _NOT_IN_NAMES or ord(c) < 32 or c == "\x7f" for c in name):
        return "A class name cannot contain / \\ < > : \" | ? * or control characters."
    if name.startswith("."):
        return "A class name cannot start with a dot: the folder would be hidden."
    if name.endswith("."):
        return "A class name cannot end with a dot (Windows drops it)."
    if name.split(".")[0].lower() in _WINDOWS_DEVICES:
        return f"'{name}' is a device name on Windows; choose another name."
    if name.lower() in SPLIT_FOLDERS:
        return f"'{name}' is the name of a split folder (train/val/test); choose another name."
    return None


def add_to_class(root: str | os.PathLike[str], photo: str | os.PathLike[str],
                 class_name: str) -> Move:
    """Copy `photo` (a file outside the dataset) into the folder of class `class_name`, which
    is created for a new class; never over another file (a taken name becomes
    `photo (2).jpg`). Returns the journal entry, which `undo_move` undoes.

    Raises `AlreadyInClass` when the same bytes are in that class already, and
    `CleanupError` for a name, photo or dataset that cannot be used, saying why.
    """
    root_path = dataset_root(root)
    source = Path(photo).expanduser().resolve()
    folder = _class_folder(root_path, class_name)
    data = _photo_bytes(source, root_path)
    digest = content_hash(data)
    with locked(root_path):
        journal = load(root_path)
        _refuse_duplicate(folder, class_name, source, len(data), digest)
        made_folder = not folder.is_dir()
        move = Move(move_id=journal.next_id, time=now(), kind="add", source=source,
                    destination=free_name(folder, source.name), class_before="",
                    class_after=class_name, content_hash=digest, state="pending",
                    made_folder=made_folder)
        journal = replace(journal, moves=(*journal.moves, move), next_id=journal.next_id + 1)
        save(journal)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            copy_file(source, move.destination, durable=True)  # compared with the photo
        except OSError as error:
            save(replace(journal, moves=journal.moves[:-1]))
            remove_empty_folder(move)
            raise CleanupError(f"{source.name} could not be copied into {folder} "
                               f"({error.strerror or error}).") from None
        done = replace(move, state="done")
        save(with_move(journal, done))
        return done


def _class_folder(root: Path, class_name: str) -> Path:
    """Where photos of `class_name` go: `root/<class>`, or `root/train/<class>` in a dataset
    with its own split (new photos are training photos; its validation stays as it is)."""
    problem = class_name_problem(class_name)
    if problem:
        raise CleanupError(problem)
    known = class_names(root)
    twin = next((k for k in known if k.lower() == class_name.lower() and k != class_name), None)
    if twin is not None:
        raise CleanupError(f"'{class_name}' differs from the class '{twin}' only in case; "
                           f"use '{twin}'.")
    splits = split_dirs(root)
    if not splits:
        return root / class_name
    if class_name not in known:
        raise CleanupError(f"{root} has its own train/val folders: a new class needs photos "
                           "in both, so make its folders by hand. Choose one of its classes: "
                           f"{', '.join(known)}.")
    train = next(d for d in splits if SPLIT_FOLDERS[d.name.lower()] == "train")
    return train / class_name


def _photo_bytes(source: Path, root: Path) -> bytes:
    if source.is_relative_to(root):
        raise CleanupError(f"{source} is in the dataset already; to change its class, move it "
                           "(Data step, or `cheetahlion-cli move`).")
    if not source.is_file():
        raise CleanupError(f"{source} is not a file (was it moved or deleted?).")
    if not is_supported(source):
        raise CleanupError(f"{source.name} {skip_reason(source)}.")
    try:
        return source.read_bytes()
    except OSError as error:
        raise CleanupError(f"{source} cannot be read ({error.strerror or error}).") from None


def _refuse_duplicate(folder: Path, class_name: str, source: Path, size: int,
                      digest: str) -> None:
    """Raise `AlreadyInClass` when a file of the class has these bytes. Only files of the
    same size are read, so a class of thousands of photos costs one directory listing."""
    try:
        entries = [e for e in os.scandir(folder) if e.is_file() and e.stat().st_size == size]
    except OSError:
        return  # no folder yet: a new class
    for entry in entries:
        try:
            same = content_hash(Path(entry.path).read_bytes()) == digest
        except OSError:
            continue
        if same:
            raise AlreadyInClass(f"{source.name} is in '{class_name}' already, as "
                                 f"{entry.name}; not copied again.", Path(entry.path))
