"""Where computations run and how they are made repeatable."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from training.core.errors import ConfigError


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


PRECISION_ENV = "CHEETAHLION_PRECISION"
"""How frozen passes compute features on the CPU: "float" (default), "auto" (the 8-bit graph
where this machine measured it faster and it agreed with the float graph) or "int8".

Float stays the default because 8-bit was measured not to be as accurate everywhere
(docs/benchmarks.md, "8-bit frozen graph"): grey 48-px thumbnails lost 2.1 points of
kept-model accuracy, and a head trained on float features lost 8.1 points classifying them
from 8-bit ones, which the agreement check on synthetic images does not catch."""
PRECISIONS = ("auto", "float", "int8")


def frozen_precision() -> str:
    """The chosen precision (`PRECISION_ENV`, "float" when unset)."""
    value = os.environ.get(PRECISION_ENV, "").strip().lower() or "float"
    if value not in PRECISIONS:
        raise ConfigError(f"{PRECISION_ENV}={value!r} is not one of {', '.join(PRECISIONS)}. "
                          "Set it to one of those or unset it.")
    return value


def set_frozen_precision(value: str) -> None:
    """Choose the precision for every frozen pass of this process (a CLI's --precision)."""
    if value not in PRECISIONS:
        raise ConfigError(f"Precision {value!r} is not one of {', '.join(PRECISIONS)}.")
    os.environ[PRECISION_ENV] = value
