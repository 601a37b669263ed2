"""Where computations run and how they are made repeatable."""

from __future__ import annotations

import random

import numpy as np
import torch

from training.core.errors import ConfigError
from training.core.precision import PRECISION_ENV as PRECISION_ENV
from training.core.precision import PRECISIONS as PRECISIONS
from training.core.precision import frozen_precision as frozen_precision
from training.core.precision import set_frozen_precision as set_frozen_precision


def resolve_device(requested: str = "auto") -> torch.device:
    """CUDA if present, then Apple's MPS, then the CPU; or exactly what was asked for."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ConfigError("Device 'cuda' was asked for, but no CUDA GPU is available. Use 'auto'.")
    if requested == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ConfigError("Device 'mps' was asked for, but it is not available. Use 'auto'.")
    return torch.device(requested)


def describe_device(device: torch.device) -> str:
    """A short human label, e.g. "CPU (2 threads)" or "CUDA: NVIDIA H200"."""
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator for the run's own draws."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
