"""Add a photo from outside a multi-label dataset with its labels: one undoable change.

Reviewing a multi-label gallery's unsure photos puts each one into the dataset with the
labels the user ticked; the original stays where the user keeps it.

- labels.csv: the photo is copied into the dataset's folder under a name no other file has
  (`photo (2).jpg` when `photo.jpg` is taken), a journalled "add" (`adding.journalled_copy`),
  then a row `path,labels` is appended to labels.csv: every byte before it kept, the file
  replaced atomically and journalled with a backup of it as it was
  (`label_edits.rewrite_labels_file`). The edit names its copy (`copy_id`), so undoing it
  (`label_edits.undo_change`, by either number) gives back labels.csv's exact bytes and
  deletes the copy. A labels.csv that changed on disk since it was read (`expected_hash`),
  or while the photo was copied, refuses the row, and the copy is taken back.
- class folders: the photo is copied into each ticked label's folder (`adding.add_to_class`,
  a journalled "add" each); if one copy fails, those made are taken back.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from training.core.errors import DatasetError
from training.core.file_ops import file_digest
from training.data.images import content_hash
from training.data.labels_csv import (
    LABELS_COLUMN,
    PATH_COLUMN,
    LabelsTable,
    label_name_problem,
    parse_labels_csv,
)
from training.insight.adding import AlreadyInClass, add_to_class, checked_photo, journalled_copy
from training.insight.cleanup import dataset_root, undo_move
from training.insight.label_edits import rewrite_labels_file, undo_change
from training.records.journal import CleanupError, Move, load, locked
from training.records.label_journal import LabelEdit
from training.records.multilabel import LABEL_SEPARATOR, LABELS_FILE

_LINE_END = re.compile(r"\r\n|\n|\r")


@dataclass(frozen=True)
class LabelledAddition:
    """A photo added with its labels: its copies, and in a labels.csv dataset its row."""

    photo: Path
    labels: tuple[str, ...]
    copies: tuple[Move, ...]
    edit: LabelEdit | None = None
    """The row appended to labels.csv; None in the class-folders layout."""

    @property
    def change_id(self) -> int:
        """The number `undo` takes for the whole addition (labels.csv) or its last copy."""
        return self.edit.edit_id if self.edit is not None else self.copies[-1].move_id

    def describe(self) -> str:
        labels = ", ".join(self.labels) or "no label"
        if self.edit is not None:
            return f"{self.photo.name} → {self.edit.relpath} in labels.csv ({labels})"
        return f"{self.photo.name} → {labels} (a copy in each label's folder)"


def add_labelled_photo(root: str | os.PathLike[str], photo: str | os.PathLike[str],
                       labels: Sequence[str], *, expected_hash: str | None = None
                       ) -> LabelledAddition:
    """Copy `photo` (a file outside the dataset) into the multi-label dataset at `root` with
    `labels` (none: a photo with none of them, in labels.csv only), as the module says.
    Raises `CleanupError` saying why when it cannot be added (`AlreadyInClass` when its
    bytes are in the dataset already)."""
    root_path = dataset_root(root)
    source = Path(photo).expanduser().resolve()
    chosen = tuple(sorted(set(labels)))
    if (root_path / LABELS_FILE).is_file():
        return _add_row(root_path, source, chosen, expected_hash)
    return _add_to_folders(root_path, source, chosen)


def undo_addition(root: str | os.PathLike[str], addition: LabelledAddition) -> str:
    """Take `addition` back: labels.csv's bytes from before and no copy; in label folders,
    every copy it made. Returns what was done, in words."""
    if addition.edit is not None:
        return undo_change(root, addition.edit.edit_id).describe()
    for copy in reversed(addition.copies):
        undo_move(root, copy.move_id)
    return f"{addition.photo.name} taken out of {', '.join(addition.labels)} again"


# --- labels.csv ---------------------------------------------------------------------------

def _add_row(root: Path, source: Path, labels: tuple[str, ...],
             expected_hash: str | None) -> LabelledAddition:
    file = root / LABELS_FILE
    size, digest = checked_photo(source, root)
    with locked(root):
        data = _read(file)
        before = content_hash(data)
        if expected_hash is not None and before != expected_hash:
            raise CleanupError(f"{file} changed on disk since it was read (edited by hand or "
                               f"by another program), so {source.name} was not added. Scan "
                               "the folder again and retry.")
        table = _table(data, file)
        _check_labels(labels, table.labels)
        _refuse_listed_copy(root, table, source, size, digest)
        copy = journalled_copy(load(root), source, root, _class_text(labels), digest)
    relpath = copy.destination.relative_to(root).as_posix()
    try:
        edit = rewrite_labels_file(
            root, relpath, LABEL_SEPARATOR.join(labels), "new-row",
            lambda current: _appended(current, file, relpath, labels), before,
            refused=f"{source.name} was not added (its copy was removed)",
            copy_id=copy.move_id)
    except CleanupError:
        undo_move(root, copy.move_id)
        raise
    return LabelledAddition(source, labels, (copy,), edit)


def _read(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as error:
        raise CleanupError(f"{file} cannot be read ({error.strerror or error}).") from None


def _table(data: bytes, file: Path) -> LabelsTable:
    try:
        return parse_labels_csv(data, file)
    except DatasetError as error:
        raise CleanupError(f"{error} No photo was added.") from None


def _class_text(labels: tuple[str, ...]) -> str:
    """What the clean-up journal's "add" names as the copy's class: its labels."""
    return LABEL_SEPARATOR.join(labels) or "(no label)"


def _check_labels(labels: tuple[str, ...], known: tuple[str, ...]) -> None:
    for label in labels:
        problem = label_name_problem(label)
        if problem or not label.strip() or label != label.strip():
            raise CleanupError(problem or "A label cannot be empty, or start or end with a "
                               "space.")
        twin = next((k for k in known if k.casefold() == label.casefold() and k != label), None)
        if twin is not None:
            raise CleanupError(f"'{label}' differs from the label '{twin}' only in case; use "
                               f"'{twin}'.")


def _refuse_listed_copy(root: Path, table: LabelsTable, source: Path, size: int,
                        digest: str) -> None:
    """Raise `AlreadyInClass` when a photo labels.csv lists has these bytes: a second copy
    would count twice in training and could sit on both sides of the split. Only files of
    the same size are read."""
    for relpath, _labels in table.rows:
        path = root / relpath
        try:
            same = path.stat().st_size == size and file_digest(path) == digest
        except OSError:
            continue
        if same:
            raise AlreadyInClass(f"{source.name} is in the dataset already, as {relpath}; "
                                 "not copied again.", path)


def _appended(data: bytes, file: Path, relpath: str, labels: tuple[str, ...]) -> bytes:
    """labels.csv's bytes with the row `relpath,labels` after the last line, in the file's
    own line ending; the bytes before it (a byte-order mark too) as they were. Checked by
    reading the result back: it must list exactly the old rows and the new one."""
    table = _table(data, file)
    text = data.decode("utf-8-sig")
    header = next(cells for cells in csv.reader(io.StringIO(text, newline=""))
                  if any(cell.strip() for cell in cells))
    names = [cell.strip().lower() for cell in header]
    cells = [""] * len(names)
    cells[names.index(PATH_COLUMN)] = relpath
    cells[names.index(LABELS_COLUMN)] = LABEL_SEPARATOR.join(labels)
    found = _LINE_END.search(text)
    ending = found.group() if found else "\n"
    out = io.StringIO()
    csv.writer(out, lineterminator=ending).writerow(cells)
    start = text if not text or _LINE_END.fullmatch(text[-1]) else text + ending
    bom = codecs.BOM_UTF8 if data.startswith(codecs.BOM_UTF8) else b""
    new_data = bom + (start + out.getvalue()).encode("utf-8")
    if _table(new_data, file).rows != (*table.rows, (relpath, labels)):
        raise CleanupError(f"A row for {relpath} could not be added to {file} safely; it is "
                           "unchanged. Add the row by hand.")
    return new_data


# --- class folders ------------------------------------------------------------------------

def _add_to_folders(root: Path, source: Path, labels: tuple[str, ...]) -> LabelledAddition:
    if not labels:
        raise CleanupError(f"In label folders a photo with no label has no folder to go "
                           f"into, so {source.name} was not added. Tick a label, or skip it.")
    copies: list[Move] = []
    try:
        for label in labels:
            copies.append(add_to_class(root, source, label))
    except CleanupError:
        for copy in reversed(copies):
            undo_move(root, copy.move_id)
        raise
    return LabelledAddition(source, labels, tuple(copies))
