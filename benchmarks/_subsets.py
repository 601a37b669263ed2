"""Few-shot datasets drawn from the shared photos, for the learning-quality benchmarks.

Not a benchmark itself. A few-shot folder has the engine's own `train/`, `val/` and `test/`
layout: `per_class` training photos of each class, then a fixed number of validation photos
and the rest as a held-out test part, all drawn by `seed`. The validation part stays the same
size whatever `per_class` is, so accuracies are not quantised by a one-photo validation set;
the test part is what the selection on validation never saw.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from pathlib import Path

import _common
from PIL import Image

Degrade = Callable[[Image.Image], Image.Image]
"""Turns a photo into a harder one (e.g. a tiny grey thumbnail), or None to copy it as is."""


def few_shot_folder(data: Path, per_class: int, val_per_class: int, seed: int, target: Path,
                    degrade: Degrade | None = None) -> Path:
    """`target` filled with train/val/test parts drawn from `data` (see the module docstring)."""
    draw = random.Random(seed)
    for name, photos in _common.class_photos(data).items():
        order = list(photos)
        draw.shuffle(order)
        parts = {"train": order[:per_class],
                 "val": order[per_class:per_class + val_per_class],
                 "test": order[per_class + val_per_class:]}
        for part, chosen in parts.items():
            folder = target / part / name
            folder.mkdir(parents=True, exist_ok=True)
            for photo in chosen:
                if degrade is None:
                    shutil.copyfile(photo, folder / photo.name)
                else:
                    with Image.open(photo) as image:
                        degrade(image).save(folder / f"{photo.stem}.png")
    return target
