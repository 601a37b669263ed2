"""Copy or move classified files into `<target>/<label>/` folders without losing anything.

Images a model flags as "none of these" (unlike anything it was trained on) go to a folder
of their own, `NONE_OF_THESE_FOLDER`: a tiger sorted by a cheetah/lion model must not land in
`cheetah/`. A name already taken in the destination gets a new name (`photo (2).jpg`), never an
overwrite; a file that cannot be copied or moved is reported and left where it was. Moves
across file systems copy first and delete the original only after the copy succeeded.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

NONE_OF_THESE_FOLDER = "none of these"


@dataclass
class SortSummary:
    done: list[tuple[Path, Path]] = field(default_factory=list)
    """(source, destination) of every file copied or moved."""
    failed: list[tuple[Path, str]] = field(default_factory=list)
    renamed: int = 0

    def describe(self, verb: str) -> str:
        text = f"{len(self.done)} file(s) {verb}"
        if self.renamed:
            text += f", {self.renamed} renamed because the name was taken"
        if self.failed:
            text += f"; {len(self.failed)} failed: " + "; ".join(r for _, r in self.failed[:3])
        return text + "."


def sorting_label(label: str, unfamiliar: bool) -> str:
    """The folder an image is sorted into: its label, or the "none of these" folder."""
    return NONE_OF_THESE_FOLDER if unfamiliar else label


def safe_folder_name(label: str) -> str:
    """A label as a folder name: path separators and leading dots cannot escape the target."""
    cleaned = "".join("_" if c in '/\\:*?"<>|' or ord(c) < 32 else c for c in label).strip()
    return cleaned.lstrip(".") or "unnamed"


def free_name(folder: Path, name: str) -> Path:
    """`folder/name`, or `folder/stem (N).suffix` with the first N that is not taken."""
    candidate = folder / name
    stem, suffix = Path(name).stem, Path(name).suffix
    number = 2
    while candidate.exists() or candidate.is_symlink():
        candidate = folder / f"{stem} ({number}){suffix}"
        number += 1
    return candidate


def sort_into_folders(items: Iterable[tuple[str | Path, str]], target: str | Path,
                      move: bool = False) -> SortSummary:
    """Put each (path, label) into `target/<label>/`; copy unless `move`."""
    summary = SortSummary()
    target = Path(target)
    for source, label in items:
        source = Path(source)
        folder = target / safe_folder_name(label)
        try:
            if not source.is_file():
                raise FileNotFoundError("it no longer exists")
            folder.mkdir(parents=True, exist_ok=True)
            destination = free_name(folder, source.name)
            if destination.name != source.name:
                summary.renamed += 1
            if move:
                _move(source, destination)
            else:
                shutil.copy2(source, destination)
            summary.done.append((source, destination))
        except OSError as error:
            summary.failed.append((source, f"{source.name}: {error.strerror or error}"))
    return summary


def _move(source: Path, destination: Path) -> None:
    try:
        # os.link + unlink refuses to overwrite, unlike os.rename on POSIX.
        os.link(source, destination)
        source.unlink()
    except OSError:
        shutil.copy2(source, destination)
        source.unlink()
