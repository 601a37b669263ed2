"""Add a label to a photo or take one off, undoably, in either multi-label layout.

- labels.csv: the photo's row is rewritten (its labels cell, `;`-joined and sorted) and the
  file replaced atomically (`core.atomic`); every other row keeps its exact bytes, and so do
  a byte-order mark and the line endings. The edit is journalled with a backup of the whole
  file as it was (`training.records.label_journal`), so undo gives back the user's bytes.
  The file is re-read and compared before it is replaced: an edit based on a labels.csv that
  changed on disk since it was read (`expected_hash`, from the finder's report) is refused.
- class folders: adding a label copies the photo into that label's folder (a journalled
  "add", `adding.journalled_copy`); removing one moves the photo's copy out of that folder
  into quarantine (`cleanup.move_to_quarantine`). Both undo as today's moves do.

`undo_change` undoes either kind by its number: the two journals share one numbering.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from training.core.atomic import write_atomically
from training.core.file_ops import file_digest
from training.data.images import content_hash
from training.data.labels_csv import LABELS_COLUMN, label_name_problem, parse_labels_csv
from training.insight.adding import journalled_copy
from training.insight.cleanup import (
    UndoOutcome,
    class_names,
    dataset_root,
    move_to_quarantine,
    split_dirs,
    undo_move,
)
from training.records.journal import CleanupError, Move, load, locked, now, read_journal, save
from training.records.label_journal import (
    EditAction,
    LabelEdit,
    backup_file,
    current_hash,
    load_labels,
    read_label_journal,
    save_labels,
    with_edit,
)
from training.records.multilabel import LABEL_SEPARATOR, LABELS_FILE

Action = Literal["add", "remove"]


@dataclass(frozen=True)
class LabelChange:
    """What one label edit did: a labels.csv `edit`, or a `move` (class-folders layout)."""

    change_id: int
    edit: LabelEdit | None = None
    move: Move | None = None

    def describe(self) -> str:
        if self.edit is not None:
            return self.edit.describe()
        assert self.move is not None
        if self.move.kind == "add":
            return (f"{self.move.source.name}: copied into '{self.move.class_after}' "
                    f"({self.move.destination})")
        return f"{self.move.source.name}: moved out of '{self.move.class_before}' " \
               f"to {self.move.destination}"


@dataclass(frozen=True)
class LabelUndo:
    """A labels.csv edit undone: the file holds its bytes from before the edit again (and a
    new row's photo, copied in with it, is gone again: `copy`)."""

    edit: LabelEdit
    copy: UndoOutcome | None = None

    def describe(self) -> str:
        if self.edit.action == "new-row":
            gone = "; its copy was removed" if self.copy is not None else ""
            return (f"{self.edit.file} is back as it was before {self.edit.relpath} was "
                    f"added{gone}.")
        verb = "added to" if self.edit.action == "add" else "removed from"
        return (f"{self.edit.file} is back as it was before '{self.edit.label}' was {verb} "
                f"{self.edit.relpath}.")


def edit_label(root: str | os.PathLike[str], photo: str | os.PathLike[str], label: str,
               action: Action, *, expected_hash: str | None = None,
               quarantine: str | os.PathLike[str] | None = None) -> LabelChange:
    """Add `label` to `photo` or remove it (`action`), in labels.csv when the folder has one,
    else in its class folders. `photo`: a path, or one relative to `root`. `expected_hash`:
    labels.csv's content hash when it was read (the finder's `labels_file_hash`); the edit is
    refused when the file differs now. `quarantine`: where a removed label's copy goes in the
    class-folders layout (required there)."""
    root_path = dataset_root(root)
    if (root_path / LABELS_FILE).is_file():
        return LabelChange(*_edit_csv(root_path, _inside(root_path, photo), label, action,
                                      expected_hash))
    source = _inside(root_path, photo)
    if action == "add":
        move = _copy_into_label(root_path, source, label)
    else:
        move = _move_out_of_label(root_path, source, label, quarantine)
    return LabelChange(move.move_id, move=move)


def _inside(root: Path, photo: str | os.PathLike[str]) -> Path:
    path = Path(photo).expanduser()
    if not path.is_absolute() and not path.exists():
        path = root / path
    path = path.absolute().parent.resolve() / path.name
    if not path.is_relative_to(root):
        raise CleanupError(f"{path} is not inside the dataset {root}. Give a photo of it.")
    if not path.is_file():
        raise CleanupError(f"{path} does not exist (was it moved or deleted?); scan the "
                           "dataset again.")
    return path


# --- labels.csv ---------------------------------------------------------------------------

def _edit_csv(root: Path, photo: Path, label: str, action: Action,
              expected_hash: str | None) -> tuple[int, LabelEdit]:
    relpath = photo.relative_to(root).as_posix()
    file = root / LABELS_FILE

    def rewrite(data: bytes) -> bytes:
        return _rewritten(data, file, relpath, label, action)

    edit = rewrite_labels_file(root, relpath, label, action, rewrite, expected_hash,
                               refused=f"the labels of {relpath} were not changed")
    return edit.edit_id, edit


def rewrite_labels_file(root: Path, relpath: str, label: str, action: EditAction,
                        rewrite: Callable[[bytes], bytes], expected_hash: str | None,
                        refused: str, copy_id: int | None = None) -> LabelEdit:
    """Replace `root`'s labels.csv with `rewrite(its bytes)`, journalled: the file as it was
    is kept as the edit's backup, the entry is saved pending, the file is checked unchanged
    and replaced atomically, then the entry is done. Refused (`refused` says what was not
    done) when the file differs from `expected_hash`, or changed while this ran."""
    file = root / LABELS_FILE
    with locked(root):
        data = _read(file)
        before = content_hash(data)
        if expected_hash is not None and before != expected_hash:
            raise CleanupError(_changed(file, refused, "since it was read"))
        new_data = rewrite(data)
        journal = load(root)  # the edit takes the clean-up journal's next number
        edit_id = journal.next_id
        save(replace(journal, next_id=edit_id + 1))
        backup = backup_file(root, edit_id)
        try:
            backup.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(backup, data)
        except OSError as error:
            raise CleanupError(f"The backup {backup} of {file} cannot be written "
                               f"({error.strerror or error}); labels.csv was not changed."
                               ) from None
        edit = LabelEdit(edit_id, now(), file, relpath, label, action, before,
                         content_hash(new_data), backup, state="pending", copy_id=copy_id)
        labels = load_labels(root)
        labels = replace(labels, edits=(*labels.edits, edit))
        save_labels(labels)
        try:
            if current_hash(file) != before:  # someone saved it while this edit was made
                raise CleanupError(_changed(file, refused, "while the edit was made"))
            write_atomically(file, new_data)
        except (CleanupError, OSError) as error:
            save_labels(replace(labels, edits=labels.edits[:-1]))
            backup.unlink(missing_ok=True)
            if isinstance(error, CleanupError):
                raise
            raise CleanupError(f"{file} could not be written ({error.strerror or error}); it "
                               "is unchanged.") from None
        done = replace(edit, state="done")
        save_labels(with_edit(labels, done))
        return done


def _changed(file: Path, refused: str, when: str) -> str:
    return (f"{file} changed on disk {when} (edited by hand or by another program), so "
            f"{refused}. Scan the folder again and retry.")


def _read(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as error:
        raise CleanupError(f"{file} cannot be read ({error.strerror or error}).") from None


def _rewritten(data: bytes, file: Path, relpath: str, label: str, action: Action) -> bytes:
    """labels.csv's bytes with `label` added to or removed from `relpath`'s row; every other
    row's bytes, the byte-order mark and the row's line ending as they were. Checked by
    reading the result back: any other difference refuses the edit."""
    table = parse_labels_csv(data, file)
    rows = dict(table.rows)
    if relpath not in rows:
        raise CleanupError(f"{relpath} is not listed in {file}. Add a row for it first "
                           f"({relpath},{label}).")
    labels = set(rows[relpath])
    _check_edit(labels, table.labels, label, action, relpath)
    labels = labels | {label} if action == "add" else labels - {label}
    row = table.row_numbers[[path for path, _ in table.rows].index(relpath)]
    text = data.decode("utf-8-sig")
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    end = 0
    for cells in reader:
        start, end = end + 1, reader.line_num
        if header is None and any(cell.strip() for cell in cells):
            header = [cell.strip().lower() for cell in cells]
        if start == row:
            break
    assert header is not None
    record = "".join(lines[start - 1:end])
    ending = record[len(record.rstrip("\r\n")):]
    cells[header.index(LABELS_COLUMN)] = LABEL_SEPARATOR.join(sorted(labels))
    out = io.StringIO()
    csv.writer(out, lineterminator=ending).writerow(cells)
    new_text = "".join(lines[:start - 1]) + out.getvalue() + "".join(lines[end:])
    new_data = (codecs.BOM_UTF8 if data.startswith(codecs.BOM_UTF8) else b"") + \
        new_text.encode("utf-8")
    expected = {**rows, relpath: tuple(sorted(labels))}
    if dict(parse_labels_csv(new_data, file).rows) != expected:
        raise CleanupError(f"{file} could not be rewritten safely for {relpath}; it is "
                           "unchanged. Edit that row by hand.")
    return new_data


def _check_edit(has: set[str], known: tuple[str, ...], label: str, action: Action,
                relpath: str) -> None:
    if action == "add" and label in has:
        raise CleanupError(f"{relpath} has the label '{label}' already.")
    if action == "remove" and label not in has:
        raise CleanupError(f"{relpath} does not have the label '{label}' (its labels: "
                           f"{', '.join(sorted(has)) or 'none'}).")
    if action == "add":
        problem = label_name_problem(label)
        twin = next((k for k in known if k.casefold() == label.casefold() and k != label), None)
        if problem or not label.strip() or label != label.strip():
            raise CleanupError(problem or "A label cannot be empty, or start or end with a "
                               "space.")
        if twin is not None:
            raise CleanupError(f"'{label}' differs from the label '{twin}' only in case; use "
                               f"'{twin}'.")


# --- class folders ------------------------------------------------------------------------

def _copies(root: Path, photo: Path) -> dict[str, Path]:
    """The photo's copies (same bytes) in the dataset's label folders, by label."""
    size, digest = photo.stat().st_size, file_digest(photo)
    folders = [split / name for split in (split_dirs(root) or [root])
               for name in class_names(root) if (split / name).is_dir()]
    found: dict[str, Path] = {}
    for folder in folders:
        with os.scandir(folder) as entries:
            for entry in entries:
                path = Path(entry.path)
                if entry.is_file() and entry.stat().st_size == size \
                        and file_digest(path) == digest:
                    found.setdefault(folder.name, path)
    return found


def _copy_into_label(root: Path, photo: Path, label: str) -> Move:
    if photo.parent == root or photo.parent.parent not in (root, *split_dirs(root)):
        raise CleanupError(f"{photo} is not in a label folder of {root}.")
    copies = _copies(root, photo)
    _check_edit(set(copies), tuple(class_names(root)), label, "add", photo.name)
    folder = photo.parent.parent / label  # beside the photo's own label folder
    with locked(root):
        journal = load(root)
        return journalled_copy(journal, photo, folder, label, file_digest(photo),
                               class_before=photo.parent.name)


def _move_out_of_label(root: Path, photo: Path, label: str,
                       quarantine: str | os.PathLike[str] | None) -> Move:
    copies = _copies(root, photo)
    _check_edit(set(copies), tuple(copies), label, "remove", photo.name)
    if quarantine is None:
        raise CleanupError(f"In label folders, '{label}' comes off {photo.name} by moving its "
                           f"copy out of '{label}/': give a quarantine folder outside the "
                           "dataset for it (--quarantine DIR).")
    outcome = move_to_quarantine(root, [copies[label]], quarantine)
    if not outcome.moves:
        raise CleanupError(outcome.failures[0] if outcome.failures else
                           f"{copies[label]} was not moved.")
    return outcome.moves[0]


# --- undo ---------------------------------------------------------------------------------

def latest_change(root: str | os.PathLike[str]) -> int:
    """The number of the latest move or label edit still in effect."""
    numbers = [move.move_id for move in read_journal(root).applied] + \
        [edit.edit_id for edit in read_label_journal(root).applied]
    if not numbers:
        raise CleanupError(f"There is no move to undo in {Path(root).resolve()}.")
    return max(numbers)


def undo_change(root: str | os.PathLike[str], change_id: int | None = None
                ) -> UndoOutcome | LabelUndo:
    """Undo a move or a label edit by its number; None: the latest in effect. A photo added
    with its row (`multilabel_adding`) is one change: its row goes and so does its copy,
    whichever of the two numbers is given."""
    root_path = Path(root).expanduser().resolve()
    number = latest_change(root_path) if change_id is None else change_id
    edits = read_label_journal(root_path)
    if edits.find(number) is None:
        owner = next((edit for edit in edits.applied if edit.copy_id == number), None)
        if owner is None:
            return undo_move(root_path, number)
        number = owner.edit_id
    undone = undo_label_edit(root_path, number)
    if undone.edit.copy_id is None:
        return undone
    return replace(undone, copy=undo_move(root_path, undone.edit.copy_id))


def undo_label_edit(root: Path, edit_id: int) -> LabelUndo:
    """Put labels.csv back as it was before edit `edit_id`, byte for byte; refused when the
    file is no longer as the edit left it (later edits, or by hand). A new row's copy stays:
    `undo_change` removes it after (the two journals' locks are taken one at a time)."""
    with locked(root):
        journal = load_labels(root)
        edit = journal.find(edit_id)
        if edit is None or not edit.applied:
            raise CleanupError(f"Label edit {edit_id} was already undone." if edit else
                               f"There is no label edit {edit_id} in {root}.")
        if current_hash(edit.file) != edit.after_hash:
            later = [str(e.edit_id) for e in journal.applied if e.edit_id > edit_id]
            why = (f"undo the later label edit(s) {', '.join(later)} first" if later else
                   "it was changed since (by hand or by another program)")
            raise CleanupError(
                f"{edit.file} is not as edit {edit_id} left it: {why}. Undoing it now would "
                f"lose those changes; its version from before the edit is kept in "
                f"{edit.backup}.")
        try:
            data = edit.backup.read_bytes()
        except OSError as error:
            raise CleanupError(f"The backup {edit.backup} cannot be read "
                               f"({error.strerror or error}); labels.csv is unchanged.") from None
        if content_hash(data) != edit.before_hash:
            raise CleanupError(f"The backup {edit.backup} is not labels.csv as it was before "
                               "the edit (it was changed); labels.csv is unchanged.")
        save_labels(with_edit(journal, replace(edit, state="undoing")))
        try:
            write_atomically(edit.file, data)
        except OSError as error:
            save_labels(journal)
            raise CleanupError(f"{edit.file} could not be written ({error.strerror or error})"
                               "; it is unchanged.") from None
        undone = replace(edit, state="undone", undone_time=now())
        save_labels(with_edit(journal, undone))
        return LabelUndo(undone)

