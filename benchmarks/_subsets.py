"""Few-shot datasets drawn from the shared photos, for the learning-quality benchmarks.

Not a benchmark itself. A few-shot folder has the engine's own `train/`, `val/` and `test/`
layout: `per_class` training photos of each class, then a fixed number of validation photos
and the rest as a held-out test part, all drawn by `seed`. The validation part stays the same
size whatever `per_class` is, so accuracies are not quantised by a one-photo validation set;
the test part is what the selection on validation never saw.
"""

from __future__ import annotations

import math
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import _common
from PIL import Image

Degrade = Callable[[Image.Image], Image.Image]
"""Turns a photo into a harder one (e.g. a tiny grey thumbnail), or None to copy it as is."""


def few_shot_folder(data: Path, per_class: int, val_per_class: int, seed: int, target: Path,
                    degrade: Degrade | None = None, mislabelled: float = 0.0) -> Path:
    """`target` filled with train/val/test parts drawn from `data` (see the module docstring).

    `mislabelled`: the share of each class's training photos (rounded up) put in the next
    class's folder instead, as web-gathered photo sets have them; validation and test stay
    right.
    """
    draw = random.Random(seed)
    classes = _common.class_photos(data)
    names = list(classes)
    for index, (name, photos) in enumerate(classes.items()):
        order = list(photos)
        draw.shuffle(order)
        wrong = math.ceil(per_class * mislabelled)
        neighbour = names[(index + 1) % len(names)]
        parts = {("train", name): order[wrong:per_class],
                 ("train", neighbour): order[:wrong],
                 ("val", name): order[per_class:per_class + val_per_class],
                 ("test", name): order[per_class + val_per_class:]}
        for (part, folder_name), chosen in parts.items():
            folder = target / part / folder_name
            folder.mkdir(parents=True, exist_ok=True)
            for photo in chosen:
                # the class in the name keeps two classes' photos of one name apart
                if degrade is None:
                    shutil.copyfile(photo, folder / f"{name}-{photo.name}")
                else:
                    with Image.open(photo) as image:
                        degrade(image).save(folder / f"{name}-{photo.stem}.png")
    return target
