"""The clean-up journal: every move made in a dataset folder, and every photo kept.

One JSON file per dataset folder under CheetahLion's data folder (never inside the dataset,
where it would be scanned), so the undo list survives a restart and the run history can say
how many moves a training run saw (`applied_move_count`). `training.insight.cleanup` makes the
moves; this module owns the file: its format, its checks and its locks.

An entry is first recorded as `pending` (or `undoing`), then the file moves, then the entry
becomes `done` (`undone`). A crash in between leaves an unfinished entry; the next read looks
at the disk and finishes the bookkeeping either way (`_settle`), so no file is ever lost
track of (a photo added from outside, `training.insight.adding`, is a copy: `_settle_add`).
The CLI and the app may change one journal at the same time: every
load→change→save holds an OS file lock beside the journal as well as a thread lock.

"Keep" marks an image as reviewed and right where it is. It is remembered by content hash,
so it survives renames and moves, and the mislabel finder's list can hide it.

Everything read from the file is type-checked: a damaged or hand-edited journal is one
`CleanupError` naming the file and the field, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from training.core import paths
from training.core.atomic import remove_stale_temporaries, stale_temporaries, write_atomically
from training.core.errors import CheetahLionError
from training.core.file_lock import lock_file, unlock_file
from training.core.file_ops import file_digest

JOURNAL_VERSION = 2
"""2 added the kind "add" and `made_folder`; version 1 journals read as they are."""
MoveKind = Literal["class", "quarantine", "add"]
MoveState = Literal["pending", "done", "undoing", "undone"]
_lock = threading.Lock()
"""One journal change at a time in this process (the GUI moves files from worker threads);
`locked` adds the lock between processes."""


class CleanupError(CheetahLionError):
    """A clean-up action cannot be done as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Move:
    """One file moved out of its class folder, or copied into one from outside the dataset
    (kind "add"): where from, where to, and whether undone."""

    move_id: int
    time: str
    kind: MoveKind
    source: Path
    destination: Path
    class_before: str
    """The class it was in; "" for a photo added from outside the dataset."""
    class_after: str | None
    """The class it was moved to; None when it left the dataset (quarantine)."""
    content_hash: str
    state: MoveState = "done"
    restored_to: Path | None = None
    """Where undo put it back: `source`, or a free name beside it when that was taken."""
    undone_time: str | None = None
    made_folder: bool = False
    """An add created its class folder (a new class): undoing it removes the folder when
    it is empty again, since an empty class folder stops training."""

    @property
    def applied(self) -> bool:
        return self.state == "done"

    @property
    def impossible_path(self) -> str | None:
        """The field naming a path no file can have (a NUL character in it: a damaged or
        hand-edited journal), or None. Such a move is never settled nor undone; the
        journal's other moves still are."""
        return next((key for key in _PATH_FIELDS
                     if "\0" in str(getattr(self, key) or "")), None)

    def describe(self) -> str:
        if self.kind == "add":
            renamed = f" as {self.destination.name}" \
                if self.destination.name != self.source.name else ""
            return f"{self.source.name}: added to class '{self.class_after}'{renamed}"
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


# --- the journal file -------------------------------------------------------------------------

def journal_file(root: str | os.PathLike[str]) -> Path:
    """The journal of a dataset folder, beside its run history under the data folder."""
    return paths.data_dir() / "cleanup" / f"{paths.dataset_key(Path(root))}.json"


def read_journal(root: str | os.PathLike[str]) -> Journal:
    """The dataset's journal, with any move a crash interrupted settled against the disk."""
    root_path = Path(root).resolve()
    with locked(root_path):
        return load(root_path)


def applied_move_count(root: str | os.PathLike[str]) -> int:
    """How many clean-up moves are in effect on the dataset now (for the run history). Photos
    added from outside are not moves: the run's image count shows them."""
    return sum(1 for move in read_journal(root).applied if move.kind != "add")


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
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
            lock_file(handle.fileno())
            try:
                yield
            finally:
                unlock_file(handle.fileno())


def load(root: Path) -> Journal:
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
        save(settled)
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
    "made_folder": (bool,),
}
"""The JSON type of each `Move` field as `save` writes it (paths as text)."""
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


def save(journal: Journal) -> None:
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
        if move.impossible_path:
            moves.append(move)  # nothing on disk can be at such a path: nothing to settle
        elif move.kind == "add":
            moves.extend(_settle_add(move))
        elif move.state == "pending":
            there = _settle_copy(move.source, move.destination, move.content_hash)
            if there:
                moves.append(replace(move, state="done"))
            # else: the move never happened; the file is still at its source.
        elif move.state == "undoing" and move.restored_to is not None:
            back = _settle_copy(move.destination, move.restored_to, move.content_hash)
            moves.append(replace(move, state="undone", undone_time=now()) if back
                         else replace(move, state="done", restored_to=None))
        else:
            moves.append(move)
    return replace(journal, moves=tuple(moves))


def _settle_add(move: Move) -> tuple[Move, ...]:
    """An add (or its undo) a crash interrupted, settled by whether the destination holds the
    copy (`copy_file` links it to its name whole or not at all). An add that never happened
    is dropped; another file under its name is left alone (the next scan shows it)."""
    if move.state not in ("pending", "undoing"):
        return (move,)
    remove_stale_temporaries(move.destination)  # a killed copy's hidden temporary file
    if _holds(move.destination, move.content_hash):
        return (replace(move, state="done"),)
    remove_empty_folder(move)
    return (replace(move, state="undone", undone_time=now()),) if move.state == "undoing" else ()


def _holds(path: Path, digest: str) -> bool:
    try:
        return path.is_file() and file_digest(path) == digest
    except (OSError, ValueError):
        return False


def remove_empty_folder(move: Move) -> None:
    """Remove the class folder an add created, if nothing is in it (any more)."""
    if move.made_folder:
        with contextlib.suppress(OSError):
            move.destination.parent.rmdir()  # refuses a folder that is not empty


def _settle_copy(origin: Path, target: Path, digest: str) -> bool:
    """True when an interrupted move from `origin` to `target` reached `target`.

    When both exist the file is still at `origin`, so it counts as not moved, and `target`
    is removed only when removing it provably loses nothing: it is `origin` itself under a
    second name (the move's hard link), a symbolic link to the same file as `origin` (the
    move's re-created link), or the move's own copy to another disk, killed after the copy
    got its name: its hidden temporary file is still a second name of it, and `origin`
    still holds the same bytes. Any other file there (an empty or partial copy, or one
    someone put there) is left alone: the next scan shows it, as a damaged image or a
    duplicate. A killed copy's hidden temporary files go too.
    """
    leftovers = stale_temporaries(target)
    try:
        if not os.path.lexists(origin):
            return True  # moved; or gone from both, and the kept entry lets undo say so
        if not os.path.lexists(target):
            return False
        own_copy = any(_same_file(left, target) for left in leftovers) \
            and _holds(target, digest) and _holds(origin, digest)
        if own_copy or _same_file(origin, target):
            target.unlink()
    except OSError:
        pass
    finally:
        for left in leftovers:
            with contextlib.suppress(OSError):
                left.unlink()
    return False


def _same_file(origin: Path, target: Path) -> bool:
    """Whether `target` is a second name of `origin`, or both link to the same file."""
    first, second = origin.lstat(), target.lstat()
    if (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino):
        return True
    return origin.is_symlink() and target.is_symlink() and os.path.samefile(origin, target)


def now() -> str:
    """The time stamp entries carry (UTC, to the second)."""
    return datetime.now(UTC).isoformat(timespec="seconds")
