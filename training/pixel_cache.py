"""Decode each image of a run once, into a uint8 tensor at the model's input size.

A training run reads its images many times (every epoch, every augmented view); decoding a
JPEG costs far more than augmenting pixels already in memory, so the run decodes each file
once, in a small thread pool (Pillow releases the GIL while decoding), and keeps the result.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from training.errors import DatasetError
from training.events import Cancelled, PhaseProgress
from training.images import ImageProblem
from training.preprocessing import Preprocessing, load_pixels

DECODE_WORKERS = 2
_REPORT_EVERY = 16


def decode_all(
    paths: Sequence[Path],
    prep: Preprocessing,
    report: Callable[[PhaseProgress], None],
    cancel: threading.Event,
) -> torch.Tensor:
    """uint8 tensor (N, 3, crop, crop) of `paths`, in order."""
    pixels = torch.empty((len(paths), 3, prep.crop, prep.crop), dtype=torch.uint8)
    started = time.perf_counter()

    def load(path: Path) -> torch.Tensor:
        try:
            return torch.from_numpy(load_pixels(path, prep)).permute(2, 0, 1)
        except ImageProblem as problem:
            raise DatasetError(f"{problem} Scan the dataset again after fixing it.") from None

    with ThreadPoolExecutor(max_workers=DECODE_WORKERS, thread_name_prefix="decode") as pool:
        for index, image in enumerate(pool.map(load, paths)):
            pixels[index] = image
            done = index + 1
            if cancel.is_set():
                pool.shutdown(wait=False, cancel_futures=True)
                raise Cancelled
            if done % _REPORT_EVERY == 0 or done == len(paths):
                rate = done / max(time.perf_counter() - started, 1e-9)
                report(PhaseProgress("decode", done, len(paths), rate))
    return pixels
