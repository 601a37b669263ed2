"""Finding the images to classify among files and folders, and naming every file left out.

`cheetahlion-cli predict`, `explain`, `export --check-images` and the app's gallery all list
their images here. A gallery folder from a phone holds videos, sidecar files and sometimes
broken links beside its photos; none of them may vanish in silence, so each file not listed as an
image comes back in `skipped` with the reason, in words a user can act on.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from training.core.errors import CheetahLionError
from training.data.images import READABLE_FORMATS, is_supported


@dataclass(frozen=True)
class Skipped:
    """A file that is not read as an image, and why."""

    path: Path
    reason: str


@dataclass
class ImageListing:
    images: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def skip_reason(path: Path) -> str:
    """Why `path`, a file whose type is not read, is left out; with what to do about it."""
    suffix = path.suffix.lower()
    kind = f"'{suffix}' files" if suffix else "files without an extension"
    return f"is not an image this version reads ({kind}; it reads {READABLE_FORMATS})"


def list_images(sources: Sequence[Path]) -> ImageListing:
    """Image files among `sources`, folders searched recursively (hidden files and folders are
    left out, as in a file manager); every other file is in `skipped` with its reason.

    A path given by name is taken as an image whatever its extension (the decoder decides),
    unless it is missing: that raises `CheetahLionError`, since the user typed it.
    """
    listing = ImageListing()
    for source in sources:
        source = Path(source)
        if source.is_dir():
            _walk(source, listing)
        elif source.is_file():
            listing.images.append(source)
        elif source.is_symlink():
            listing.skipped.append(Skipped(source, _broken_link(source)))
        else:
            raise CheetahLionError(f"{source} does not exist.")
    return listing


def _walk(folder: Path, listing: ImageListing) -> None:
    def unreadable(error: OSError) -> None:
        listing.skipped.append(Skipped(Path(error.filename or folder),
                                       f"cannot be read ({error.strerror or error})"))

    seen: set[str] = set()
    for current, dirs, files in os.walk(folder, onerror=unreadable, followlinks=True):
        real = os.path.realpath(current)
        if real in seen:  # a folder link back into what was searched already
            listing.skipped.append(Skipped(Path(current), "is a link to a folder already "
                                                          "searched (a loop); not searched again"))
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(current) / name
            if not path.exists():
                listing.skipped.append(Skipped(path, _broken_link(path)))
            elif is_supported(path):
                listing.images.append(path)
            else:
                listing.skipped.append(Skipped(path, skip_reason(path)))


def _broken_link(path: Path) -> str:
    try:
        target = os.readlink(path)
    except OSError:
        return "cannot be read"
    return f"is a broken link (it points to {target}, which does not exist)"
