"""The label-edit journal: every change made to a dataset's labels.csv, and how to undo it.

A sibling of the clean-up journal (`training.records.journal`), not a new kind of `Move`: a
move names a file and two folders, a label edit names a row, a label and two versions of
labels.csv, and undoing it means putting back the exact bytes the user had. So each edit
keeps the file as it was before (a backup under CheetahLion's data folder, never inside
the dataset) and the content hash of the file before and after. Undo writes the backup
back only when labels.csv is still exactly as the edit left it; anything else (an edit by
hand, a later edit) is refused with the backup's path, so nothing the user wrote is lost.

The two journals share what the user sees as one list: the same lock (`journal.locked`), and
one numbering (an edit takes the clean-up journal's `next_id`), so `undo N` and
`undo --last` mean the same whichever journal holds N.

Crash safety follows the moves: the backup is written and the entry saved as `pending`
before labels.csv is replaced, then the entry becomes `done`. The next read settles an
unfinished entry by comparing labels.csv with the two hashes (`_settle`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal, get_args

from training.core.atomic import write_atomically
from training.core.file_ops import file_digest
from training.records.journal import CleanupError, journal_file, locked, now

LABEL_JOURNAL_VERSION = 2
"""2: a photo added with its labels (action "new-row", `copy_id`)."""
EditAction = Literal["add", "remove", "new-row"]
EditState = Literal["pending", "done", "undoing", "undone"]


@dataclass(frozen=True)
class LabelEdit:
    """One label added to or removed from one photo's row of labels.csv, or ("new-row") a
    photo copied into the dataset with its row appended (`label`: its labels, `;`-joined)."""

    edit_id: int
    time: str
    file: Path
    """The labels.csv changed."""
    relpath: str
    """The photo's path as the file lists it."""
    label: str
    action: EditAction
    before_hash: str
    after_hash: str
    backup: Path
    """labels.csv's bytes before the edit."""
    state: EditState = "done"
    undone_time: str | None = None
    copy_id: int | None = None
    """A new row's photo: the clean-up journal's "add" that copied it in (undoing the edit
    removes that copy too, `label_edits.undo_change`)."""

    @property
    def applied(self) -> bool:
        return self.state == "done"

    def describe(self) -> str:
        if self.action == "new-row":
            return (f"{self.relpath}: added with the labels {self.label or '(none)'} "
                    "(labels.csv)")
        if self.action == "add":
            return f"{self.relpath}: label '{self.label}' added (labels.csv)"
        return f"{self.relpath}: label '{self.label}' removed (labels.csv)"


@dataclass(frozen=True)
class LabelJournal:
    root: Path
    edits: tuple[LabelEdit, ...] = ()

    @property
    def applied(self) -> tuple[LabelEdit, ...]:
        return tuple(edit for edit in self.edits if edit.applied)

    def find(self, edit_id: int) -> LabelEdit | None:
        return next((edit for edit in self.edits if edit.edit_id == edit_id), None)


def label_journal_file(root: str | os.PathLike[str]) -> Path:
    """Beside the clean-up journal: `<dataset key>.labels.json`."""
    moves = journal_file(root)
    return moves.with_name(f"{moves.stem}.labels.json")


def backup_file(root: Path, edit_id: int) -> Path:
    """Where edit `edit_id` keeps labels.csv as it was before."""
    moves = journal_file(root)
    return moves.with_name(f"{moves.stem}.labels") / f"{edit_id}.csv"


def read_label_journal(root: str | os.PathLike[str]) -> LabelJournal:
    """The dataset's label edits, any a crash interrupted settled against labels.csv."""
    root_path = Path(root).expanduser().resolve()
    with locked(root_path):
        return load_labels(root_path)


def load_labels(root: Path) -> LabelJournal:
    """Read (and settle) the journal; the caller holds `locked(root)`."""
    file = label_journal_file(root)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return LabelJournal(root)
    except (OSError, ValueError, RecursionError) as error:
        raise _damaged(file, error) from None
    try:
        journal = LabelJournal(root, tuple(_edit_from(entry) for entry in _entries(data)))
    except (TypeError, ValueError) as error:
        raise _damaged(file, error) from None
    settled = replace(journal, edits=tuple(
        edit for edit in map(_settle, journal.edits) if edit is not None))
    if settled != journal:
        save_labels(settled)
    return settled


def save_labels(journal: LabelJournal) -> None:
    file = label_journal_file(journal.root)
    data = {"version": LABEL_JOURNAL_VERSION, "root": str(journal.root),
            "edits": [{key: str(value) if isinstance(value, Path) else value
                       for key, value in asdict(edit).items()} for edit in journal.edits]}
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(file, json.dumps(data, indent=1, ensure_ascii=False).encode("utf-8"))
    except OSError as error:
        raise CleanupError(f"CheetahLion cannot write {file} ({error.strerror or error}). Free "
                           "some space or fix that folder's permissions.") from None


def with_edit(journal: LabelJournal, changed: LabelEdit) -> LabelJournal:
    return replace(journal, edits=tuple(changed if edit.edit_id == changed.edit_id else edit
                                        for edit in journal.edits))


def current_hash(file: Path) -> str | None:
    """labels.csv's content hash now; None when it cannot be read."""
    try:
        return file_digest(file)
    except OSError:
        return None


def _settle(edit: LabelEdit) -> LabelEdit | None:
    """An edit (or its undo) a crash interrupted, by what labels.csv holds now. An edit that
    never reached the file is dropped; a file changed by hand since keeps the entry (and its
    backup), so undo can say where the old bytes are."""
    if edit.state not in ("pending", "undoing"):
        return edit
    found = current_hash(edit.file)
    if edit.state == "pending":
        return None if found == edit.before_hash else replace(edit, state="done")
    if found == edit.before_hash:
        return replace(edit, state="undone", undone_time=now())
    return replace(edit, state="done")


_TYPES: dict[str, tuple[type, ...]] = {
    "edit_id": (int,), "time": (str,), "file": (str,), "relpath": (str,), "label": (str,),
    "action": (str,), "before_hash": (str,), "after_hash": (str,), "backup": (str,),
    "state": (str,), "undone_time": (str, type(None)), "copy_id": (int, type(None)),
}


def _entries(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, dict):
        raise TypeError("it is not a JSON object")
    if _typed(data.get("version", 0), "'version'") > LABEL_JOURNAL_VERSION:
        raise ValueError("it was written by a newer CheetahLion; update CheetahLion")
    entries = data.get("edits", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise TypeError("'edits' is not a list of entries")
    return entries


def _typed(value: Any, name: str, allowed: tuple[type, ...] = (int,)) -> Any:
    if type(value) not in allowed:
        raise TypeError(f"{name} is {type(value).__name__}, not "
                        f"{' or '.join(kind.__name__ for kind in allowed)}")
    return value


def _edit_from(entry: dict[str, Any]) -> LabelEdit:
    unknown = set(entry) - set(_TYPES)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
    missing = set(_TYPES) - {"state", "undone_time", "copy_id"} - set(entry)
    if missing:
        raise ValueError(f"an edit lacks {', '.join(repr(k) for k in sorted(missing))}")
    for key, value in entry.items():
        _typed(value, f"an edit's '{key}'", _TYPES[key])
    if entry["action"] not in get_args(EditAction):
        raise ValueError(f"unknown action {entry['action']!r}")
    if entry.get("state", "done") not in get_args(EditState):
        raise ValueError(f"unknown state {entry.get('state')!r}")
    paths = {key: Path(entry[key]) for key in ("file", "backup")}
    if not all(path.is_absolute() and "\0" not in str(path) for path in paths.values()):
        raise ValueError("an edit's file or backup is not an absolute path")
    return LabelEdit(**{**entry, **paths})


def _damaged(file: Path, detail: object) -> CleanupError:
    return CleanupError(f"The label-edit journal {file} cannot be read ({detail}). Move it "
                        "aside to start a new one; labels.csv stays as it is.")
