"""Data sets with a rare class whose answer is known, for `rare_classes.py`.

Not a benchmark itself. Two kinds, each as a folder with its own train/, val/ and test/
folders (the engine keeps such a split; it never trains or chooses on test/):

- photos: the shared folder's cheetahs, lions and leopards (the cheetah folder's leopards, as
  judged by eye in `cheetah_lion_verdicts.json`; the other animals and the statue are left
  out). Cheetah and lion are common, leopard is rare: `COMMON_TRAIN` of each common class in
  train/, a tenth or a twentieth of that for the leopard; validation follows the training mix
  as the engine's own 20 % split would (`COMMON_VAL` each, and 2 or 1 leopards); test/ holds
  `COMMON_TEST` of each common class and every leopard left (10-17), a leopard and its
  near-duplicate always on one side. Real names (cheetah, leopard, lion: ImageNet's, so
  the head starts from ImageNet's rows) or neutral ones (group_a, group_c, group_b).
- synthetic: three Gaussian classes in feature space (`tests/synthetic.py`
  `rare_features`: the best balanced accuracy is about 0.87), written into the feature store
  for tiny distinct PNGs, so a quick `fit` trains on them. 100 per common class in train/,
  10 or 5 rare; validation 20, 20 and 2 or 1; test 200 of each.

Photos are hard links to the shared files, or copies (nothing is written beside them).
"""

from __future__ import annotations

import os
import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from _multilabel_sets import _pair_key, kinds_of

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from synthetic import make_rare_feature_dataset, store_rare_features

COMMON_TRAIN = 80
COMMON_VAL = 20
COMMON_TEST = 25
REAL_NAMES = {"cheetah": "cheetah", "lion": "lion", "leopard": "leopard"}
NEUTRAL_NAMES = {"cheetah": "group_a", "lion": "group_b", "leopard": "group_c"}
SYNTHETIC = {"train": 100, "val": 20, "test": 200}


@dataclass(frozen=True)
class RareSet:
    """One data set: its folder, its rare class's name, the training ratio (10: 1:10)."""

    kind: str
    names: str
    ratio: int
    seed: int
    root: Path
    rare: str


def photo_set(data: Path, target: Path, ratio: int, neutral: bool, seed: int) -> RareSet:
    """The photos' set for `ratio` (10 or 20) and `seed` under `target`."""
    rng = random.Random(f"rare/{seed}")
    names = NEUTRAL_NAMES if neutral else REAL_NAMES
    kinds = kinds_of(data)
    rare_train = max(1, COMMON_TRAIN // ratio)
    rare_val = max(1, round(COMMON_VAL / ratio))
    for kind, photos in kinds.items():
        if kind == "leopard":
            parts = _grouped_parts(photos, rng, (rare_train, rare_val))
        else:
            shuffled = sorted(photos)
            rng.shuffle(shuffled)
            cut = (COMMON_TRAIN, COMMON_TRAIN + COMMON_VAL, COMMON_TRAIN + COMMON_VAL + COMMON_TEST)
            parts = {"train": shuffled[:cut[0]], "val": shuffled[cut[0]:cut[1]],
                     "test": shuffled[cut[1]:cut[2]]}
        for part, chosen in parts.items():
            folder = target / part / names[kind]
            folder.mkdir(parents=True, exist_ok=True)
            for photo in chosen:
                _link(photo, folder / f"{photo.parent.name}-{photo.name}")
    return RareSet("photos", "neutral" if neutral else "real", ratio, seed, target,
                   names["leopard"])


def _link(photo: Path, target: Path) -> None:
    """A hard link to the shared photo, or a copy across file systems."""
    try:
        os.link(photo, target)
    except OSError:
        shutil.copyfile(photo, target)


def _grouped_parts(photos: list[Path], rng: random.Random, wanted: tuple[int, int]
                   ) -> dict[str, list[Path]]:
    """train/val/test of the rare photos: `wanted` (train, val) photos, the rest for test,
    a photo and its near-duplicate in one part (a part may get one more than wanted)."""
    groups: dict[str, list[Path]] = {}
    for photo in photos:
        groups.setdefault(_pair_key(photo), []).append(photo)
    keys = sorted(groups)
    rng.shuffle(keys)
    parts: dict[str, list[Path]] = {"train": [], "val": [], "test": []}
    for key in keys:
        if len(parts["train"]) < wanted[0]:
            parts["train"].extend(groups[key])
        elif len(parts["val"]) < wanted[1]:
            parts["val"].extend(groups[key])
        else:
            parts["test"].extend(groups[key])
    return parts


def synthetic_set(target: Path, ratio: int, seed: int) -> RareSet:
    """The Gaussian set for `ratio` and `seed` under `target`, its features stored."""
    from training.data.scanning import scan_dataset

    common = SYNTHETIC
    rare = {"train": common["train"] // ratio, "val": max(1, round(common["val"] / ratio)),
            "test": common["test"]}
    counts = {part: {"common_a": common[part], "common_b": common[part], "rare": rare[part]}
              for part in common}
    make_rare_feature_dataset(target, counts, seed=seed * 100 + ratio)
    store_rare_features(scan_dataset(target), seed=seed * 100 + ratio)
    return RareSet("synthetic", "neutral", ratio, seed, target, "rare")
