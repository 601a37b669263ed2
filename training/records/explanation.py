"""A Grad-CAM explanation of one photo, as plain data: `Explanation`.

Made by `training.insight.explain`; its arrays are numpy's (read-only), so a front end
paints it without torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True, eq=False)
class Explanation:
    """One class's heatmap over the crop the model saw. The arrays are read-only (shared)."""

    path: Path
    image: np.ndarray
    """uint8 (H, W, 3): the resized centre crop the model classified."""
    heatmap: np.ndarray
    """float32 (H, W) in [0, 1], aligned with `image`; all zero when nothing supports it."""
    class_index: int
    class_name: str
    probability: float
    """The model's probability for the explained class."""
    probabilities: tuple[float, ...]
    """Every class's probability, in `classes` order."""
    classes: tuple[str, ...]

    @property
    def predicted_index(self) -> int:
        return max(range(len(self.probabilities)), key=self.probabilities.__getitem__)

    @property
    def predicted(self) -> str:
        return self.classes[self.predicted_index]
