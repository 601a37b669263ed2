"""Read a dataset folder's `labels.csv`: which labels each photo has.

The format most labelling tools export: a header row naming the columns `path` and `labels`
(any case, any order), then one row per photo. `path` is relative to the folder holding the
file (`/` or `\\` between folders); `labels` holds the photo's labels separated by ";", and
an empty cell means "none of the labels", a valid negative example. Other columns (a tool's
width, split or annotator) are allowed and ignored: refusing them would make people edit an
export by hand, and the scan names them in its report.

Strict and friendly: every bad input raises `DatasetError` with one line that names the
file, the row (the line where it starts; the header is row 1, as a spreadsheet counts) and
what to do. Reading is linear in the rows: a labels cell is split and checked once however
many rows repeat it, and paths are checked as strings; only `read_labels_csv` touches the
disk, once per row.
"""

from __future__ import annotations

import csv
import io
import os
import posixpath
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from training.core.errors import DatasetError
from training.data.folder_names import folder_name_problem
from training.records.multilabel import LABEL_SEPARATOR, LABELS_FILE

PATH_COLUMN = "path"
LABELS_COLUMN = "labels"
_HEADER_EXAMPLE = f"{PATH_COLUMN},{LABELS_COLUMN}"
_ROW_EXAMPLE = f"beach/1.jpg,beach{LABEL_SEPARATOR}sunset"
_DRIVE = re.compile(r"^[A-Za-z]:")


class _Reader(Protocol):
    """What `csv.reader` returns (its type has no public name)."""

    line_num: int

    def __iter__(self) -> _Reader: ...

    def __next__(self) -> list[str]: ...


@dataclass(frozen=True)
class LabelsTable:
    """The checked rows of a labels.csv: every path relative, normalised (`a/b.jpg`) and
    listed once; every label a usable folder name, stripped and in Unicode NFC."""

    file: Path
    rows: tuple[tuple[str, tuple[str, ...]], ...]
    """(relative path, its labels sorted by name) per photo, in the file's order."""
    row_numbers: tuple[int, ...]
    """Each row's number in the file (header = 1), for messages about it."""
    ignored_columns: tuple[str, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        """Every label some row names, sorted."""
        return tuple(sorted({label for _, labels in self.rows for label in labels}))


def read_labels_csv(folder: str | os.PathLike[str]) -> LabelsTable:
    """Read and check `folder/labels.csv`, and that each listed file is inside `folder`
    (also through links), exists, and is listed once."""
    folder_path = Path(folder)
    file = folder_path / LABELS_FILE
    try:
        data = file.read_bytes()
    except OSError as error:
        raise DatasetError(
            f"{file} cannot be read ({error.strerror or error}). Check that it is a file you "
            "may read."
        ) from None
    table = parse_labels_csv(data, file)
    _check_files(folder_path, table)
    return table


def parse_labels_csv(data: bytes, file: Path) -> LabelsTable:
    """Check the text of a labels.csv (`file` names it in messages); the disk is not read."""
    text = _decoded(data, file)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows = _Rows(file)
    line = 0  # the line the last record ended on: the next one starts after it
    try:
        header = _header(reader, file)
        path_at, labels_at = header.index(PATH_COLUMN), header.index(LABELS_COLUMN)
        needed = max(path_at, labels_at) + 1  # ignored columns after these may be left off
        line = reader.line_num
        for cells in reader:
            row, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # a blank line, or a spreadsheet's empty row (",")
            if not needed <= len(cells) <= len(header):
                raise DatasetError(_cell_count(file, row, len(cells), len(header)))
            rows.add(cells[path_at], cells[labels_at], row)
    except csv.Error as error:
        raise DatasetError(
            f"{_at(file, line + 1)}: is not valid CSV ({error}). Put quotes around a cell that "
            'holds a comma, a quote or a line break, and double each quote inside it ("").'
        ) from None
    if not rows.rows:
        raise DatasetError(
            f"{file} lists no photos. Add one row per photo under the header, e.g. "
            f"{_ROW_EXAMPLE}."
        )
    ignored = tuple(name for name in header if name not in (PATH_COLUMN, LABELS_COLUMN))
    return LabelsTable(file, tuple(rows.rows), tuple(rows.numbers), ignored)


def label_name_problem(name: str) -> str | None:
    """Why `name` cannot be a label, in words; None when it can. A label becomes a folder
    (the class-folders layout, `--sort-into`), so it follows the rule class names follow."""
    return folder_name_problem(name, "label")


class _Rows:
    """The rows read so far, and what checking them once per distinct cell needs."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.rows: list[tuple[str, tuple[str, ...]]] = []
        self.numbers: list[int] = []
        self._row_of: dict[str, int] = {}
        self._cells: dict[str, tuple[str, ...]] = {}
        self._folded: dict[str, str] = {}

    def add(self, path_cell: str, labels_cell: str, row: int) -> None:
        path = _relative_path(path_cell, self.file, row)
        first = self._row_of.setdefault(path, row)
        if first != row:
            raise DatasetError(
                f"{_at(self.file, row)}: {path} is listed again (first in row {first}). List "
                "each photo once, with all its labels in one cell separated by "
                f"'{LABEL_SEPARATOR}'."
            )
        labels = self._cells.get(labels_cell)
        if labels is None:
            labels = self._cells[labels_cell] = self._labels(labels_cell, row)
        self.rows.append((path, labels))
        self.numbers.append(row)

    def _labels(self, cell: str, row: int) -> tuple[str, ...]:
        if not cell.strip():
            return ()
        names = [unicodedata.normalize("NFC", part.strip()) for part in
                 cell.split(LABEL_SEPARATOR)]
        if not all(names):
            raise DatasetError(
                f"{_at(self.file, row)}: the labels {cell!r} hold an empty label (two "
                f"'{LABEL_SEPARATOR}' in a row, or one at an end). Remove the extra "
                f"'{LABEL_SEPARATOR}'."
            )
        for name in names:
            self._check_name(name, row)
        return tuple(sorted(set(names)))

    def _check_name(self, name: str, row: int) -> None:
        known = self._folded.get(name.casefold())
        if known == name:
            return
        if known is not None:
            raise DatasetError(
                f"{_at(self.file, row)}: the labels '{known}' and '{name}' differ only in "
                "case, and would share one folder on Windows and macOS. Spell them the same "
                "everywhere."
            )
        problem = label_name_problem(name)
        if problem:
            raise DatasetError(f"{_at(self.file, row)}: the label {name!r} cannot be used. "
                               f"{problem}")
        self._folded[name.casefold()] = name


def _at(file: Path, row: int) -> str:
    return f"{file}, row {row}"


def _decoded(data: bytes, file: Path) -> str:
    """The file's text: UTF-8, with or without a byte-order mark (Excel writes one)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DatasetError(
            f"{file} is saved as UTF-16 text. Save it as UTF-8 CSV (in Excel: CSV UTF-8)."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        row = data.count(b"\n", 0, error.start) + 1
        raise DatasetError(
            f"{_at(file, row)}: is not UTF-8 text (byte 0x{data[error.start]:02X}). Save "
            "the file as UTF-8 CSV (in Excel: CSV UTF-8)."
        ) from None


def _header(reader: _Reader, file: Path) -> list[str]:
    """The column names (stripped, lower case) of the first non-blank row."""
    for cells in reader:
        names = [cell.strip().lower() for cell in cells]
        if any(names):
            break
    else:
        raise DatasetError(
            f"{file} is empty. Its first row must name the columns: {_HEADER_EXAMPLE}."
        )
    row = reader.line_num
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DatasetError(
            f"{_at(file, row)}: the column '{repeated[0]}' appears twice. Name each column once."
        )
    if PATH_COLUMN not in names or LABELS_COLUMN not in names:
        found = ", ".join(repr(cell) for cell in cells)
        hint = (" Separate the columns with a comma, not ';' or a tab."
                if len(cells) == 1 and re.search(r"[;\t]", cells[0]) else "")
        raise DatasetError(
            f"{_at(file, row)}: the first row must name the columns {PATH_COLUMN} and "
            f"{LABELS_COLUMN} (found {found}).{hint} Start the file with the row "
            f"{_HEADER_EXAMPLE}."
        )
    return names


def _cell_count(file: Path, row: int, cells: int, columns: int) -> str:
    if cells > columns:
        return (f"{_at(file, row)}: has {cells} cells but the header has {columns} columns. "
                f"Separate labels with '{LABEL_SEPARATOR}', not ',', or put quotes around a "
                "cell that holds a comma.")
    return (f"{_at(file, row)}: has {cells} cell{'s' if cells != 1 else ''} but the header "
            f"has {columns} columns. A photo with none of the labels still needs its empty "
            "cell: end the row with a comma (e.g. photo.jpg,).")


def _relative_path(cell: str, file: Path, row: int) -> str:
    """`cell` as a normalised path relative to the folder, or why it cannot be one."""
    path = cell.strip().replace("\\", "/")
    if not path:
        raise DatasetError(
            f"{_at(file, row)}: the path is empty. Write the photo's path relative to the "
            "folder holding labels.csv (e.g. beach/1.jpg), or remove the row."
        )
    if path.startswith("/") or _DRIVE.match(path):
        raise DatasetError(
            f"{_at(file, row)}: {cell.strip()} is an absolute path. Write it relative to the "
            "folder holding labels.csv (e.g. beach/1.jpg), and keep the photos in that folder."
        )
    normal = posixpath.normpath(path)
    if normal in (".", "..") or normal.startswith("../"):
        raise DatasetError(
            f"{_at(file, row)}: {cell.strip()} points outside the folder holding labels.csv. "
            "Move the photo into that folder and write its path from there."
        )
    return normal


def _check_files(folder: Path, table: LabelsTable) -> None:
    """Every row names a file inside `folder` (links followed), and no file twice.

    Missing files are counted before the first is named, so one message says how many."""
    real_root = os.path.realpath(folder)
    first_of: dict[str, int] = {}
    missing: list[tuple[int, str]] = []
    for (relpath, _), row in zip(table.rows, table.row_numbers, strict=True):
        real = os.path.realpath(os.path.join(real_root, relpath))
        if not real.startswith(real_root + os.sep):
            raise DatasetError(
                f"{_at(table.file, row)}: {relpath} is a link to {real}, outside the folder "
                "holding labels.csv. Copy the photo into the folder instead of linking to it."
            )
        first = first_of.setdefault(real, row)
        if first != row:
            raise DatasetError(
                f"{_at(table.file, row)}: {relpath} is the same file as row {first} (through "
                "a link, or spelled in another case). List each photo once."
            )
        if not os.path.isfile(real):
            missing.append((row, relpath))
    if missing:
        row, relpath = missing[0]
        what = "is a folder, not a photo" if os.path.isdir(folder / relpath) else "does not exist"
        more = f" ({len(missing) - 1} more listed files are missing too)" if len(missing) > 1 \
            else ""
        raise DatasetError(
            f"{_at(table.file, row)}: {relpath} {what}{more}. Fix the path, or remove the row."
        )
