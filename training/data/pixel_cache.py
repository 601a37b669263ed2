"""Decode each image of a run once, into uint8 pixels at the model's input size.

A training run reads its images many times (every epoch, every augmented view); decoding a
JPEG costs far more than augmenting pixels already decoded, so the run decodes each file
once, in a small thread pool (Pillow releases the GIL while decoding), and keeps the result:
in one tensor in RAM when it is small (the fastest), on disk in `training.data.disk_cache` when
it is larger than `disk_cache.ram_limit()` bytes, where the next run on the same files finds
it again. Both give the same pixels; code that uses them indexes either the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from training.core.errors import DatasetError
from training.data import disk_cache
from training.data.disk_cache import DiskPixels
from training.data.images import ImageProblem
from training.data.preprocessing import load_pixels
from training.records.events import Cancelled, PhaseProgress
from training.records.preprocessing import Preprocessing

DECODE_WORKERS = 2
_REPORT_EVERY = 16

Pixels = torch.Tensor | DiskPixels
"""uint8 (N, 3, crop, crop): a tensor in RAM, or rows on disk read per batch."""


def decode_all(
    paths: Sequence[Path],
    prep: Preprocessing,
    report: Callable[[PhaseProgress], None],
    cancel: threading.Event,
    fingerprint: str | None = None,
) -> Pixels:
    """uint8 (N, 3, crop, crop) pixels of `paths`, in order; on disk above the RAM limit.

    `fingerprint` (the dataset's) becomes part of the disk cache's key. An up-to-date disk
    entry is reused without decoding; the "decode" phase then reports done at once.
    """
    if len(paths) * 3 * prep.crop * prep.crop > disk_cache.ram_limit():
        started = time.perf_counter()
        cached = disk_cache.open_cached(paths, prep, fingerprint)
        if cached is None:
            return disk_cache.write_cache(paths, prep, fingerprint,
                                          _decoded(paths, prep, report, cancel))
        rate = len(paths) / max(time.perf_counter() - started, 1e-9)
        report(PhaseProgress("decode", len(paths), len(paths), rate))
        return cached
    pixels = torch.empty((len(paths), 3, prep.crop, prep.crop), dtype=torch.uint8)
    for index, image in enumerate(_decoded(paths, prep, report, cancel)):
        pixels[index] = torch.from_numpy(image).permute(2, 0, 1)
    return pixels


def select(pixels: Pixels, index: slice | torch.Tensor) -> Pixels:
    """Some rows of `pixels`: a view that stays on disk for disk pixels, a tensor otherwise."""
    return pixels.select(index) if isinstance(pixels, DiskPixels) else pixels[index]


def _decoded(
    paths: Sequence[Path],
    prep: Preprocessing,
    report: Callable[[PhaseProgress], None],
    cancel: threading.Event,
) -> Iterator[np.ndarray]:
    """Each image as uint8 (crop, crop, 3), in order, with progress and cancellation."""
    started = time.perf_counter()

    def load(path: Path) -> np.ndarray:
        try:
            return load_pixels(path, prep)
        except ImageProblem as problem:
            raise DatasetError(f"{problem} Scan the dataset again after fixing it.") from None

    pool = ThreadPoolExecutor(max_workers=DECODE_WORKERS, thread_name_prefix="decode")
    try:
        for index, image in enumerate(pool.map(load, paths)):
            yield image
            done = index + 1
            if cancel.is_set():
                raise Cancelled
            if done % _REPORT_EVERY == 0 or done == len(paths):
                rate = done / max(time.perf_counter() - started, 1e-9)
                report(PhaseProgress("decode", done, len(paths), rate))
    finally:  # cancelled, failed, or the consumer stopped: drop the decodes not started
        pool.shutdown(wait=False, cancel_futures=True)
