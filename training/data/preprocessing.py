"""Turning a photo into the tensor a model sees, identically in training and prediction.

`Preprocessing` is stored in every model file; `load_pixels` is the single function that
turns a file into the uint8 pixels of the model's input, and `normalize` the single function
that turns those into floats. Training caches `load_pixels` results (each image decoded once
per run) and the `Predictor` calls the very same functions, so a model predicts in the app
exactly what it predicted while training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from training.data.images import decode_image
from training.records.preprocessing import INTERPOLATIONS, Preprocessing

_RESAMPLING = dict(zip(INTERPOLATIONS, (Image.Resampling.BICUBIC, Image.Resampling.BILINEAR),
                       strict=True))


def resize_and_crop(image: Image.Image, prep: Preprocessing) -> np.ndarray:
    """An RGB image → uint8 array (crop, crop, 3): short side to `resize`, centre crop."""
    width, height = image.size
    scale = prep.resize / min(width, height)
    size = (max(prep.crop, round(width * scale)), max(prep.crop, round(height * scale)))
    resized = image.resize(size, _RESAMPLING[prep.interpolation])
    left = (size[0] - prep.crop) // 2
    top = (size[1] - prep.crop) // 2
    cropped = resized.crop((left, top, left + prep.crop, top + prep.crop))
    return np.array(cropped, dtype=np.uint8)


def load_pixels(path: Path, prep: Preprocessing) -> np.ndarray:
    """Decode `path` and return the model's input as uint8 (crop, crop, 3)."""
    decoded = decode_image(path, draft_size=prep.resize)
    return resize_and_crop(decoded.image, prep)
