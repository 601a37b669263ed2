"""The hard set for the partial fine-tune (issue 25): every shared photo, as hard copies.

Quick mode is at its ceiling on the shared photos (0.99+) and on few-shot subsets, and the
80 grey crops of `grey 48 px, crops` give the last block too little to learn from. Here each
kept photo of the shared folder (cheetah, lion and leopard as judged by eye,
`_multilabel_sets.kinds_of`: 293 photos) becomes `labelling_order.VARIANTS` (3) hard copies
(`labelling_order.hard_copies`: grey, a different heavy crop of 40–70 % of the shorter side
each, shrunk to 48 px and blown up again), and the photos are cut per kind into train
(two thirds), validation and test (a sixth each) with near-duplicates in one part (the
verdicts' pairs, as `_multilabel_sets.pools` keeps them): about 585 training images, 150
validation, 150 test. Classes get neutral names (no ImageNet start); leopard, the rare
class, is the one grey crops confuse with cheetah.
"""

from __future__ import annotations

import random
from pathlib import Path

import _multilabel_sets as sets
from labelling_order import hard_copies

PARTS = (("test", 1 / 6), ("val", 1 / 6), ("train", 1.0))
"""Each part's share of a kind's photos, filled in this order (train takes the rest)."""


def hard_folder(data: Path, seed: int, target: Path) -> Path:
    """`target` filled with train/val/test/group_N hard copies of the shared photos."""
    rng = random.Random(f"hard-set/{seed}")
    for number, (_, photos) in enumerate(sorted(sets.kinds_of(data).items()), start=1):
        groups: dict[str, list[Path]] = {}
        for photo in photos:
            groups.setdefault(sets._pair_key(photo), []).append(photo)
        keys = sorted(groups)
        rng.shuffle(keys)
        filled = {part: [] for part, _ in PARTS}
        for key in keys:
            part = next(name for name, share in PARTS
                        if len(filled[name]) < round(len(photos) * share))
            filled[part].extend(groups[key])
        for part, chosen in filled.items():
            hard_copies(chosen, target / part / f"group_{number}", seed * 100 + number)
    return target
