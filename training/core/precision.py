"""The frozen network's precision setting: float, 8-bit or "auto", for the whole process.

Torch-free (unlike `training.core.runtime`, which re-exports it), so a window's settings and
the bundle's self-test can read and set it on the GUI thread.
"""

from __future__ import annotations

import os

from training.core.errors import ConfigError

PRECISION_ENV = "CHEETAHLION_PRECISION"
"""How frozen passes compute features on the CPU: "float" (the default), "auto" (the 8-bit
graph where it classified as accurately as float and this machine measured it faster, float
elsewhere: `training.models.int8_features.auto_refusal`) or "int8" (8 bits wherever they
can run).

Float stays the default because no 8-bit graph was measured as accurate on everything
(docs/benchmarks.md, issue 26): with 7-bit weights (CPUs without VNNI) grey 48-px thumbnails
lost 1.7-2.3 points of kept-model accuracy; with full-range weights (VNNI) classification
kept its accuracy, but "none of these" told unknown look-alikes (leopards, for a
cheetah/lion model) from known photos less well: AUROC 0.845 against float's 0.868."""
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
