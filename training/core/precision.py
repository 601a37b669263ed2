"""The frozen network's precision setting: float, 8-bit or "auto", for the whole process.

Torch-free (unlike `training.core.runtime`, which re-exports it), so a window's settings and
the bundle's self-test can read and set it on the GUI thread.
"""

from __future__ import annotations

import os

from training.core.errors import ConfigError

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
