"""Features of image files, each photo decoded and embedded at most once per network.

`embed_files` is the one road from files to a frozen network's features. In a small thread
pool, the next batch while the current one runs through the network, each file's bytes are
read and hashed, the feature store (`training.data.feature_store`) is asked for that hash,
and only the photos it lacks are decoded; those run through `FrozenFeatures` (onnxruntime
when it agrees with PyTorch) and what was computed is stored, with its maker. It streams one
batch at a time, so classifying 10,000 photos holds one batch.

The bytes are read even when the store has the photo: its path, size and modification time
cannot tell a photo from one rewritten with its time kept (`cp -p`, `rsync -t`, editors,
backup restores), and the store then answered for the old picture. Reading and hashing a
stored photo costs a fraction of decoding it (`benchmarks/store_verify_cost.py`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from training.core.errors import DatasetError
from training.core.events import Cancelled
from training.data.feature_store import FeatureStore, FileStamp, default_location
from training.data.images import ImageProblem, content_hash, decode_image, read_bytes
from training.data.preprocessing import resize_and_crop
from training.models.frozen import FrozenFeatures

DECODE_WORKERS = 2
EMBED_BATCH = 32
CENTRE_VIEW = "centre"
"""The one view every frozen pass uses: the preprocessing's centre crop, unaugmented."""

FileFeatures = np.ndarray | str
"""One file's float32 feature vector, or why it could not be read."""

ViewTransform = Callable[[str, np.ndarray], np.ndarray]
"""(content key, uint8 (3, crop, crop) pixels) → the pixels of another view of the photo.
It must depend on nothing else, or stored views would not be what it computes."""


@dataclass(frozen=True)
class View:
    """How a photo is shown to the network: its name in the store, and the transform that
    makes it from the centre crop (None: the centre crop itself)."""

    name: str = CENTRE_VIEW
    transform: ViewTransform | None = None


CENTRE = View()


def space_key(frozen: FrozenFeatures, view: str) -> str:
    """Where in the store `frozen`'s features of `view` live: weights, preprocessing, view."""
    recipe = json.dumps(frozen.prep.to_dict(), sort_keys=True)
    return f"{frozen.digest}:{hashlib.blake2b(recipe.encode(), digest_size=8).hexdigest()}:{view}"


@functools.lru_cache(maxsize=4)
def _store_at(location: Path) -> FeatureStore:
    return FeatureStore(location)


def default_store() -> FeatureStore:
    """The store under the current cache folder, opened once per process and location."""
    return _store_at(default_location())


@dataclass(frozen=True)
class _Read:
    """One file read: the hash of its bytes, and its stored vector or its decoded pixels."""

    content: str
    stored: np.ndarray | None = None
    pixels: np.ndarray | None = None
    """uint8 (crop, crop, 3), when the store lacked the photo."""


@dataclass
class _Planned:
    """A batch on its way: each file being read, looked up and (if need be) decoded."""

    paths: list[Path]
    reading: list[Future[_Read | str]]


class _Embedder:
    """One `embed_files` call's work: plan a batch (reads, lookups and decodes submitted),
    then finish it (wait for them, run what the store lacked, keep it)."""

    def __init__(self, frozen: FrozenFeatures, store: FeatureStore | None,
                 pool: ThreadPoolExecutor, total: int, view: View) -> None:
        self.frozen, self.pool, self.total, self.view = frozen, pool, total, view
        self.store = store if store is not None and store.available else None
        self.space = space_key(frozen, view.name)

    def plan(self, paths: list[Path] | None) -> _Planned | None:
        if paths is None:
            return None
        return _Planned(paths, [self.pool.submit(self._read, path) for path in paths])

    def finish(self, planned: _Planned) -> list[FileFeatures]:
        items = [future.result() for future in planned.reading]
        read = {index: item for index, item in enumerate(items) if isinstance(item, _Read)}
        results: dict[int, FileFeatures] = {
            index: item.stored for index, item in read.items() if item.stored is not None}
        fresh = {index: item for index, item in read.items() if item.stored is None}
        if self.store is not None:
            self.store.touch(self.space, [read[index].content for index in results])
        if fresh:
            results.update(self._embed_fresh(fresh))
        if self.store is not None:
            self.store.remember_files(
                (stamp, read[index].content) for index in read
                if (stamp := FileStamp.of(planned.paths[index])) is not None)
        return [results[index] if isinstance(item, _Read) else item
                for index, item in enumerate(items)]

    def _read(self, path: Path) -> _Read | str:
        """The file's bytes hashed, then its stored vector, or else its decoded pixels: the
        vector is found by what the file holds now, never by its name or time."""
        try:
            data = read_bytes(path)
            content = content_hash(data)
            if self.store is not None:
                stored = self.store.vectors(self.space, [content], self.frozen.width,
                                            touch=False).get(content)
                if stored is not None:
                    return _Read(content, stored=stored)
            prep = self.frozen.prep
            image = decode_image(path, data, draft_size=prep.resize).image
            return _Read(content, pixels=resize_and_crop(image, prep))
        except ImageProblem as problem:
            return str(problem)
        except Exception as error:  # a gallery must survive any one file
            return f"{path}: could not be read ({error})."

    def _embed_fresh(self, fresh: dict[int, _Read]) -> dict[int, np.ndarray]:
        """Features of the decoded photos from the network; all of them are stored."""
        self.frozen.prepare(self.total)
        pixels = [self._viewed(item) for item in fresh.values()]
        computed = self.frozen(torch.from_numpy(np.stack(pixels))).numpy()
        if self.store is not None:
            self.store.store_vectors(
                self.space, {item.content: row for item, row in zip(fresh.values(), computed,
                                                                    strict=True)},
                self.frozen.maker)
        return dict(zip(fresh, computed, strict=True))

    def _viewed(self, item: _Read) -> np.ndarray:
        """uint8 (3, crop, crop): the decoded crop as this view shows it."""
        assert item.pixels is not None
        chw = np.ascontiguousarray(item.pixels.transpose(2, 0, 1))
        return chw if self.view.transform is None else self.view.transform(item.content, chw)


def embed_files(
    paths: Sequence[Path],
    frozen: FrozenFeatures,
    store: FeatureStore | None,
    cancel: threading.Event | None = None,
    advance: Callable[[int], None] | None = None,
    batch_size: int = EMBED_BATCH,
    view: View = CENTRE,
) -> Iterator[list[FileFeatures]]:
    """Each batch of `paths`' features (or error texts), in order; `advance(n)` after each.

    Setting `cancel` raises `Cancelled` at the next batch boundary.
    """
    batches = (list(paths[start:start + batch_size])
               for start in range(0, len(paths), batch_size))
    with ThreadPoolExecutor(DECODE_WORKERS, thread_name_prefix="embed-decode") as pool:
        embedder = _Embedder(frozen, store, pool, len(paths), view)
        pending = embedder.plan(next(batches, None))
        try:
            while pending is not None:
                if cancel is not None and cancel.is_set():
                    raise Cancelled
                upcoming = embedder.plan(next(batches, None))  # decode ahead
                results = embedder.finish(pending)
                if advance is not None:
                    advance(len(results))
                yield results
                pending = upcoming
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


def embed_dataset(
    paths: Sequence[Path],
    frozen: FrozenFeatures,
    store: FeatureStore | None,
    cancel: threading.Event | None = None,
    advance: Callable[[int], None] | None = None,
    view: View = CENTRE,
) -> torch.Tensor:
    """(N, D) float32 features of a scanned dataset's photos, in order.

    A photo that can no longer be read (it changed since the scan) is a `DatasetError`.
    Every photo is read and hashed (`embed_files`), stored or not: the store answers for
    the bytes in the file now, not for what a scan or an earlier run saw.
    """
    if cancel is not None and cancel.is_set():
        raise Cancelled
    features = torch.empty((len(paths), frozen.width), dtype=torch.float32)
    done = 0
    for batch in embed_files(paths, frozen, store, cancel, advance, view=view):
        for item in batch:
            if isinstance(item, str):
                raise DatasetError(f"{item} Scan the dataset again after fixing it.")
            features[done] = torch.from_numpy(item)
            done += 1
    return features
