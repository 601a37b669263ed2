"""Features of image files, each photo decoded and embedded at most once per network.

`embed_files` is the one road from files to a frozen network's features: it asks the
feature store first (`training.data.feature_store`), decodes only the photos it lacks (in a
small thread pool, the next batch while the current one runs through the network), runs
them through `FrozenFeatures` (onnxruntime when it agrees with PyTorch) and stores what it
computed. It streams one batch at a time, so classifying 10,000 photos holds one batch.
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
from training.data.preprocessing import Preprocessing, resize_and_crop
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


@dataclass
class _Planned:
    """A batch on its way: what the store had, and the decodes of what it lacked."""

    paths: list[Path]
    stamps: list[FileStamp | None]
    found: dict[int, np.ndarray]
    decoding: dict[int, Future[tuple[str, np.ndarray] | str]]


class _Embedder:
    """One `embed_files` call's work: plan a batch (store lookups, decodes submitted), then
    finish it (wait for the decodes, run what the store lacked, keep it)."""

    def __init__(self, frozen: FrozenFeatures, store: FeatureStore | None,
                 pool: ThreadPoolExecutor, total: int, view: View) -> None:
        self.frozen, self.store, self.pool, self.total = frozen, store, pool, total
        self.view = view
        self.space = space_key(frozen, view.name)

    def plan(self, paths: list[Path] | None) -> _Planned | None:
        if paths is None:
            return None
        stamps = [FileStamp.of(path) for path in paths]
        found = _stored(self.store, self.space, self.frozen.width, stamps)
        decoding = {index: self.pool.submit(_decode, path, self.frozen.prep)
                    for index, path in enumerate(paths) if index not in found}
        return _Planned(paths, stamps, found, decoding)

    def finish(self, planned: _Planned) -> list[FileFeatures]:
        results: dict[int, FileFeatures] = dict(planned.found)
        decoded = {index: future.result() for index, future in planned.decoding.items()}
        fresh = {index: item for index, item in decoded.items() if not isinstance(item, str)}
        results.update({index: item for index, item in decoded.items() if isinstance(item, str)})
        if fresh:
            results.update(self._embed_fresh(planned, fresh))
        return [results[index] for index in range(len(planned.paths))]

    def _embed_fresh(self, planned: _Planned, fresh: dict[int, tuple[str, np.ndarray]]
                     ) -> dict[int, np.ndarray]:
        """Features of the decoded photos: from the store when their bytes are known under
        another name, from the network otherwise; everything computed is stored."""
        vectors: dict[str, np.ndarray] = {}
        if self.store is not None and self.store.available:
            contents = [content for content, _ in fresh.values()]
            vectors = self.store.vectors(self.space, contents, self.frozen.width)
        missing = [index for index, (content, _) in fresh.items() if content not in vectors]
        if missing:
            self.frozen.prepare(self.total)
            pixels = [self._viewed(*fresh[index]) for index in missing]
            computed = self.frozen(torch.from_numpy(np.stack(pixels))).numpy()
            new = {fresh[index][0]: row for index, row in zip(missing, computed, strict=True)}
            vectors.update(new)
            if self.store is not None:
                self.store.store_vectors(self.space, new)
        if self.store is not None:
            self.store.remember_files(
                (stamp, fresh[index][0]) for index in fresh
                if (stamp := planned.stamps[index]) is not None)
        return {index: vectors[content] for index, (content, _) in fresh.items()}

    def _viewed(self, content: str, pixels: np.ndarray) -> np.ndarray:
        """uint8 (3, crop, crop): the decoded crop as this view shows it."""
        chw = np.ascontiguousarray(pixels.transpose(2, 0, 1))
        return chw if self.view.transform is None else self.view.transform(content, chw)


def _stored(store: FeatureStore | None, space: str, width: int,
            stamps: Sequence[FileStamp | None]) -> dict[int, np.ndarray]:
    """The stored vectors of the files whose stamps the store knows, by position."""
    found: dict[int, np.ndarray] = {}
    if store is None or not store.available:
        return found
    known = store.content_keys([stamp for stamp in stamps if stamp is not None])
    vectors = store.vectors(space, list(known.values()), width)
    for index, stamp in enumerate(stamps):
        content = known.get(stamp.path) if stamp is not None else None
        if content is not None and content in vectors:
            found[index] = vectors[content]
    return found


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
    The store is asked for every photo at once first (for 10,000 stored photos, 40
    queries and one write instead of 939 queries and 313 writes, a batch of 32 at a time);
    only the photos it lacks go through `embed_files`.
    """
    if cancel is not None and cancel.is_set():
        raise Cancelled
    features = torch.empty((len(paths), frozen.width), dtype=torch.float32)
    stored = _stored(store, space_key(frozen, view.name), frozen.width,
                     [FileStamp.of(path) for path in paths])
    if stored:
        features[list(stored)] = torch.from_numpy(np.stack(list(stored.values())))
        if advance is not None:
            advance(len(stored))
    missing = [index for index in range(len(paths)) if index not in stored]
    done = 0
    for batch in embed_files([paths[i] for i in missing], frozen, store, cancel, advance,
                             view=view):
        for item in batch:
            if isinstance(item, str):
                raise DatasetError(f"{item} Scan the dataset again after fixing it.")
            features[missing[done]] = torch.from_numpy(item)
            done += 1
    return features


def _decode(path: Path, prep: Preprocessing) -> tuple[str, np.ndarray] | str:
    """(content key, uint8 (crop, crop, 3) pixels) of one file, or why it cannot be read:
    the bytes are read once, for both the key and the decoder."""
    try:
        data = read_bytes(path)
        image = decode_image(path, data, draft_size=prep.resize).image
        return content_hash(data), resize_and_crop(image, prep)
    except ImageProblem as problem:
        return str(problem)
    except Exception as error:  # a gallery must survive any one file
        return f"{path}: could not be read ({error})."
