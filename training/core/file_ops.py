"""Copying and moving the user's photos without ever overwriting or half-writing one.

Sorting a gallery into class folders and the dataset clean-up both put photos under new
names. The rules are the same for both, so they live here once:

* a name already taken gets a free one (`photo (2).jpg`), never an overwrite, and never one
  longer than the file system takes (a 255-byte name keeps its suffix and loses the end of
  its stem);
* a copy is written under a hidden temporary name and only then linked to its real name, so
  a full disk or a kill mid-copy never leaves a truncated photo under a real name;
* a move removes the original only after the new name holds the whole file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from training.core.atomic import temporary_beside
from training.core.paths import NAME_MAX_BYTES, name_bytes, shortened

CHUNK = 1 << 20


def free_name(folder: Path, name: str) -> Path:
    """`folder/name`, or `folder/stem (N).suffix` with the first N that is not taken; the
    stem is shortened where the name would pass the file system's limit."""
    stem, suffix = Path(name).stem, Path(name).suffix
    number = 1
    while True:
        tail = f" ({number}){suffix}" if number > 1 else suffix
        candidate = folder / (shortened(stem, NAME_MAX_BYTES - name_bytes(tail)) + tail)
        if not os.path.lexists(candidate):
            return candidate
        number += 1


def file_digest(path: Path) -> str:
    """`training.data.images.content_hash` of a file's bytes, read a block at a time (so a
    file of any size costs a megabyte of memory)."""
    digest = hashlib.blake2b(digest_size=16)
    with Path(path).open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def copy_file(source: Path, destination: Path, durable: bool = False) -> None:
    """Copy `source` to the new name `destination` (FileExistsError if it is taken).

    `durable` fsyncs and compares the copy with the original: needed before the original
    is deleted (a move across disks), not for a plain copy that leaves the original.
    """
    with temporary_beside(destination) as temporary:
        shutil.copyfile(source, temporary)
        shutil.copystat(source, temporary)
        if durable:
            with temporary.open("rb+") as handle:
                os.fsync(handle.fileno())
            if not same_bytes(source, temporary):
                raise OSError(f"the copy of {source.name} differs from the original")
        _claim(temporary, destination)


def move_file(source: Path, destination: Path) -> None:
    """Move one file without ever overwriting `destination`; a symbolic link moves as a link.

    A hard link plus unlink refuses an existing name and never leaves half a file. Where
    links are not possible (another file system, FAT), the bytes are copied (durably, and
    compared with the original) and only then is the original removed. A symbolic link is
    re-created at `destination`, pointing at the same file.

    When the original cannot be removed (a read-only folder, a locked file), the new name is
    removed again and the error raised: the file is not moved, rather than in two places.
    """
    try:
        if source.is_symlink():  # os.link would link the file it points to on some systems
            _relink(source, destination)
        else:
            os.link(source, destination)
    except FileExistsError:
        raise
    except OSError:
        copy_file(source, destination, durable=True)
    try:
        source.unlink()
    except OSError as error:
        try:
            destination.unlink()
        except OSError:
            raise OSError(error.errno, f"{error.strerror or error}; a copy is left at "
                          f"{destination}") from error
        raise


def _claim(temporary: Path, destination: Path) -> None:
    """Give the finished `temporary` the name `destination`, unless that name is taken."""
    try:
        os.link(temporary, destination)  # refuses an existing name, atomically
    except FileExistsError:
        raise
    except OSError:  # no hard links here (FAT, some network shares)
        if destination.exists() or destination.is_symlink():
            raise FileExistsError(f"{destination} appeared while copying") from None
        os.replace(temporary, destination)


def _relink(source: Path, destination: Path) -> None:
    """Re-create symbolic link `source` at `destination`, never over an existing name; a
    relative target is made absolute, since it would point elsewhere from another folder."""
    target = Path(os.readlink(source))
    os.symlink(target if target.is_absolute() else source.parent / target, destination)


def same_bytes(first: Path, second: Path, chunk: int = CHUNK) -> bool:
    """Whether two files hold the same bytes (read side by side, a block at a time)."""
    with first.open("rb") as a, second.open("rb") as b:
        while True:
            block = a.read(chunk)
            if block != b.read(chunk):
                return False
            if not block:
                return True
