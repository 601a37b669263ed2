"""Small synthetic photo folders for tests that need a dataset but not real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# Each class gets its own dominant colour; a pretrained network separates them easily.
CLASS_COLOURS = {
    "red": (200, 40, 40),
    "blue": (40, 60, 200),
    "green": (40, 180, 60),
    "yellow": (220, 210, 40),
}


def textured_image(colour: tuple[int, int, int], seed: int, size: int = 64) -> Image.Image:
    """A colour with seeded noise and a random bright square, so every image is distinct."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(
        np.array(colour, dtype=np.float64) + rng.normal(0, 35, (size, size, 3)), 0, 255
    )
    top, left = rng.integers(0, size // 2, 2)
    pixels[top:top + size // 3, left:left + size // 3] = rng.integers(150, 255, 3)
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def make_dataset(root: Path, classes: tuple[str, ...] = ("red", "blue"), per_class: int = 12,
                 size: int = 64, seed: int = 0) -> Path:
    """root/<class>/<i>.png for each class; returns root."""
    for class_index, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = textured_image(CLASS_COLOURS[name], seed * 10_000 + class_index * 1000 + i,
                                   size)
            image.save(folder / f"{i}.png")
    return root


IMAGENET_FRUIT = (("lemon", (230, 220, 50)), ("granny_smith", (120, 200, 40)))
"""Two ImageNet categories whose own classifier rows tell these yellow and green synthetic
photos apart perfectly: a zero-shot baseline of 1.0 that training can only spoil."""


def make_fruit_dataset(root: Path, swapped: bool, per_part: int = 8) -> Path:
    """root/{train,val}/{lemon,granny_smith}/<i>.png; with `swapped`, the training photos of
    the two classes are in each other's folders (validation is always right), so training
    makes the model worse than ImageNet's own rows. Returns root."""
    (_, yellow), (_, green) = IMAGENET_FRUIT
    for part, offset in (("train", 0), ("val", 100)):
        for name, colour in IMAGENET_FRUIT:
            shown = (green if colour == yellow else yellow) if swapped and part == "train" \
                else colour
            folder = root / part / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_part):
                textured_image(shown, offset + i + (50 if colour == green else 0)).save(
                    folder / f"{i}.png")
    return root


RARE_CLASSES = ("common_a", "common_b", "rare")
"""The three classes of `make_rare_feature_dataset`: the last one is the rare class."""


def rare_features(labels: np.ndarray, seed: int, width: int, separation: float = 3.0,
                  scale: float = 3.0) -> np.ndarray:
    """(N, width) float32 vectors whose answer is known: three Gaussian classes at the
    corners of an equilateral triangle of side `separation` in the first two dimensions,
    with unit noise there (so the classes overlap: the best balanced accuracy is about 0.87
    at 3.0) and a little noise (0.02) in the other dimensions, which carry no signal (real
    features, too, vary in far fewer directions than they have); all times `scale`, about
    the size of real features."""
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, 0.866]]) * separation
    rng = np.random.default_rng(seed)
    features = rng.normal(0.0, 0.02, (len(labels), width))
    features[:, :2] = rng.normal(0.0, 1.0, (len(labels), 2)) + corners[labels]
    return (features * scale).astype(np.float32)


def make_rare_feature_dataset(root: Path, counts: dict[str, dict[str, int]], seed: int = 0
                              ) -> Path:
    """root/<part>/<class>/<i>.png, `counts[part][class]` tiny distinct photos each, e.g.
    {"train": {"common_a": 100, "common_b": 100, "rare": 5}, "val": {...}}. Their
    features come from `store_rare_features`, not from the photos."""
    rng = np.random.default_rng(seed)
    for part, per_class in counts.items():
        for name, count in per_class.items():
            folder = root / part / name
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels, "RGB").save(folder / f"{index}.png")
    return root


def store_rare_features(dataset: object, seed: int = 0) -> None:
    """Write `rare_features` for every photo of the scanned `dataset` into the feature store,
    under the pretrained network's centre view: a quick-mode `fit` then trains on them."""
    from training.data.feature_store import FileStamp
    from training.models.embedding import CENTRE_VIEW, default_store, space_key
    from training.models.frozen import pretrained_frozen

    frozen = pretrained_frozen()
    names = [dataset.classes[r.label] for r in dataset.images]  # type: ignore[attr-defined]
    labels = np.array([RARE_CLASSES.index(name) for name in names])
    vectors = rare_features(labels, seed, frozen.width)
    store = default_store()
    images = dataset.images  # type: ignore[attr-defined]
    store.remember_files((FileStamp.of(r.path), r.content_hash) for r in images)
    store.store_vectors(space_key(frozen, CENTRE_VIEW),
                        {r.content_hash: vectors[i] for i, r in enumerate(images)}, "pytorch")
