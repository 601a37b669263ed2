"""Add a photo from outside a dataset to one of its classes: a copy, journalled, undoable.

Reviewing a gallery's unsure photos puts each one into a class by copying it in; the
original stays where the user keeps it. A copy changes the dataset as much as a move does,
so it goes into the same journal (`training.records.journal`, kind "add"), the run history
counts it, and `undo_move` deletes it again: only that copy, checked by content hash, and
the class folder too when the add created it and it is empty again.

Crash safety follows the moves: the entry is saved as `pending` with its destination, the
bytes go to a hidden temporary file that is fsynced and then linked to the free name (never
half a photo under a real name, `file_ops.copy_file`), then the entry becomes `done`. A
crash in between is settled on the next read of the journal (`journal._settle_add`).
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import replace
from pathlib import Path

from training.core.file_ops import copy_file, file_digest, free_name
from training.data.folder_names import deceptive_character, folder_name_problem
from training.data.images import ImageProblem, decode_image, is_supported
from training.data.listing import skip_reason
from training.data.scanning import SPLIT_FOLDERS
from training.insight.cleanup import class_names, dataset_root, split_dirs, with_move
from training.records.journal import (
    CleanupError,
    Journal,
    Move,
    load,
    locked,
    now,
    remove_empty_folder,
    save,
)

MAX_PHOTO_BYTES = 200 * 2**20
"""The largest file `add` copies: a 108-megapixel phone photo is about 40 MB, a PNG of
that size about 150 MB. Anything larger is not a photo (a 3 GiB ".jpg" was read whole)."""
_CHECK_DRAFT = 64
"""JPEGs are decoded at 1/8 scale just to check they decode: enough, and fast."""


class AlreadyInClass(CleanupError):
    """The photo's exact bytes are in the class already (under `existing`): not copied again,
    since a duplicate would count twice in training and could leak into validation."""

    def __init__(self, message: str, existing: Path) -> None:
        super().__init__(message)
        self.existing = existing


def class_name_problem(name: str) -> str | None:
    """Why `name` cannot be a class folder's name, in words; None when it can (the rule
    every folder name follows: `training.data.folder_names`)."""
    if not name.strip():
        return "Type a name for the class."
    return folder_name_problem(name, "class name")


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
    size, digest = checked_photo(source, root_path)
    with locked(root_path):
        journal = load(root_path)
        _refuse_duplicate(folder, class_name, source, size, digest)
        return journalled_copy(journal, source, folder, class_name, digest)


def journalled_copy(journal: Journal, source: Path, folder: Path, class_name: str, digest: str,
                    class_before: str = "") -> Move:
    """Copy `source` into `folder` under a free name as an "add" entry of `journal` (loaded
    by the caller, who holds its lock): recorded as pending, copied, then done. Also used
    for a label added in the class-folders layout (`label_edits`), where `source` is the
    photo's copy in another label's folder (`class_before`)."""
    move = Move(move_id=journal.next_id, time=now(), kind="add", source=source,
                destination=free_name(folder, source.name), class_before=class_before,
                class_after=class_name, content_hash=digest, state="pending",
                made_folder=not folder.is_dir())
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
        return _inside(root, root / class_name)
    if class_name not in known:
        raise CleanupError(f"{root} has its own train/val folders: a new class needs photos "
                           "in both, so make its folders by hand. Choose one of its classes: "
                           f"{', '.join(known)}.")
    train = next(d for d in splits if SPLIT_FOLDERS[d.name.lower()] == "train")
    return _inside(root, train / class_name)


def _inside(root: Path, folder: Path) -> Path:
    """`folder`, unless it is a link that leads out of the dataset (a photo copied there
    would land outside it, where training never sees it and undo would delete from)."""
    real = folder.resolve()
    if not real.is_relative_to(root):
        raise CleanupError(f"{folder} is a link to {real}, outside the dataset, so a photo "
                           "added to that class would not be in the dataset. Replace the "
                           "link with a folder, or choose another class.")
    return folder


def checked_photo(source: Path, root: Path) -> tuple[int, str]:
    """The size and content hash of `source`, once it is known to be a photo worth copying:
    outside the dataset, a file of a photo's size, with a name that shows what it is, and
    an image that decodes. The hash is read a block at a time."""
    if source.is_relative_to(root):
        raise CleanupError(f"{source} is in the dataset already; to change its class, move it "
                           "(Data step, or `cheetahlion-cli move`).")
    if not source.is_file():
        raise CleanupError(f"{source} is not a file (was it moved or deleted?).")
    hidden = deceptive_character(source.name)
    if hidden:
        shown = "".join(f"<U+{ord(c):04X}>" if unicodedata.category(c) == "Cf" else c
                        for c in source.name)
        raise CleanupError(f"{shown} holds an invisible or direction-changing character "
                           f"({hidden}), so its name looks like another; rename the file and "
                           "add it again.")
    if not is_supported(source):
        raise CleanupError(f"{source.name} {skip_reason(source)}.")
    try:
        size = source.stat().st_size
        if size > MAX_PHOTO_BYTES:
            shown = f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"
            raise CleanupError(f"{source} is {shown}, far larger than a photo "
                               f"(at most {MAX_PHOTO_BYTES // 2**20} MB are added); it was "
                               "not copied.")
        decode_image(source, draft_size=_CHECK_DRAFT)
        return size, file_digest(source)
    except ImageProblem as problem:
        raise CleanupError(f"{source.name} {problem.reason}; it was not added.") from None
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
            same = file_digest(Path(entry.path)) == digest
        except OSError:
            continue
        if same:
            raise AlreadyInClass(f"{source.name} is in '{class_name}' already, as "
                                 f"{entry.name}; not copied again.", Path(entry.path))
