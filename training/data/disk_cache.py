"""Decoded pixels of datasets too large for memory: a file on disk, read one batch at a time.

Above `ram_limit()` bytes of decoded pixels, `training.data.pixel_cache.decode_all` writes the
images here instead of into one tensor in RAM. The format is one raw uint8 array
(N, 3, crop, crop) in C order, `pixels.u8` (it memory-maps as is:
`numpy.memmap(path, numpy.uint8, "r", shape=(N, 3, crop, crop))`), and beside it
`index.json`: the format version, the preprocessing, the dataset fingerprint, the shape and
the ordered list of source files with their size and modification time.

Entries live under `paths.cache_dir() / "pixels" / <key>`, the key being a hash of the
preprocessing, the fingerprint and the ordered file list, so the next run on the same images
reuses them without decoding anything. An entry is used only if its index says it is complete
and every source file still has the size and modification time it had when it was decoded;
otherwise it is decoded again. The data file is written under a temporary name, flushed and
renamed before the index (written atomically) declares it complete, so a crash or a
cancelled run never leaves an entry that looks usable.

The engine reads a batch with plain positioned reads (`DiskPixels`), not through a memory
map: pages of a mapped file count in the process's resident memory, so a map read end to end
each epoch grows the process to the size of the file. Plain reads go through the operating
system's page cache, which uses the free memory there is and gives it back under pressure,
while the process itself holds only the current batch.

The folder is bounded: before a new entry is written, the least recently used others are
deleted until everything fits in `DISK_BUDGET_BYTES`. Deleting the `pixels` folder (while
nothing trains) is always safe; it only costs decoding again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from training.core import paths as app_paths
from training.core.atomic import write_atomically
from training.core.errors import CheetahLionError
from training.data.preprocessing import RESAMPLING_PATH
from training.records.preprocessing import Preprocessing

FORMAT_VERSION = 1
RAM_LIMIT_ENV = "CHEETAHLION_MAX_PIXEL_RAM"
DEFAULT_RAM_LIMIT = 512 * 2**20
"""Decoded pixels up to this many bytes stay in RAM (about 3,400 images at 224 px, 43,000 at
64 px): faster, and small enough for any machine that can train. Above it they go to disk."""
DISK_BUDGET_BYTES = 32 * 2**30
"""The most the pixel cache folder keeps; older entries are deleted to make room."""
DATA_NAME = "pixels.u8"
INDEX_NAME = "index.json"
_STALE_SECONDS = 600
"""A temporary data file untouched this long belongs to a build that died."""


class DiskCacheError(CheetahLionError):
    """The decoded pixels could not be written to the cache folder."""


def ram_limit() -> int:
    """Bytes of decoded pixels kept in RAM: `CHEETAHLION_MAX_PIXEL_RAM` (0 = always on disk)
    or `DEFAULT_RAM_LIMIT`."""
    value = os.environ.get(RAM_LIMIT_ENV, "").strip()
    if not value:
        return DEFAULT_RAM_LIMIT
    try:
        limit = int(value)
    except ValueError:
        limit = -1
    if limit < 0:
        raise DiskCacheError(f"{RAM_LIMIT_ENV}={value!r} is not a number of bytes; "
                             "set it to a whole number (0 keeps every dataset on disk).")
    return limit


def pixels_dir() -> Path:
    """The folder holding one sub-folder per cached set of decoded images."""
    return app_paths.cache_dir() / "pixels"


class DiskPixels:
    """Rows of a `pixels.u8` file that index like a uint8 tensor (N, 3, crop, crop).

    `pixels[slice]` and `pixels[index_tensor]` return ordinary tensors read from disk; `len`,
    `shape`, `device` and `split` work as on a tensor, so training code takes either.
    `select(index)` is a view of some rows, still on disk.
    """

    def __init__(self, path: Path, row_shape: tuple[int, int, int], rows: np.ndarray) -> None:
        self.path = path
        self.row_shape = row_shape
        self.rows = rows
        self.row_bytes = int(np.prod(row_shape))

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.row_shape)

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def select(self, index: slice | torch.Tensor) -> DiskPixels:
        rows = self.rows[index] if isinstance(index, slice) else self.rows[index.cpu().numpy()]
        return DiskPixels(self.path, self.row_shape, rows)

    def split(self, size: int) -> Iterable[torch.Tensor]:
        for start in range(0, len(self), size):
            yield self[start:start + size]

    def __getitem__(self, index: slice | torch.Tensor) -> torch.Tensor:
        return self._read(self.select(index).rows)

    def _read(self, rows: np.ndarray) -> torch.Tensor:
        """The rows in the order asked, read in file order with one read per run of
        consecutive rows (a sorted batch of a shuffled epoch touches the disk in order)."""
        unique, where = np.unique(rows, return_inverse=True)
        out = np.empty((len(unique), self.row_bytes), dtype=np.uint8)
        with open(self.path, "rb", buffering=0) as handle:
            start = 0
            while start < len(unique):
                stop = start + 1
                while stop < len(unique) and unique[stop] == unique[stop - 1] + 1:
                    stop += 1
                handle.seek(int(unique[start]) * self.row_bytes)
                view = memoryview(out[start:stop]).cast("B")
                while view.nbytes:
                    read = handle.readinto(view)
                    if not read:
                        raise DiskCacheError(f"{self.path} is shorter than its index says; "
                                             f"delete the folder {self.path.parent}.")
                    view = view[read:]
                start = stop
        pixels = torch.from_numpy(out[where.reshape(-1)])
        return pixels.view(len(rows), *self.row_shape)


def cache_key(paths: Sequence[Path], prep: Preprocessing, fingerprint: str | None) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps([FORMAT_VERSION, RESAMPLING_PATH, prep.to_dict(),
                              fingerprint]).encode())
    for path in paths:
        digest.update(b"\0" + str(Path(path).resolve()).encode())
    return digest.hexdigest()


def _file_stamps(paths: Sequence[Path]) -> list[list[object]]:
    stamps: list[list[object]] = []
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            stamps.append([str(path), -1, -1])
        else:
            stamps.append([str(path), info.st_size, info.st_mtime_ns])
    return stamps


def open_cached(paths: Sequence[Path], prep: Preprocessing, fingerprint: str | None
                ) -> DiskPixels | None:
    """The complete, up-to-date entry for these files, or None if there is none."""
    folder = pixels_dir() / cache_key(paths, prep, fingerprint)
    try:
        index = json.loads((folder / INDEX_NAME).read_text(encoding="utf-8"))
        data_size = (folder / DATA_NAME).stat().st_size
    except (OSError, ValueError):
        return None
    shape = (3, prep.crop, prep.crop)
    usable = (
        isinstance(index, dict)
        and index.get("format") == FORMAT_VERSION
        and index.get("complete") is True
        and index.get("preprocessing") == json.loads(json.dumps(prep.to_dict()))
        and index.get("fingerprint") == fingerprint
        and index.get("shape") == [len(paths), *shape]
        and data_size == len(paths) * int(np.prod(shape))
        and index.get("files") == _file_stamps(paths)
    )
    if not usable:
        return None
    os.utime(folder / INDEX_NAME)  # last used: the eviction order
    return DiskPixels(folder / DATA_NAME, shape, np.arange(len(paths)))


def write_cache(paths: Sequence[Path], prep: Preprocessing, fingerprint: str | None,
                images: Iterable[np.ndarray]) -> DiskPixels:
    """Write `images` (uint8 HWC, one per path, in order) as a new entry and open it.

    The files' sizes and modification times are taken before decoding starts, so a file
    changed while it was being decoded makes the entry stale at the next run, never wrong.
    """
    folder = pixels_dir() / cache_key(paths, prep, fingerprint)
    shape = (3, prep.crop, prep.crop)
    needed = len(paths) * int(np.prod(shape))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / INDEX_NAME).unlink(missing_ok=True)  # whatever was there is no longer complete
    _remove_stale_temporaries(folder)
    _evict(keep=folder, needed=needed)
    stamps = _file_stamps(paths)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{DATA_NAME}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            for image in images:
                handle.write(np.ascontiguousarray(image.transpose(2, 0, 1)).data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, folder / DATA_NAME)
        index = {
            "format": FORMAT_VERSION, "complete": True, "preprocessing": prep.to_dict(),
            "fingerprint": fingerprint, "shape": [len(paths), *shape], "files": stamps,
        }
        write_atomically(folder / INDEX_NAME, json.dumps(index).encode())
    except OSError as error:
        raise DiskCacheError(
            f"Could not write decoded images to {folder}: {error.strerror or error}. Free "
            f"some disk space there (this dataset needs {needed / 2**30:.1f} GiB), or set "
            f"{RAM_LIMIT_ENV} to a number of bytes large enough to keep it in memory."
        ) from None
    finally:
        Path(temporary).unlink(missing_ok=True)
    return DiskPixels(folder / DATA_NAME, shape, np.arange(len(paths)))


def _remove_stale_temporaries(folder: Path) -> None:
    cutoff = time.time() - _STALE_SECONDS
    for leftover in folder.glob(f".{DATA_NAME}.*.tmp"):
        try:
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
        except OSError:
            pass  # another build finished or removed it meanwhile


def _evict(keep: Path, needed: int) -> None:
    """Delete the least recently used entries (other than `keep`) until `needed` more bytes
    fit in `DISK_BUDGET_BYTES`."""
    entries = []
    for folder in pixels_dir().iterdir():
        if folder == keep or not folder.is_dir():
            continue
        try:
            files = [path.stat() for path in folder.iterdir() if path.is_file()]
        except OSError:  # removed meanwhile by another run
            continue
        used = max((info.st_mtime for info in files), default=0.0)
        entries.append((used, sum(info.st_size for info in files), folder))
    total = sum(size for _, size, _ in entries)
    for _, size, folder in sorted(entries):
        if total + needed <= DISK_BUDGET_BYTES:
            break
        shutil.rmtree(folder, ignore_errors=True)
        total -= size
