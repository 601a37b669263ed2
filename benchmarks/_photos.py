"""Many distinct photos made from the few real ones: a bigger dataset, and a gallery.

Not a benchmark itself. The real dataset has 150 photos per class; a benchmark of a whole
session wants more (e.g. 750 per class, and 1,000 other photos to classify). Plain copies
would not do: the app hashes file contents, so a cache keyed by that hash would see each
copy as a photo it already knows, and the new code would look faster than it is. Each
derived photo is therefore a different picture of its source: a seeded random crop of 80 to
100 % of its area (the aspect kept), a horizontal flip half of the time, a brightness change
of up to ±8 % and a JPEG re-encode at quality 85 to 95. Sizes stay close to the originals
(about 410-725 px a side). The same seed writes the same files; every file's content hash is
checked to be unique.
"""

from __future__ import annotations

import hashlib
import os
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, ImageEnhance

TRAIN_SEED = 1
GALLERY_SEED = 2
"""A different seed from the dataset's: the gallery's pictures are not the dataset's."""
MIN_AREA = 0.80
MAX_BRIGHTNESS_CHANGE = 0.08
QUALITY = (85, 95)


def derive(source: Path, target: Path, seed: str) -> None:
    """Write one picture of `source` to `target`, drawn from `seed` (a string, so that
    the same seed, source and number always give the same picture)."""
    rng = random.Random(seed)
    with Image.open(source) as opened:
        image = opened.convert("RGB")
    width, height = image.size
    side = rng.uniform(MIN_AREA, 1.0) ** 0.5  # a share of each side: area in [0.8, 1]
    w, h = max(1, round(width * side)), max(1, round(height * side))
    left, top = rng.randint(0, width - w), rng.randint(0, height - h)
    picture = image.crop((left, top, left + w, top + h))
    if rng.random() < 0.5:
        picture = picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    brightness = 1.0 + rng.uniform(-MAX_BRIGHTNESS_CHANGE, MAX_BRIGHTNESS_CHANGE)
    picture = ImageEnhance.Brightness(picture).enhance(brightness)
    picture.save(target, "JPEG", quality=rng.randint(*QUALITY))


def _plan_dataset(sources: dict[str, list[Path]], per_class: int, target: Path
                  ) -> list[tuple[Path, Path, str]]:
    """(source, target file, seed) for `per_class` photos in each target/<class>/."""
    plan = []
    for name, photos in sources.items():
        (target / name).mkdir(parents=True, exist_ok=True)
        for number in range(per_class):
            source = photos[number % len(photos)]
            plan.append((source, target / name / f"{number:05d}.jpg",
                         f"{TRAIN_SEED}/{name}/{number}"))
    return plan


def _plan_gallery(sources: dict[str, list[Path]], count: int, target: Path
                  ) -> list[tuple[Path, Path, str]]:
    """(source, target file, seed) for `count` photos in one flat folder, the classes taking
    turns; each file is named after its class (`lion-00003.jpg`) so a check can score them."""
    target.mkdir(parents=True, exist_ok=True)
    names = list(sources)
    plan = []
    for number in range(count):
        name = names[number % len(names)]
        photos = sources[name]
        source = photos[(number // len(names)) % len(photos)]
        plan.append((source, target / f"{name}-{number:05d}.jpg",
                     f"{GALLERY_SEED}/{name}/{number}"))
    return plan


def _write(plan: list[tuple[Path, Path, str]]) -> None:
    """Write every planned photo; Pillow's decoding and encoding release the GIL."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for _ in pool.map(lambda job: derive(*job), plan):
            pass


def _check_distinct(files: list[Path]) -> None:
    """Fail loudly if two files have the same bytes (they would share a cache entry)."""
    seen: dict[str, Path] = {}
    for path in files:
        digest = hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
        if digest in seen:
            raise RuntimeError(f"{path} has the same bytes as {seen[digest]}")
        seen[digest] = path


def make_photos(sources: dict[str, list[Path]], per_class: int, gallery_count: int,
                target: Path) -> tuple[Path, Path]:
    """(dataset folder, gallery folder) under `target`: `per_class` photos per class of
    `sources` ({class: its photos}), and `gallery_count` other photos in one folder."""
    if not sources or not all(sources.values()):
        raise ValueError("every class needs at least one source photo")
    dataset, gallery = target / "dataset", target / "gallery"
    plan = _plan_dataset(sources, per_class, dataset) + _plan_gallery(sources, gallery_count,
                                                                      gallery)
    _write(plan)
    _check_distinct([file for _, file, _ in plan])
    return dataset, gallery
