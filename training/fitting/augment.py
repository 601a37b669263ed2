"""Batch augmentation on cached uint8 pixels, drawn from the run's own seeded generator.

Working on the decoded-once uint8 cache (instead of re-decoding files each epoch) is what
makes fine-tuning on a CPU affordable; drawing every random choice from one generator keeps
a run repeatable from its seed.
"""

from __future__ import annotations

import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

from training.records.config import TrainConfig

FILL_GRAY = 128
"""Rotated corners and cut-outs are filled with mid-grey, which normalises to about zero."""


def augment_batch(pixels: torch.Tensor, config: TrainConfig, generator: torch.Generator
                  ) -> torch.Tensor:
    """Random flips, rotations and cut-outs of a uint8 NCHW batch, as the config asks."""
    batch = pixels.clone()
    count, _, height, width = batch.shape

    def chosen(probability: float) -> torch.Tensor:
        return torch.rand(count, generator=generator) < probability

    flips = chosen(config.flip_probability)
    if flips.any():
        batch[flips] = batch[flips].flip(-1)
    if config.rotate_degrees > 0:
        rotations = chosen(config.rotate_probability)
        angles = (torch.rand(count, generator=generator) * 2 - 1) * config.rotate_degrees
        for index in torch.nonzero(rotations).flatten().tolist():
            batch[index] = F.rotate(batch[index], float(angles[index]),
                                    interpolation=InterpolationMode.BILINEAR,
                                    fill=[FILL_GRAY] * 3)
    if config.cutout_size > 0:
        cutouts = chosen(config.cutout_probability)
        size = min(config.cutout_size, height, width)
        tops = torch.randint(0, height - size + 1, (count,), generator=generator)
        lefts = torch.randint(0, width - size + 1, (count,), generator=generator)
        for index in torch.nonzero(cutouts).flatten().tolist():
            top, left = int(tops[index]), int(lefts[index])
            batch[index, :, top:top + size, left:left + size] = FILL_GRAY
    return batch
