"""uint8 pixels → the float tensors a network takes (the torch half of `preprocessing`)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from training.records.preprocessing import Preprocessing


def to_uint8_batch(arrays: list[np.ndarray]) -> torch.Tensor:
    """Stack HWC uint8 arrays into an NCHW uint8 tensor."""
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def normalize(batch: torch.Tensor, prep: Preprocessing) -> torch.Tensor:
    """uint8 NCHW → float32 NCHW, normalised with the backbone's mean and std."""
    mean = torch.tensor(prep.mean, device=batch.device).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(prep.std, device=batch.device).view(1, 3, 1, 1) * 255.0
    return (batch.float() - mean) / std


class PixelNormalisation(nn.Module):
    """`normalize` as a module, for graphs that take uint8 NCHW pixels (exports, and the
    feature graph onnxruntime runs): the mean and std travel inside the graph."""

    def __init__(self, prep: Preprocessing) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(prep.mean).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(prep.std).view(1, 3, 1, 1) * 255.0)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return (pixels.float() - self.mean) / self.std
