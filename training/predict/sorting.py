"""Copy or move classified files into `<target>/<label>/` folders without losing anything.

Images a model flags as "none of these" (unlike anything it was trained on) go to a folder
of their own, `NONE_OF_THESE_FOLDER`: a tiger sorted by a cheetah/lion model must not land in
`cheetah/`. A name already taken in the destination gets a new name (`photo (2).jpg`), never an
overwrite; a file that cannot be copied or moved (a full disk) is reported and left where it
was, with nothing half-written under its name (`training.core.file_ops`). A file already in the
folder of its label is left alone.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from training.core.file_ops import copy_file, free_name, move_file

NONE_OF_THESE_FOLDER = "none of these"


@dataclass
class SortSummary:
    done: list[tuple[Path, Path]] = field(default_factory=list)
    """(source, destination) of every file copied or moved."""
    failed: list[tuple[Path, str]] = field(default_factory=list)
    renamed: int = 0
    in_place: list[Path] = field(default_factory=list)
    """Files already in the folder of their label, left as they were."""
    disk_full: bool = False
    """A copy or move failed for lack of space."""

    def describe(self, verb: str) -> str:
        text = f"{len(self.done)} file(s) {verb}"
        if self.renamed:
            text += f", {self.renamed} renamed because the name was taken"
        if self.in_place:
            text += f", {len(self.in_place)} already in the right folder"
        if self.failed:
            text += f"; {len(self.failed)} failed: " + "; ".join(r for _, r in self.failed[:3])
            if self.disk_full:
                text += (". The disk is full: free some space and sort again (files not sorted "
                         "are where they were; nothing half-copied is left)")
        return text + "."


def sorting_label(label: str, unfamiliar: bool) -> str:
    """The folder an image is sorted into: its label, or the "none of these" folder."""
    return NONE_OF_THESE_FOLDER if unfamiliar else label


def safe_folder_name(label: str) -> str:
    """A label as a folder name: path separators and leading dots cannot escape the target."""
    cleaned = "".join("_" if c in '/\\:*?"<>|' or ord(c) < 32 else c for c in label).strip()
    return cleaned.lstrip(".") or "unnamed"


def sort_into_folders(items: Iterable[tuple[str | Path, str]], target: str | Path,
                      move: bool = False) -> SortSummary:
    """Put each (path, label) into `target/<label>/`; copy unless `move`.

    A file already in `target/<label>/` stays as it is: sorting a folder into itself, again
    and again, changes nothing.
    """
    summary = SortSummary()
    target = Path(target)
    for source, label in items:
        source = Path(source)
        folder = target / safe_folder_name(label)
        try:
            if source.is_dir():
                raise IsADirectoryError(errno.EISDIR, "it is a folder, not an image file")
            if not source.is_file():
                raise FileNotFoundError(errno.ENOENT, "it no longer exists")
            if folder.is_dir() and os.path.samefile(source.parent, folder):
                summary.in_place.append(source)
                continue
            folder.mkdir(parents=True, exist_ok=True)
            destination = free_name(folder, source.name)
            if destination.name != source.name:
                summary.renamed += 1
            if move:
                move_file(source, destination)
            else:
                copy_file(source, destination)
            summary.done.append((source, destination))
        except OSError as error:
            summary.failed.append((source, f"{source.name}: {error.strerror or error}"))
            summary.disk_full |= error.errno == errno.ENOSPC
    return summary
