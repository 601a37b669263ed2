"""Clean a dataset folder: move images to another class or out to a quarantine folder, undoably.

Every move is a real file move that never overwrites anything (a taken name becomes
`photo (2).jpg`), recorded in the dataset's journal (`training.records.journal`) before the
file moves and again after, so a crash never loses track of a file and any move can be
undone, in any order. "Keep" marks a photo as reviewed and right where it is.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from training.core.file_ops import free_name, move_file
from training.data.images import content_hash
from training.data.scanning import SPLIT_FOLDERS
from training.records.journal import (
    CleanupError,
    Journal,
    Keep,
    Move,
    MoveKind,
    journal_file,
    load,
    locked,
    now,
    remove_empty_folder,
    save,
)


@dataclass(frozen=True)
class MoveOutcome:
    """What a batch of moves did: the moves made and, per file that failed, why."""

    moves: tuple[Move, ...]
    failures: tuple[str, ...] = ()

    def describe(self) -> str:
        text = f"{len(self.moves)} image(s) moved"
        renamed = sum(1 for move in self.moves if move.destination.name != move.source.name)
        if renamed:
            text += f", {renamed} renamed because the name was taken"
        if self.failures:
            text += f"; {len(self.failures)} not moved: " + "; ".join(self.failures[:3])
        return text + "."


@dataclass(frozen=True)
class UndoOutcome:
    move: Move
    restored_to: Path
    """Where the file is now: back in the dataset, or (an add undone) its original."""
    note: str | None = None
    """Set when the file could not go back to its exact original path, or an added copy
    was gone already."""

    def describe(self) -> str:
        if self.note:
            return self.note
        if self.move.kind == "add":
            return (f"The copy {self.move.destination.name} is out of '{self.move.class_after}' "
                    f"again; the original {self.move.source} is untouched.")
        return f"{self.restored_to.name} is back in '{self.move.class_before}'."


# --- moving -----------------------------------------------------------------------------------

def move_to_class(root: str | os.PathLike[str], files: Iterable[str | os.PathLike[str]],
                  class_name: str) -> MoveOutcome:
    """Move images of the dataset into the folder of another of its classes.

    In a dataset with its own train/val/test folders an image stays in its part
    (`train/cheetah/x.jpg` → `train/lion/x.jpg`).
    """
    root_path = dataset_root(root)
    known = class_names(root_path)
    if class_name not in known:
        raise CleanupError(f"'{class_name}' is not a class of {root_path}; its classes are "
                           f"{', '.join(known)}. Choose one of them.")

    def target(source: Path, place: _Place) -> tuple[Path, str | None]:
        if place.class_name == class_name:
            raise CleanupError(f"{source.name} is already in class '{class_name}'.")
        return root_path.joinpath(*place.split_parts, class_name), class_name

    return _move_all(root_path, files, "class", target)


def move_to_quarantine(root: str | os.PathLike[str], files: Iterable[str | os.PathLike[str]],
                       quarantine: str | os.PathLike[str]) -> MoveOutcome:
    """Move images out of the dataset into `quarantine/<class>/` (their path inside the
    dataset is kept, so the user can see where each came from)."""
    root_path = dataset_root(root)
    folder = Path(quarantine).expanduser().resolve()
    if folder == root_path or folder.is_relative_to(root_path):
        raise CleanupError(
            f"The quarantine folder {folder} is inside the dataset {root_path}: it would be "
            "scanned as a class. Choose a folder outside the dataset folder."
        )
    if folder.exists() and not folder.is_dir():
        raise CleanupError(f"{folder} is a file, not a folder. Choose a folder for quarantine.")

    def target(source: Path, place: _Place) -> tuple[Path, str | None]:
        return folder.joinpath(*source.relative_to(root_path).parent.parts), None

    return _move_all(root_path, files, "quarantine", target)


@dataclass(frozen=True)
class _Place:
    """Where a file sits in the dataset: its class, and the split folder above it if any."""

    class_name: str
    split_parts: tuple[str, ...]


def class_names(root: Path) -> list[str]:
    """The dataset's class folder names, by the scanner's layout rules."""
    splits = split_dirs(root)
    if splits:
        return sorted({d.name for split in splits for d in _subdirs(split)})
    return [d.name for d in _subdirs(root)]


def _subdirs(folder: Path) -> list[Path]:
    try:
        return sorted((d for d in folder.iterdir()
                       if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name)
    except OSError:
        return []


def split_dirs(root: Path) -> list[Path]:
    top = {SPLIT_FOLDERS[d.name.lower()]: d for d in _subdirs(root)
           if d.name.lower() in SPLIT_FOLDERS}
    return list(top.values()) if "train" in top and "val" in top else []


def _place(root: Path, source: Path) -> _Place:
    try:
        parts = source.relative_to(root).parts
    except ValueError:
        raise CleanupError(f"{source} is not inside the dataset {root}.") from None
    split = 1 if split_dirs(root) and parts[0].lower() in SPLIT_FOLDERS else 0
    if len(parts) < split + 2:
        raise CleanupError(f"{source} is not in a class folder of {root}.")
    return _Place(parts[split], parts[:split])


def _located(file: str | os.PathLike[str]) -> Path:
    """An absolute path with its folder resolved (the dataset root is resolved too) but not
    the file itself: a linked file is moved as the link."""
    path = Path(file).expanduser().absolute()
    return path.parent.resolve() / path.name


def dataset_root(root: str | os.PathLike[str]) -> Path:
    root_path = Path(root).expanduser().resolve()
    if not root_path.is_dir():
        raise CleanupError(f"{root_path} is not a folder. Give the dataset folder.")
    return root_path


def _move_all(root: Path, files: Iterable[str | os.PathLike[str]], kind: MoveKind,
              target: Any) -> MoveOutcome:
    """Record every planned move, move the files, then record what happened."""
    with locked(root):
        journal = load(root)
        planned: list[Move] = []
        failures: list[str] = []
        taken: set[Path] = set()
        for file in files:
            source = _located(file)
            try:
                if source.is_dir():
                    raise CleanupError(f"{source} is a folder; only image files can be moved. "
                                       "Give the images inside it instead.")
                if not source.is_file():
                    raise CleanupError(f"{source} no longer exists (was it moved or deleted?); "
                                       "scan the dataset again.")
                place = _place(root, source)
                folder, class_after = target(source, place)
                destination = _free(folder, source.name, taken)
                taken.add(destination)
                planned.append(Move(
                    move_id=journal.next_id + len(planned), time=now(), kind=kind,
                    source=source, destination=destination, class_before=place.class_name,
                    class_after=class_after, content_hash=content_hash(source.read_bytes()),
                    state="pending"))
            except CleanupError as error:
                failures.append(str(error))
            except OSError as error:
                failures.append(f"{source}: {error.strerror or error}")
        if not planned:
            return MoveOutcome((), tuple(failures))
        journal = replace(journal, moves=journal.moves + tuple(planned),
                          next_id=journal.next_id + len(planned))
        save(journal)
        finished: dict[int, Move] = {}
        for move in planned:
            try:
                move.destination.parent.mkdir(parents=True, exist_ok=True)
                move_file(move.source, move.destination)
                finished[move.move_id] = replace(move, state="done")
            except OSError as error:
                failures.append(f"{move.source}: not moved ({error.strerror or error}).")
        failed_ids = {move.move_id for move in planned} - set(finished)
        journal = replace(journal, moves=tuple(
            finished.get(move.move_id, move) for move in journal.moves
            if move.move_id not in failed_ids))
        save(journal)
        return MoveOutcome(tuple(finished.values()), tuple(failures))


def _free(folder: Path, name: str, taken: set[Path]) -> Path:
    """A free name in `folder` that no other move of this batch has chosen either."""
    candidate = free_name(folder, name)
    stem, suffix = Path(name).stem, Path(name).suffix
    number = 2
    while candidate in taken:
        candidate = free_name(folder, f"{stem} ({number}){suffix}")
        number += 1
    return candidate


# --- undo -------------------------------------------------------------------------------------

def undo_move(root: str | os.PathLike[str], move_id: int | None = None) -> UndoOutcome:
    """Move a file back where it came from; `move_id=None` undoes the latest move in effect.
    Undoing an add (`training.insight.adding`) deletes the copy it made.

    Moves can be undone in any order. When the original name has been taken since, the
    file comes back beside it under a free name, and the outcome says so.
    """
    root_path = Path(root).expanduser().resolve()
    with locked(root_path):
        journal = load(root_path)
        move = _find(journal, move_id)
        if move.impossible_path:
            raise CleanupError(
                f"Move {move.move_id} in the clean-up journal {journal_file(root_path)} names "
                f"a {move.impossible_path} path with a NUL character, which no file can have "
                "(the journal was edited or damaged), so it cannot be undone; the other moves "
                "can. Put that file back by hand if you know where it was.")
        if move.kind == "add":
            return _remove_copy(journal, move)
        if not move.destination.is_file():
            raise CleanupError(
                f"{move.destination} is gone, so '{move.source.name}' cannot be moved back. "
                "If you moved it yourself, put it back into "
                f"{move.source.parent} by hand.")
        _check_still_moved(move)
        back = free_name(move.source.parent, move.source.name)
        note = None if back == move.source else (
            f"{move.source} is taken by another file now, so the moved image came back "
            f"beside it as {back.name}.")
        journal = with_move(journal, replace(move, state="undoing", restored_to=back))
        save(journal)
        try:
            back.parent.mkdir(parents=True, exist_ok=True)
            move_file(move.destination, back)
        except OSError as error:
            save(with_move(journal, move))
            raise CleanupError(f"{move.destination} could not be moved back to {back} "
                               f"({error.strerror or error}).") from None
        undone = replace(move, state="undone", restored_to=back, undone_time=now())
        save(with_move(journal, undone))
        return UndoOutcome(undone, back, note)


def _remove_copy(journal: Journal, move: Move) -> UndoOutcome:
    """Undo an add: delete the copy it made, and only that copy (the original, outside the
    dataset, was never touched). A copy already gone is undone with nothing to remove."""
    note: str | None = f"The copy {move.destination} was already gone; nothing was removed."
    if os.path.lexists(move.destination):
        _check_still_moved(move)
        journal = with_move(journal, replace(move, state="undoing"))
        save(journal)
        try:
            move.destination.unlink()
        except OSError as error:
            save(with_move(journal, move))
            raise CleanupError(f"The copy {move.destination} could not be removed "
                               f"({error.strerror or error}).") from None
        note = None
    remove_empty_folder(move)
    undone = replace(move, state="undone", undone_time=now())
    save(with_move(journal, undone))
    return UndoOutcome(undone, move.source, note)


def _check_still_moved(move: Move) -> None:
    """Refuse to undo when the file at the destination is no longer the one moved there (the
    quarantine was emptied and another file took the name, or it was edited)."""
    try:
        found = content_hash(move.destination.read_bytes())
    except OSError as error:
        raise CleanupError(f"{move.destination} cannot be read ({error.strerror or error}), "
                           "so it cannot be moved back.") from None
    if found != move.content_hash and move.kind == "add":
        raise CleanupError(
            f"{move.destination} is not the copy that was added (it was changed, or another "
            "file took its name), so undo leaves it where it is.")
    if found != move.content_hash:
        raise CleanupError(
            f"{move.destination} is not the image that was moved there (another file took "
            f"its name, or it was changed), so undo leaves it where it is. If you still have "
            f"'{move.source.name}', put it back into {move.source.parent} by hand.")


def _find(journal: Journal, move_id: int | None) -> Move:
    applied = journal.applied
    if move_id is None:
        if not applied:
            raise CleanupError(f"There is no move to undo in {journal.root}.")
        return applied[-1]
    for move in journal.moves:
        if move.move_id == move_id:
            if not move.applied:
                raise CleanupError(f"Move {move_id} ({move.source.name}) was already undone.")
            return move
    raise CleanupError(f"There is no move {move_id} in the journal of {journal.root}; "
                       "list the moves to see their numbers.")


def with_move(journal: Journal, changed: Move) -> Journal:
    return replace(journal, moves=tuple(changed if move.move_id == changed.move_id else move
                                        for move in journal.moves))


# --- keep -------------------------------------------------------------------------------------

def keep_images(root: str | os.PathLike[str],
                files: Sequence[str | os.PathLike[str]]) -> tuple[Keep, ...]:
    """Mark images as reviewed and right where they are (remembered by content)."""
    root_path = dataset_root(root)
    marks: list[Keep] = []
    for file in files:
        source = _located(file)
        try:
            data = source.read_bytes()
        except OSError:
            raise CleanupError(f"{source} cannot be read (does it still exist?); scan the "
                               "dataset again.") from None
        relpath = source.relative_to(root_path).as_posix() \
            if source.is_relative_to(root_path) else str(source)
        marks.append(Keep(content_hash(data), relpath, now()))
    with locked(root_path):
        journal = load(root_path)
        known = journal.kept_hashes
        fresh = tuple({mark.content_hash: mark for mark in marks
                       if mark.content_hash not in known}.values())
        if fresh:
            save(replace(journal, keeps=journal.keeps + fresh))
    return tuple(marks)


def forget_kept(root: str | os.PathLike[str], content_hashes: Iterable[str]) -> int:
    """Forget "keep" marks; returns how many were removed."""
    drop = set(content_hashes)
    root_path = Path(root).expanduser().resolve()
    with locked(root_path):
        journal = load(root_path)
        kept = tuple(mark for mark in journal.keeps if mark.content_hash not in drop)
        if len(kept) != len(journal.keeps):
            save(replace(journal, keeps=kept))
        return len(journal.keeps) - len(kept)

