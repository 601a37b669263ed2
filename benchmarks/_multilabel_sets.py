"""Multi-label data sets with known answers, composed from the shared single-label photos.

Not a benchmark itself (`multilabel.py` is). The shared folder has single-label photos; a
multi-label set is made from them two different ways, so that no method is tuned to one:

- mosaic: a 2×2 grid (448 px) of cells, each a photo (cheetah, lion or leopard) or a
  "none" tile of neutral texture (coarse coloured noise, no animal). 0-3 photos per
  image; the labels are the kinds present (an image of four textures has no label, a valid
  negative). Exactly 5 % of the images hold a leopard: the rare label.
- attributes: one photo, full frame, labelled with its kind plus attributes made by a
  transform with a known answer: `greyscale` (30 %), `night` (25 %: darkened to a quarter,
  blue-tinted, noisy) and `close-up` (30 %: the central 60 % of each side, enlarged back).
  The attributes are drawn independently, so they co-occur. Again 5 % leopards.

The kinds come from `cheetah_lion_verdicts.json`: the cheetah folder's leopards are
relabelled `leopard`; the tiger, meerkats, house cat, jaguar, the pumas and the statue are left
out. Before composing, each kind's photos are cut (seeded) into a training pool (70 %) and a
test pool (30 %), a leopard and its near-duplicate on the same side, so the held-out test
images never show a photo the training images show. Every image is drawn from the seed, is
written once as a JPEG (quality 90) with a `labels.csv` beside it (`path,labels`, `;`-joined),
and no two files share their bytes.
"""

from __future__ import annotations

import csv
import functools
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

VERDICTS = Path(__file__).with_name("cheetah_lion_verdicts.json")
KINDS = ("cheetah", "leopard", "lion")
RARE = "leopard"
RARE_SHARE = 0.05
TEST_SHARE = 0.3
CELL = 224
ATTRIBUTES = {"greyscale": 0.30, "night": 0.25, "close-up": 0.30}
PHOTOS_PER_MOSAIC = {0: 0.10, 1: 0.35, 2: 0.35, 3: 0.20}
QUALITY = 90
COMPOSITIONS = ("mosaic", "attributes")


@dataclass(frozen=True)
class ComposedSet:
    """One composed set: its training folder and held-out test folder (each with
    `labels.csv`), and its label names."""

    name: str
    seed: int
    train: Path
    test: Path
    labels: tuple[str, ...]


@functools.cache
def _verdicts() -> dict[str, str]:
    """{"folder/file": what it really shows} for the photos that do not belong."""
    return json.loads(VERDICTS.read_text())["not_belonging"]


def kinds_of(data: Path) -> dict[str, list[Path]]:
    """{kind: photos} of the shared folder, as judged by eye: leopards apart, other
    animals and the statue left out."""
    kinds: dict[str, list[Path]] = {kind: [] for kind in KINDS}
    for folder in ("cheetah", "lion"):
        for photo in sorted((data / folder).glob("*.jpg")):
            verdict = _verdicts().get(f"{folder}/{photo.name}")
            if verdict is None:
                kinds[folder].append(photo)
            elif verdict.startswith("leopard"):
                kinds["leopard"].append(photo)
    return kinds


def _pair_key(photo: Path) -> str:
    """The first name of the photo and its near-duplicate when the verdicts name one (so
    both land in one pool), else its own."""
    name = f"{photo.parent.name}/{photo.name}"
    found = re.search(r"near-duplicate of (\S+?)\)", _verdicts().get(name, ""))
    return min(name, found.group(1)) if found else name


def pools(data: Path, seed: int) -> tuple[dict[str, list[Path]], dict[str, list[Path]]]:
    """(training pool, test pool) per kind: a seeded 70/30 cut, near-duplicates together."""
    rng = random.Random(f"pools/{seed}")
    train: dict[str, list[Path]] = {}
    test: dict[str, list[Path]] = {}
    for kind, photos in kinds_of(data).items():
        groups: dict[str, list[Path]] = {}
        for photo in photos:
            groups.setdefault(_pair_key(photo), []).append(photo)
        keys = sorted(groups)
        rng.shuffle(keys)
        want = round(len(photos) * TEST_SHARE)
        train[kind], test[kind] = [], []
        for key in keys:
            (test if len(test[kind]) < want else train)[kind].extend(groups[key])
    return train, test


def _cover(photo: Path, side: int, rng: random.Random) -> Image.Image:
    """A square `side` px picture of the photo: a random crop of 85-100 % of its shorter
    side, maybe flipped."""
    with Image.open(photo) as opened:
        image = opened.convert("RGB")
    width, height = image.size
    edge = round(min(width, height) * rng.uniform(0.85, 1.0))
    left, top = rng.randint(0, width - edge), rng.randint(0, height - edge)
    image = image.crop((left, top, left + edge, top + edge)).resize((side, side),
                                                                   Image.Resampling.BILINEAR)
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else image


def _texture(side: int, rng: random.Random) -> Image.Image:
    """A neutral tile: coarse coloured noise, a little blurred, in a random tone."""
    generator = np.random.default_rng(rng.randrange(2**32))
    coarse = generator.uniform(0, 1, (side // 16, side // 16, 1))
    tone = np.array([rng.uniform(90, 200), rng.uniform(80, 180), rng.uniform(60, 160)])
    pixels = np.clip(tone * (0.6 + 0.8 * coarse), 0, 255).astype(np.uint8)
    tile = Image.fromarray(pixels).resize((side, side), Image.Resampling.BICUBIC)
    return tile.filter(ImageFilter.GaussianBlur(rng.uniform(1, 4)))


def _rare_positions(count: int, rng: random.Random) -> set[int]:
    """Which of `count` images hold the rare kind: exactly RARE_SHARE of them."""
    return set(rng.sample(range(count), max(1, round(count * RARE_SHARE))))


def _common_kind(rng: random.Random) -> str:
    return rng.choice([kind for kind in KINDS if kind != RARE])


def _mosaic(pool: dict[str, list[Path]], rare: bool, rng: random.Random
            ) -> tuple[Image.Image, set[str]]:
    """One 2×2 mosaic and the kinds in it; with `rare`, one of its photos is a leopard."""
    count = rng.choices(list(PHOTOS_PER_MOSAIC), weights=list(PHOTOS_PER_MOSAIC.values()))[0]
    count = max(count, 1) if rare else count
    kinds = [_common_kind(rng) for _ in range(count)]
    if rare:
        kinds[0] = RARE
    cells: list[str | None] = [*kinds, *[None] * (4 - count)]
    rng.shuffle(cells)
    canvas = Image.new("RGB", (2 * CELL, 2 * CELL))
    for index, kind in enumerate(cells):
        tile = _texture(CELL, rng) if kind is None else _cover(rng.choice(pool[kind]), CELL, rng)
        canvas.paste(tile, ((index % 2) * CELL, (index // 2) * CELL))
    return canvas, set(kinds)


def _night(image: Image.Image, rng: random.Random) -> Image.Image:
    """Strongly darkened (to about a quarter), blue-tinted, with sensor-like noise."""
    pixels = np.asarray(image, dtype=np.float32) * rng.uniform(0.18, 0.3)
    pixels *= np.array([0.8, 0.9, 1.15], dtype=np.float32)
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0, 4, pixels.shape)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))


def _attributes(pool: dict[str, list[Path]], rare: bool, rng: random.Random
                ) -> tuple[Image.Image, set[str]]:
    """One photo, its kind and the attributes drawn for it, applied."""
    kind = RARE if rare else _common_kind(rng)
    with Image.open(rng.choice(pool[kind])) as opened:
        image = opened.convert("RGB")
    image.thumbnail((448, 448))
    labels = {kind} | {name for name, share in ATTRIBUTES.items() if rng.random() < share}
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if "close-up" in labels:
        width, height = image.size
        w, h = round(width * 0.6), round(height * 0.6)
        left = round((width - w) * rng.uniform(0.3, 0.7))
        top = round((height - h) * rng.uniform(0.3, 0.7))
        image = image.crop((left, top, left + w, top + h)).resize((width, height),
                                                                  Image.Resampling.BICUBIC)
    if "greyscale" in labels:
        image = ImageOps.grayscale(image).convert("RGB")
    if "night" in labels:
        image = _night(image, rng)
    else:  # a small brightness change on every other photo, so brightness alone is no cue
        image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.85, 1.15))
    return image, labels


COMPOSERS: dict[str, Callable[[dict[str, list[Path]], bool, random.Random],
                              tuple[Image.Image, set[str]]]] = {
    "mosaic": _mosaic, "attributes": _attributes}
LABELS = {"mosaic": KINDS, "attributes": (*KINDS, *ATTRIBUTES)}


def write_part(kind: str, pool: dict[str, list[Path]], count: int, folder: Path,
               seed: str) -> None:
    """`count` composed images of `kind` in `folder`, with their `labels.csv`."""
    rng = random.Random(seed)
    rare = _rare_positions(count, rng)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for number in range(count):
        image, labels = COMPOSERS[kind](pool, number in rare, rng)
        name = f"{number:04d}.jpg"
        image.save(folder / name, "JPEG", quality=QUALITY)
        rows.append((name, ";".join(sorted(labels))))
    with (folder / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("path", "labels"))
        writer.writerows(rows)


def compose(data: Path, kind: str, seed: int, train_count: int, test_count: int,
            target: Path) -> ComposedSet:
    """One set of `kind`, drawn from `seed`: `train_count` images from the training pool
    (to be split into train/validation) and `test_count` held-out ones from the test pool."""
    train_pool, test_pool = pools(data, seed)
    folder = target / f"{kind}-{seed}"
    write_part(kind, train_pool, train_count, folder / "train", f"{kind}/{seed}/train")
    write_part(kind, test_pool, test_count, folder / "test", f"{kind}/{seed}/test")
    return ComposedSet(kind, seed, folder / "train", folder / "test", LABELS[kind])


def read_labels(folder: Path) -> tuple[list[Path], list[set[str]]]:
    """(image paths, their label sets) from a composed folder's `labels.csv`."""
    with (folder / "labels.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return ([folder / row["path"] for row in rows],
            [set(filter(None, row["labels"].split(";"))) for row in rows])
