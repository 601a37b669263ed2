"""Copy or move classified files into `<target>/<label>/` folders without losing anything.

Images a model flags as "none of these" (unlike anything it was trained on) go to a folder
of their own, `NONE_OF_THESE_FOLDER`: a tiger sorted by a cheetah/lion model must not land in
`cheetah/`. A name already taken in the destination gets a new name (`photo (2).jpg`), never an
overwrite; a file that cannot be copied or moved (a full disk) is reported and left where it
was, with nothing half-written under its name (`training.core.file_ops`). A file already in the
folder of its label is left alone; so is, when copying, a file whose bytes are there already
(sorting into the same folder again made `c100 (2).jpg`, `(3)` …). Two labels never share a
folder: "." and "..", or "cheetah" and "CHEETAH" on a disk that ignores case, get distinct
ones, with a note (`folder_names`). A sort that fails leaves no empty label folder.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from training.core.file_ops import copy_file, free_name, move_file, same_bytes
from training.core.paths import NAME_MAX_BYTES, shortened

NONE_OF_THESE_FOLDER = "none of these"
UNSURE_FOLDER = "unsure"
"""Photos below their class's threshold (a class named "unsure" keeps its own folder; these
then go to "unsure (2)", with a note)."""


@dataclass
class SortSummary:
    done: list[tuple[Path, Path]] = field(default_factory=list)
    """(source, destination) of every file copied or moved."""
    failed: list[tuple[Path, str]] = field(default_factory=list)
    renamed: int = 0
    in_place: list[Path] = field(default_factory=list)
    """Files already in the folder of their label, left as they were."""
    already_there: list[tuple[Path, Path]] = field(default_factory=list)
    """(source, the file with its bytes) of copies not made: that folder had them already."""
    disk_full: bool = False
    """A copy or move failed for lack of space."""
    notes: list[str] = field(default_factory=list)
    """Labels that needed another folder name than their own, and why."""

    def describe(self, verb: str) -> str:
        text = f"{len(self.done)} file(s) {verb}"
        if self.renamed:
            text += f", {self.renamed} renamed because the name was taken"
        if self.in_place:
            text += f", {len(self.in_place)} already in the right folder"
        if self.already_there:
            text += (f", {len(self.already_there)} not copied again (the same bytes are in "
                     "that folder already)")
        if self.failed:
            text += f"; {len(self.failed)} failed: " + "; ".join(r for _, r in self.failed[:3])
            if self.disk_full:
                text += (". The disk is full: free some space and sort again (files not sorted "
                         "are where they were; nothing half-copied is left)")
        return text + "." + "".join(f" {note}" for note in self.notes)


def sorting_label(label: str, unfamiliar: bool, below_threshold: bool = False) -> str:
    """The folder an image is sorted into: its label, the "none of these" folder, or the
    "unsure" one for a photo below its class's threshold in the model file (it is not given
    that class: `training.records.operating_points`)."""
    if unfamiliar:
        return NONE_OF_THESE_FOLDER
    return UNSURE_FOLDER if below_threshold else label


def safe_folder_name(label: str) -> str:
    """A label as a folder name: path separators and leading dots cannot escape the target."""
    cleaned = "".join("_" if c in '/\\:*?"<>|' or ord(c) < 32 else c for c in label).strip()
    return shortened(cleaned.lstrip(".") or "unnamed", NAME_MAX_BYTES - 8)


def folder_names(labels: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Each label's folder, distinct even on disks that ignore case (macOS, Windows), and
    notes on the labels that could not have their own name: "." and ".." both clean to
    "unnamed", and "cheetah"/"CHEETAH" would share one folder there. The first label (in
    the given order: the model's classes) keeps the name, the next gets "NAME (2)"."""
    names: dict[str, str] = {}
    taken: dict[str, str] = {}  # case-folded folder name → the label that has it
    notes: list[str] = []
    for label in dict.fromkeys([NONE_OF_THESE_FOLDER, *labels]):
        base = name = safe_folder_name(label)
        number = 2
        while name.casefold() in taken:
            name = f"{base} ({number})"
            number += 1
        if name != base:
            notes.append(f"The labels '{taken[base.casefold()]}' and '{label}' would share the "
                         f"folder '{base}' (disks that ignore case merge such names), so "
                         f"'{label}' is sorted into '{name}'.")
        taken[name.casefold()] = label
        names[label] = name
    return names, notes


def sort_into_folders(items: Iterable[tuple[str | Path, str]], target: str | Path,
                      move: bool = False, classes: Sequence[str] = ()) -> SortSummary:
    """Put each (path, label) into `target/<label>/`; copy unless `move`.

    `classes` (the model's, in its order) fixes which label keeps a folder name two labels
    would share (`folder_names`); labels not among them follow in order of appearance.
    A file already in `target/<label>/` stays as it is: sorting a folder into itself, again
    and again, changes nothing. Copying also leaves alone a file whose bytes its label's
    folder holds already, and a file in any label folder of `target` (its own sorted output).
    """
    items = [(Path(source), label) for source, label in items]
    names, notes = folder_names([*classes, *(label for _, label in items)])
    summary = SortSummary(notes=notes)
    target = Path(target)
    made = [] if target.exists() else [target]
    contents = _FolderContents()
    label_folders = set(names.values())
    for source, label in items:
        folder = target / names[label]
        try:
            if _stays(source, folder, target, label_folders, move):
                summary.in_place.append(source)
                continue
            twin = None if move else contents.holding(folder, source)
            if twin is not None:
                summary.already_there.append((source, twin))
                continue
            if not folder.is_dir():
                folder.mkdir(parents=True)
                made.insert(0, folder)  # emptied before the target above it
            destination = free_name(folder, source.name)
            if destination.name != source.name:
                summary.renamed += 1
            (move_file if move else copy_file)(source, destination)
            contents.add(folder, destination)
            summary.done.append((source, destination))
        except OSError as error:
            summary.failed.append((source, f"{source.name}: {error.strerror or error}"))
            summary.disk_full |= error.errno == errno.ENOSPC
    for folder in made:  # a sort that failed leaves no empty label folder behind
        with contextlib.suppress(OSError):
            folder.rmdir()
    return summary


def _stays(source: Path, folder: Path, target: Path, label_folders: set[str],
           move: bool) -> bool:
    """Whether `source` stays where it is: it is in its label's folder already, or (copying)
    in another label folder of `target`, i.e. the output of an earlier sort."""
    if source.is_dir():
        raise IsADirectoryError(errno.EISDIR, "it is a folder, not an image file")
    if not source.is_file():
        raise FileNotFoundError(errno.ENOENT, "it no longer exists")
    if folder.is_dir() and os.path.samefile(source.parent, folder):
        return True
    return (not move and source.parent.name in label_folders and target.is_dir()
            and os.path.samefile(source.parent.parent, target))


class _FolderContents:
    """The files of each label folder by size, listed once per sort, so that checking a
    photo for a copy already there reads only files of its exact size."""

    def __init__(self) -> None:
        self._by_size: dict[Path, dict[int, list[Path]]] = {}

    def _listing(self, folder: Path) -> dict[int, list[Path]]:
        if folder not in self._by_size:
            sizes: dict[int, list[Path]] = {}
            with contextlib.suppress(OSError):
                for entry in os.scandir(folder):
                    if entry.is_file() and not entry.name.startswith("."):
                        sizes.setdefault(entry.stat().st_size, []).append(Path(entry.path))
            self._by_size[folder] = sizes
        return self._by_size[folder]

    def holding(self, folder: Path, source: Path) -> Path | None:
        """A file in `folder` with the bytes of `source`, or None."""
        for candidate in self._listing(folder).get(source.stat().st_size, []):
            with contextlib.suppress(OSError):
                if same_bytes(source, candidate):
                    return candidate
        return None

    def add(self, folder: Path, path: Path) -> None:
        self._listing(folder).setdefault(path.stat().st_size, []).append(path)
