"""Features of image files, each photo decoded and embedded at most once per network.

`embed_files` is the one road from files to a frozen network's features. Each file's bytes
are read and hashed, the feature store (`training.data.feature_store`) is asked for those
hashes, and only the photos it lacks are decoded (in a small thread pool, the next batch
while the current one runs through the network); those run through `FrozenFeatures`
(onnxruntime when it agrees with PyTorch) and what was computed is stored, with its maker.
It streams one batch at a time, so classifying 10,000 photos holds one batch.

The bytes are read even when the store has the photo: its path, size and modification time
cannot tell a photo from one rewritten with its time kept (`cp -p`, `rsync -t`, editors,
backup restores), and the store then answered for the old picture. Reading and hashing a
stored photo costs about 0.1 ms of a 50 KB JPEG's ~8 ms decode; a photo the store lacks is
read twice, the second time from the page cache (`benchmarks/store_verify_cost.py`).
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
from training.data.feature_store import FeatureStore, FileStamp, default_location
from training.data.images import ImageProblem, content_hash, decode_image, read_bytes
from training.data.preprocessing import RESAMPLING_PATH, resize_and_crop
from training.models.frozen import FrozenFeatures
from training.records.events import Cancelled
from training.records.preprocessing import Preprocessing

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


def space_key(frozen: FrozenFeatures, view: str, images: int = EMBED_BATCH) -> str:
    """Where in the store `frozen`'s features of `view` live: weights (and 8-bit settings when
    the 8-bit graph computes them: `FrozenFeatures.store_digest`), preprocessing (with the
    resampling path that made the pixels), view.
    `images`: how many photos the job has (it may choose the runtime here)."""
    recipe = json.dumps({**frozen.prep.to_dict(), "path": RESAMPLING_PATH}, sort_keys=True)
    # Stand-ins for a network (tests' fixed features) have one precision: their digest.
    choose = getattr(frozen, "store_digest", None)
    digest = choose(images) if choose is not None else frozen.digest
    return f"{digest}:{hashlib.blake2b(recipe.encode(), digest_size=8).hexdigest()}:{view}"


@functools.lru_cache(maxsize=4)
def _store_at(location: Path) -> FeatureStore:
    return FeatureStore(location)


def default_store() -> FeatureStore:
    """The store under the current cache folder, opened once per process and location."""
    return _store_at(default_location())


@dataclass
class _Planned:
    """A batch on its way: each file's content hash, the vectors the store had for them,
    what could not be read, and the decodes of the rest."""

    paths: list[Path]
    contents: dict[int, str]
    found: dict[int, np.ndarray]
    errors: dict[int, str]
    decoding: dict[int, Future[tuple[str, np.ndarray] | str]]


class _Embedder:
    """One `embed_files` call's work: plan a batch (each file read and hashed, the store
    asked for those hashes, decodes of what it lacked submitted), then finish it (wait for
    the decodes, run them through the network, keep what was computed)."""

    def __init__(self, frozen: FrozenFeatures, store: FeatureStore | None,
                 pool: ThreadPoolExecutor, total: int, view: View) -> None:
        self.frozen, self.pool, self.total, self.view = frozen, pool, total, view
        self.store = store if store is not None and store.available else None
        self.space = space_key(frozen, view.name, total)

    def plan(self, paths: list[Path] | None) -> _Planned | None:
        """Reading and hashing happen here, on the caller's thread, between batches: a
        stored photo then costs its read and one row, and the decoding threads stay idle
        (reading in them made the classifier's small torch operations wait for cores, and a
        second look at 300 stored photos cost 0.45 s of CPU instead of 0.03 s)."""
        if paths is None:
            return None
        contents: dict[int, str] = {}
        errors: dict[int, str] = {}
        for index, path in enumerate(paths):
            item = _hash_file(path)
            (errors if item.startswith(_UNREADABLE) else contents)[index] = \
                item.removeprefix(_UNREADABLE)
        stored = ({} if self.store is None else
                  self.store.vectors(self.space, list(contents.values()), self.frozen.width,
                                     touch=False))
        found = {index: stored[content] for index, content in contents.items()
                 if content in stored}
        decoding = {index: self.pool.submit(_decode, paths[index], self.frozen.prep)
                    for index in contents if index not in found}
        return _Planned(paths, contents, found, errors, decoding)

    def finish(self, planned: _Planned) -> list[FileFeatures]:
        results: dict[int, FileFeatures] = {**planned.found, **planned.errors}
        decoded = {index: future.result() for index, future in planned.decoding.items()}
        fresh = {index: item for index, item in decoded.items() if not isinstance(item, str)}
        results.update({index: item for index, item in decoded.items() if isinstance(item, str)})
        if self.store is not None:
            self.store.touch(self.space, [planned.contents[index] for index in planned.found])
        if fresh:
            results.update(self._embed_fresh(fresh))
        if self.store is not None:
            known = {**planned.contents, **{index: item[0] for index, item in fresh.items()}}
            self.store.remember_files(
                (stamp, known[index]) for index in (*planned.found, *fresh)
                if (stamp := FileStamp.of(planned.paths[index])) is not None)
        return [results[index] for index in range(len(planned.paths))]

    def _embed_fresh(self, fresh: dict[int, tuple[str, np.ndarray]]) -> dict[int, np.ndarray]:
        """Features of the decoded photos from the network; all of them are stored."""
        self.frozen.prepare(self.total)
        pixels = [self._viewed(*item) for item in fresh.values()]
        computed = self.frozen(torch.from_numpy(np.stack(pixels))).numpy()
        if self.store is not None:
            self.store.store_vectors(
                self.space, {content: row for (content, _), row in zip(fresh.values(), computed,
                                                                       strict=True)},
                self.frozen.maker)
        return dict(zip(fresh, computed, strict=True))

    def _viewed(self, content: str, pixels: np.ndarray) -> np.ndarray:
        """uint8 (3, crop, crop): the decoded crop as this view shows it."""
        chw = np.ascontiguousarray(pixels.transpose(2, 0, 1))
        return chw if self.view.transform is None else self.view.transform(content, chw)


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


_UNREADABLE = "\0unreadable\0"


def _hash_file(path: Path) -> str:
    """The hash of the file's bytes, or why it cannot be read prefixed with `_UNREADABLE`."""
    try:
        return content_hash(read_bytes(path))
    except ImageProblem as problem:
        return _UNREADABLE + str(problem)
    except Exception as error:  # a gallery must survive any one file
        return f"{_UNREADABLE}{path}: could not be read ({error})."


def _decode(path: Path, prep: Preprocessing) -> tuple[str, np.ndarray] | str:
    """(content key, uint8 (crop, crop, 3) pixels) of one file, or why it cannot be read.
    The file is read again (from the page cache, a fraction of decoding) and hashed again:
    the key is always that of the bytes decoded, even if the file changed since `plan`."""
    try:
        data = read_bytes(path)
        image = decode_image(path, data, draft_size=prep.resize).image
        return content_hash(data), resize_and_crop(image, prep)
    except ImageProblem as problem:
        return str(problem)
    except Exception as error:  # a gallery must survive any one file
        return f"{path}: could not be read ({error})."
