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
RESAMPLING_PATH = "crop-box-v1"
"""How `resize_and_crop` makes pixels, part of every key of stored pixels and of what is
computed from them (the feature store's spaces, the disk pixel cache), so pixels made another
way are never reused. "crop-box-v1": only the crop's box of the photo is resampled, which
gives the pixels of resizing the whole photo and then cropping to within 3 levels on the
shared photos (mean difference 0.002; up to 7 at a synthetic sharp edge) at 0.7 of the cost
(docs/benchmarks.md, issue 26)."""


def resize_and_crop(image: Image.Image, prep: Preprocessing) -> np.ndarray:
    """An RGB image → uint8 array (crop, crop, 3): short side to `resize`, centre crop.

    Only the part of the photo that the crop keeps is resampled (`RESAMPLING_PATH`): the
    box of the source that maps onto the crop of the resized photo, scaled straight to the
    crop's size. The filter still reads the source around the box, so the pixels are those
    of resizing everything first."""
    width, height = image.size
    scale = prep.resize / min(width, height)
    size = (max(prep.crop, round(width * scale)), max(prep.crop, round(height * scale)))
    left = (size[0] - prep.crop) // 2
    top = (size[1] - prep.crop) // 2
    x_scale, y_scale = size[0] / width, size[1] / height
    box = (left / x_scale, top / y_scale,
           (left + prep.crop) / x_scale, (top + prep.crop) / y_scale)
    cropped = image.resize((prep.crop, prep.crop), _RESAMPLING[prep.interpolation], box=box)
    return np.array(cropped, dtype=np.uint8)


def load_pixels(path: Path, prep: Preprocessing) -> np.ndarray:
    """Decode `path` and return the model's input as uint8 (crop, crop, 3)."""
    decoded = decode_image(path, draft_size=prep.resize)
    return resize_and_crop(decoded.image, prep)
