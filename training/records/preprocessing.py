"""The recipe that turns a photo into a network's input, as a model file stores it.

Plain data, so the model header and the network catalogue can name it without the imaging
libraries; `training.data.preprocessing` applies it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

INTERPOLATIONS = ("bicubic", "bilinear")
"""The resampling filters a model file may name."""


@dataclass(frozen=True)
class Preprocessing:
    """Resize the short side to `resize`, centre-crop `crop`×`crop`, normalise."""

    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def with_crop(self, crop: int) -> Preprocessing:
        """The same recipe at another input size, keeping the resize/crop ratio."""
        return Preprocessing(
            resize=round(crop * self.resize / self.crop), crop=crop, mean=self.mean,
            std=self.std, interpolation=self.interpolation,
        )
