"""Small multi-label datasets with known answers, built as records (no scan needed).

Each photo is grey noise with coloured squares on it: label "red" when a red square is
present, "blue" when a blue one is, both, or none. "green", a thin green frame (mostly
cropped away by the 256 → 224 centre crop), is the rare label, on 5 % of the photos: clear
enough to be learned from five examples. (The early-stopped head of before missed a third
of fresh ones without `pos_weight`; the converged head finds them all either way, so the
weighting is pinned on overlapping features in the training tests.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from training.data.images import content_hash
from training.records.dataset import HealthReport, Split
from training.records.multilabel import LabelledImage, MultiLabelDataset

LABELS = ("blue", "green", "red")
COLOURS = {"red": (220, 30, 30), "blue": (30, 50, 230), "green": (30, 200, 40)}
SIDES = {"red": 22, "blue": 22}
FRAME = 6
"""The rare label's green frame is this wide (of 64 pixels; the crop leaves about 2)."""
GREEN_AT = (21, 42, 50, 63, 84, 106)
"""The rare label's photos among 120, with every mix of the others: five in training, one
in validation (`patch_split`)."""


def patch_image(present: tuple[str, ...], seed: int, size: int = 64) -> Image.Image:
    """Grey noise with a square of each colour in `present` at seeded places, framed in green
    when "green" is present."""
    rng = np.random.default_rng(seed)
    grey = rng.integers(90, 170)
    pixels = np.clip(grey + rng.normal(0, 25, (size, size, 3)), 0, 255)
    if "green" in present:
        pixels[:FRAME], pixels[-FRAME:] = COLOURS["green"], COLOURS["green"]
        pixels[:, :FRAME], pixels[:, -FRAME:] = COLOURS["green"], COLOURS["green"]
    for name in present:
        if name == "green":
            continue
        side = SIDES[name]
        top, left = rng.integers(0, size - side, 2)
        pixels[top:top + side, left:left + side] = COLOURS[name]
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def labels_of(index: int) -> tuple[str, ...]:
    """The labels of photo `index`: red on odd, blue on every other pair, green rarely."""
    present = []
    if index % 2:
        present.append("red")
    if (index // 2) % 2:
        present.append("blue")
    if index in GREEN_AT:
        present.append("green")
    return tuple(present)


def make_patch_dataset(root: Path, count: int = 120, seed: int = 0) -> MultiLabelDataset:
    """root/<i>.png for i < count, as a `MultiLabelDataset` (source "labels.csv")."""
    root.mkdir(parents=True, exist_ok=True)
    images = []
    for index in range(count):
        present = labels_of(index)
        path = root / f"{index:03d}.png"
        patch_image(present, seed * 10_000 + index).save(path)
        images.append(LabelledImage(
            path=path, relpath=path.name, labels=tuple(LABELS.index(n) for n in present),
            width=64, height=64, content_hash=content_hash(path.read_bytes())))
    return MultiLabelDataset(root=root, labels=LABELS, images=tuple(images),
                             report=HealthReport(), fingerprint=f"patches-{count}-{seed}",
                             source="labels.csv")


def patch_split(count: int = 120) -> Split:
    """Every fifth photo for validation, the rest for training."""
    return Split(train=tuple(i for i in range(count) if i % 5),
                 val=tuple(i for i in range(count) if not i % 5), seed=0)


def known_logits(count: int, scales: tuple[float, ...], seed: int = 0,
                 positives: tuple[int, ...] | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(count, labels) logits and 0/1 targets whose right temperatures are `scales`: each
    label's true log-odds z are drawn from N(−1, 2²), its targets drawn with chance
    sigmoid(z) (calibrated by construction), and its logits are scale · z (a head `scale`
    times over-confident). `positives[l]`, when given, keeps only that many of label l's
    positives (the rest become negatives)."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(count, len(scales), generator=generator, dtype=torch.float64) * 2.0 - 1.0
    targets = (torch.rand(count, len(scales), generator=generator, dtype=torch.float64)
               < torch.sigmoid(z)).double()
    for label, kept in enumerate(positives or ()):
        rows = torch.nonzero(targets[:, label]).flatten()
        targets[rows[kept:], label] = 0.0
    return z * torch.tensor(scales, dtype=torch.float64), targets
