"""Clean a dataset folder: move images to another class or out to a quarantine folder, undoably.

Every move is a real file move that never overwrites anything (a taken name becomes
`photo (2).jpg`). Each one is written to a journal, one per dataset folder, kept under
CheetahLion's data folder (never inside the dataset, where it would be scanned), so the undo
list survives a restart and the run history can say how many moves a training run saw.

The journal is written before the files move and again after: an entry is first recorded
as `pending` (or `undoing`), then the file moves, then the entry becomes `done` (`undone`).
A crash in between leaves an unfinished entry; the next read of the journal looks at the
disk and finishes the bookkeeping either way, so no file is ever lost track of. The CLI and
the app may change one journal at the same time: every load→change→save holds an OS file
lock beside the journal as well as a thread lock.

"Keep" marks an image as reviewed and right where it is. It is remembered by content hash,
so it survives renames and moves, and the mislabel finder's list can hide it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from training.core import paths
from training.core.atomic import write_atomically
from training.core.errors import CheetahLionError
from training.core.file_ops import free_name, move_file
from training.data.images import content_hash
from training.data.scanning import SPLIT_FOLDERS
from training.fit.runs import dataset_key

JOURNAL_VERSION = 1
MoveKind = Literal["class", "quarantine"]
MoveState = Literal["pending", "done", "undoing", "undone"]
_lock = threading.Lock()
"""One journal change at a time in this process (the GUI moves files from worker threads);
`_journal_locked` adds the lock between processes."""


class CleanupError(CheetahLionError):
    """A clean-up action cannot be done as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Move:
    """One file moved out of its class folder: where from, where to, and whether undone."""

    move_id: int
    time: str
    kind: MoveKind
    source: Path
    destination: Path
    class_before: str
    class_after: str | None
    """The class it was moved to; None when it left the dataset (quarantine)."""
    content_hash: str
    state: MoveState = "done"
    restored_to: Path | None = None
    """Where undo put it back: `source`, or a free name beside it when that was taken."""
    undone_time: str | None = None

    @property
    def applied(self) -> bool:
        return self.state == "done"

    def describe(self) -> str:
        # A quarantine path is long: its last three parts say where (the full one is
        # in `destination`).
        where = f"class '{self.class_after}'" if self.class_after is not None \
            else f"quarantine (…/{'/'.join(self.destination.parts[-3:])})"
        return f"{self.source.name}: '{self.class_before}' → {where}"


@dataclass(frozen=True)
class Keep:
    """An image the user reviewed and kept where it is."""

    content_hash: str
    relpath: str
    time: str


@dataclass(frozen=True)
class Journal:
    """Everything done to one dataset folder, oldest first."""

    root: Path
    moves: tuple[Move, ...] = ()
    keeps: tuple[Keep, ...] = ()
    next_id: int = 1

    @property
    def applied(self) -> tuple[Move, ...]:
        """Moves in effect (not undone)."""
        return tuple(move for move in self.moves if move.applied)

    @property
    def kept_hashes(self) -> frozenset[str]:
        return frozenset(keep.content_hash for keep in self.keeps)


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
    note: str | None = None
    """Set when the file could not go back to its exact original path."""

    def describe(self) -> str:
        return self.note or f"{self.restored_to.name} is back in '{self.move.class_before}'."


# --- the journal file -------------------------------------------------------------------------

def journal_file(root: str | os.PathLike[str]) -> Path:
    """The journal of a dataset folder, beside its run history under the data folder."""
    return paths.data_dir() / "cleanup" / f"{dataset_key(Path(root))}.json"


def read_journal(root: str | os.PathLike[str]) -> Journal:
    """The dataset's journal, with any move a crash interrupted settled against the disk."""
    root_path = Path(root).resolve()
    with _journal_locked(root_path):
        return _load(root_path)


def applied_move_count(root: str | os.PathLike[str]) -> int:
    """How many clean-up moves are in effect on the dataset now (for the run history)."""
    return len(read_journal(root).applied)


@contextlib.contextmanager
def _journal_locked(root: Path) -> Iterator[None]:
    """Hold the dataset's journal for one load→change→save, against other threads and other
    processes (the CLI and the app), so neither saves over the other's new entries.

    The OS lock is on a separate file: the journal itself is replaced on every save, and a
    lock on the replaced file would guard nothing. The OS drops it when a process dies, so
    a crash never leaves the journal locked.
    """
    file = journal_file(root).with_suffix(".lock")
    with _lock:
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            handle = open(file, "a+b")  # noqa: SIM115 - closed below, after unlocking
        except OSError as error:
            raise _unwritable(file, error) from None
        with handle:
            _lock_file(handle.fileno())
            try:
                yield
            finally:
                _unlock_file(handle.fileno())


if sys.platform == "win32":
    import errno
    import msvcrt

    def _lock_file(descriptor: int) -> None:
        os.lseek(descriptor, 0, os.SEEK_SET)
        while True:
            try:
                msvcrt.locking(descriptor, msvcrt.LK_LOCK, 1)
                return
            except OSError as error:  # LK_LOCK gives up after 10 s; keep waiting
                if error.errno != errno.EDEADLOCK:
                    raise

    def _unlock_file(descriptor: int) -> None:
        os.lseek(descriptor, 0, os.SEEK_SET)
        msvcrt.locking(descriptor, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock_file(descriptor: int) -> None:
        fcntl.flock(descriptor, fcntl.LOCK_EX)

    def _unlock_file(descriptor: int) -> None:
        fcntl.flock(descriptor, fcntl.LOCK_UN)


def _load(root: Path) -> Journal:
    file = journal_file(root)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Journal(root)
    except (OSError, ValueError) as error:
        raise _damaged(file, error) from None
    except RecursionError:  # json's C scanner recurses once per nesting level
        raise _damaged(file, "it is nested too deeply to be a journal") from None
    try:
        journal = _parse(root, data)
    except (TypeError, ValueError) as error:
        raise _damaged(file, error) from None
    settled = _settle(journal)
    if settled != journal:
        _save(settled)
    return settled


def _parse(root: Path, data: Any) -> Journal:
    """The journal in `data` (parsed JSON); TypeError or ValueError when it is not the shape
    this module writes (edited by hand, or damaged)."""
    if not isinstance(data, dict):
        raise TypeError("it is not a JSON object")
    file = journal_file(root)
    version = _typed(data.get("version", 0), _INT, "'version'")
    if version > JOURNAL_VERSION:
        raise CleanupError(f"The clean-up journal {file} was written by a newer CheetahLion. "
                           "Update CheetahLion to undo those moves.")
    return Journal(
        root=root,
        moves=tuple(_move_from(entry) for entry in _entries(data, "moves")),
        keeps=tuple(Keep(**_checked(entry, _KEEP_TYPES, Keep, "keep mark"))
                    for entry in _entries(data, "keeps")),
        next_id=_typed(data.get("next_id", 1), _INT, "'next_id'"),
    )


def _entries(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    entries = data.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise TypeError(f"'{key}' is not a list of entries")
    return entries


_INT = (int,)
_TEXT = (str,)
_OPTIONAL_TEXT = (str, type(None))
_MOVE_TYPES: dict[str, tuple[type, ...]] = {
    "move_id": _INT, "time": _TEXT, "kind": _TEXT, "source": _TEXT, "destination": _TEXT,
    "class_before": _TEXT, "class_after": _OPTIONAL_TEXT, "content_hash": _TEXT,
    "state": _TEXT, "restored_to": _OPTIONAL_TEXT, "undone_time": _OPTIONAL_TEXT,
}
"""The JSON type of each `Move` field as `_save` writes it (paths as text)."""
_KEEP_TYPES: dict[str, tuple[type, ...]] = {"content_hash": _TEXT, "relpath": _TEXT, "time": _TEXT}
_PATH_FIELDS = ("source", "destination", "restored_to")


def _move_from(entry: dict[str, Any]) -> Move:
    _checked(entry, _MOVE_TYPES, Move, "move")
    if entry["kind"] not in get_args(MoveKind):
        raise ValueError(f"unknown kind of move {entry['kind']!r}")
    if entry.get("state", "done") not in get_args(MoveState):
        raise ValueError(f"unknown state {entry.get('state')!r}")
    paths_of = {key: Path(entry[key]) for key in _PATH_FIELDS if entry.get(key) is not None}
    for key, path in paths_of.items():
        # Undo moves files to these paths: a relative one would land wherever the CLI runs.
        if not path.is_absolute():
            raise ValueError(f"a move's '{key}' is not an absolute path: {path}")
    return Move(**{**entry, **paths_of})


def _checked(entry: dict[str, Any], types: Mapping[str, tuple[type, ...]], record: type,
             what: str) -> dict[str, Any]:
    """`entry` itself, once every field is known, present when required and of its JSON type:
    a journal edited by hand must fail here, with its file named, not later in a listing."""
    unknown = set(entry) - set(types)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
    required = {f.name for f in fields(record) if f.default is MISSING}
    missing = required - set(entry)
    if missing:
        raise ValueError(f"a {what} lacks {', '.join(repr(k) for k in sorted(missing))}")
    for key, value in entry.items():
        _typed(value, types[key], f"a {what}'s '{key}'")
    return entry


_JSON_NAMES = {bool: "true/false", int: "a whole number", float: "a fractional number",
               str: "text", list: "a list", dict: "an object", type(None): "null"}


def _typed(value: Any, allowed: tuple[type, ...], name: str) -> Any:
    """`value` if its type is exactly one `allowed` (so true/false is not a whole number)."""
    if type(value) in allowed:
        return value
    expected = " or ".join(_JSON_NAMES[kind] for kind in allowed)
    raise TypeError(f"{name} is {_JSON_NAMES[type(value)]}, not {expected}")


def _damaged(file: Path, detail: object) -> CleanupError:
    return CleanupError(
        f"The clean-up journal {file} cannot be read ({detail}). Move it aside to start a "
        "new one; the files it lists stay where they are.")


def _unwritable(file: Path, error: OSError) -> CleanupError:
    return CleanupError(
        f"CheetahLion cannot write {file} ({error.strerror or error}). Its data folder must "
        "be writable for clean-up moves: free some space or fix that folder's permissions, "
        f"or set {paths.HOME_ENV} to a writable folder.")


def _save(journal: Journal) -> None:
    file = journal_file(journal.root)
    data = {
        "version": JOURNAL_VERSION,
        "root": str(journal.root),
        "next_id": journal.next_id,
        "moves": [_plain(asdict(move)) for move in journal.moves],
        "keeps": [asdict(keep) for keep in journal.keeps],
    }
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(file, json.dumps(data, indent=1, ensure_ascii=False).encode("utf-8"))
    except OSError as error:
        raise _unwritable(file, error) from None


def _plain(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: str(value) if isinstance(value, Path) else value for key, value in entry.items()}


def _settle(journal: Journal) -> Journal:
    """Finish the bookkeeping of moves a crash interrupted, by looking at where the file is."""
    moves: list[Move] = []
    for move in journal.moves:
        if move.state == "pending":
            there = _settle_copy(move.source, move.destination)
            if there:
                moves.append(replace(move, state="done"))
            # else: the move never happened; the file is still at its source.
        elif move.state == "undoing" and move.restored_to is not None:
            back = _settle_copy(move.destination, move.restored_to)
            moves.append(replace(move, state="undone", undone_time=_now()) if back
                         else replace(move, state="done", restored_to=None))
        else:
            moves.append(move)
    return replace(journal, moves=tuple(moves))


def _settle_copy(origin: Path, target: Path) -> bool:
    """True when an interrupted move from `origin` to `target` reached `target`.

    When both exist the file is still at `origin`, so it counts as not moved, and `target`
    is removed only when removing it provably loses nothing: it is `origin` itself under a
    second name (the move's hard link) or a symbolic link to the same file as `origin` (the
    move's re-created link). Any other file there (an empty or partial copy, or one someone
    put there) is left alone: the next scan shows it, as a damaged image or a duplicate.
    """
    if not os.path.lexists(origin):
        return True  # moved; or gone from both, and the kept entry lets undo say so
    if not os.path.lexists(target):
        return False
    try:
        if _same_file(origin, target):
            target.unlink()
    except OSError:
        pass
    return False


def _same_file(origin: Path, target: Path) -> bool:
    """Whether `target` is a second name of `origin`, or both link to the same file."""
    first, second = origin.lstat(), target.lstat()
    if (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino):
        return True
    return origin.is_symlink() and target.is_symlink() and os.path.samefile(origin, target)


# --- moving -----------------------------------------------------------------------------------

def move_to_class(root: str | os.PathLike[str], files: Iterable[str | os.PathLike[str]],
                  class_name: str) -> MoveOutcome:
    """Move images of the dataset into the folder of another of its classes.

    In a dataset with its own train/val/test folders an image stays in its part
    (`train/cheetah/x.jpg` → `train/lion/x.jpg`).
    """
    root_path = _dataset_root(root)
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
    root_path = _dataset_root(root)
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
    split_dirs = _split_dirs(root)
    if split_dirs:
        return sorted({d.name for split in split_dirs for d in _subdirs(split)})
    return [d.name for d in _subdirs(root)]


def _subdirs(folder: Path) -> list[Path]:
    try:
        return sorted((d for d in folder.iterdir()
                       if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name)
    except OSError:
        return []


def _split_dirs(root: Path) -> list[Path]:
    top = {SPLIT_FOLDERS[d.name.lower()]: d for d in _subdirs(root)
           if d.name.lower() in SPLIT_FOLDERS}
    return list(top.values()) if "train" in top and "val" in top else []


def _place(root: Path, source: Path) -> _Place:
    try:
        parts = source.relative_to(root).parts
    except ValueError:
        raise CleanupError(f"{source} is not inside the dataset {root}.") from None
    split = 1 if _split_dirs(root) and parts[0].lower() in SPLIT_FOLDERS else 0
    if len(parts) < split + 2:
        raise CleanupError(f"{source} is not in a class folder of {root}.")
    return _Place(parts[split], parts[:split])


def _located(file: str | os.PathLike[str]) -> Path:
    """An absolute path with its folder resolved (the dataset root is resolved too) but not
    the file itself: a linked file is moved as the link."""
    path = Path(file).expanduser().absolute()
    return path.parent.resolve() / path.name


def _dataset_root(root: str | os.PathLike[str]) -> Path:
    root_path = Path(root).expanduser().resolve()
    if not root_path.is_dir():
        raise CleanupError(f"{root_path} is not a folder. Give the dataset folder.")
    return root_path


def _move_all(root: Path, files: Iterable[str | os.PathLike[str]], kind: MoveKind,
              target: Any) -> MoveOutcome:
    """Record every planned move, move the files, then record what happened."""
    with _journal_locked(root):
        journal = _load(root)
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
                    move_id=journal.next_id + len(planned), time=_now(), kind=kind,
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
        _save(journal)
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
        _save(journal)
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

    Moves can be undone in any order. When the original name has been taken since, the
    file comes back beside it under a free name, and the outcome says so.
    """
    root_path = Path(root).expanduser().resolve()
    with _journal_locked(root_path):
        journal = _load(root_path)
        move = _find(journal, move_id)
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
        journal = _with(journal, replace(move, state="undoing", restored_to=back))
        _save(journal)
        try:
            back.parent.mkdir(parents=True, exist_ok=True)
            move_file(move.destination, back)
        except OSError as error:
            _save(_with(journal, move))
            raise CleanupError(f"{move.destination} could not be moved back to {back} "
                               f"({error.strerror or error}).") from None
        undone = replace(move, state="undone", restored_to=back, undone_time=_now())
        _save(_with(journal, undone))
        return UndoOutcome(undone, back, note)


def _check_still_moved(move: Move) -> None:
    """Refuse to undo when the file at the destination is no longer the one moved there (the
    quarantine was emptied and another file took the name, or it was edited)."""
    try:
        found = content_hash(move.destination.read_bytes())
    except OSError as error:
        raise CleanupError(f"{move.destination} cannot be read ({error.strerror or error}), "
                           "so it cannot be moved back.") from None
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


def _with(journal: Journal, changed: Move) -> Journal:
    return replace(journal, moves=tuple(changed if move.move_id == changed.move_id else move
                                        for move in journal.moves))


# --- keep -------------------------------------------------------------------------------------

def keep_images(root: str | os.PathLike[str],
                files: Sequence[str | os.PathLike[str]]) -> tuple[Keep, ...]:
    """Mark images as reviewed and right where they are (remembered by content)."""
    root_path = _dataset_root(root)
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
        marks.append(Keep(content_hash(data), relpath, _now()))
    with _journal_locked(root_path):
        journal = _load(root_path)
        known = journal.kept_hashes
        fresh = tuple({mark.content_hash: mark for mark in marks
                       if mark.content_hash not in known}.values())
        if fresh:
            _save(replace(journal, keeps=journal.keeps + fresh))
    return tuple(marks)


def forget_kept(root: str | os.PathLike[str], content_hashes: Iterable[str]) -> int:
    """Forget "keep" marks; returns how many were removed."""
    drop = set(content_hashes)
    root_path = Path(root).expanduser().resolve()
    with _journal_locked(root_path):
        journal = _load(root_path)
        kept = tuple(mark for mark in journal.keeps if mark.content_hash not in drop)
        if len(kept) != len(journal.keeps):
            _save(replace(journal, keeps=kept))
        return len(journal.keeps) - len(kept)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
