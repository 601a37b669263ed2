"""The resampling path: only the crop's box is resampled, giving the pixels of resizing the
whole photo and cropping, and every cache of pixels or features names the path, so pixels
made another way are never reused."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from training.data import disk_cache, preprocessing
from training.data.preprocessing import resize_and_crop
from training.models import embedding
from training.records.preprocessing import Preprocessing

LITE0 = Preprocessing(resize=256, crop=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def _resize_all_then_crop(image: Image.Image, prep: Preprocessing) -> np.ndarray:
    """The textbook recipe the exported model documents: resize, then centre-crop."""
    width, height = image.size
    scale = prep.resize / min(width, height)
    size = (max(prep.crop, round(width * scale)), max(prep.crop, round(height * scale)))
    method = {"bicubic": Image.Resampling.BICUBIC,
              "bilinear": Image.Resampling.BILINEAR}[prep.interpolation]
    resized = image.resize(size, method)
    left, top = (size[0] - prep.crop) // 2, (size[1] - prep.crop) // 2
    return np.array(resized.crop((left, top, left + prep.crop, top + prep.crop)))


def _photo_like(size: tuple[int, int], seed: int) -> Image.Image:
    """Smooth gradients with noise and a sharp edge: what the filters must agree on."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size[1], 0:size[0]]
    base = np.stack([x * 255 / max(1, size[0]), y * 255 / max(1, size[1]),
                     (x + y) % 97 * 2.5], axis=-1)
    base[size[1] // 3:, size[0] // 2:] = 240
    noisy = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(noisy, "RGB")


@pytest.mark.parametrize("size", [(640, 480), (480, 640), (410, 615), (300, 200),
                                  (224, 224), (1000, 120), (90, 60), (3, 700)])
@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
def test_the_crop_box_gives_the_pixels_of_resizing_all(size, interpolation) -> None:
    prep = Preprocessing(LITE0.resize, LITE0.crop, LITE0.mean, LITE0.std, interpolation)
    image = _photo_like(size, seed=sum(size))
    ours = resize_and_crop(image, prep).astype(int)
    textbook = _resize_all_then_crop(image, prep).astype(int)
    assert ours.shape == (224, 224, 3)
    difference = np.abs(ours - textbook)  # rounding: a few levels, at sharp edges up to 7
    assert difference.max() <= 8 and difference.mean() < 0.3, (difference.max(),
                                                               difference.mean())


def test_stored_pixels_and_features_name_the_resampling_path(monkeypatch) -> None:
    """Another path is another key: the feature store's space and the disk pixel cache."""
    frozen = SimpleNamespace(prep=LITE0, digest="weights")
    space = embedding.space_key(frozen, "centre")
    pixels = disk_cache.cache_key([], LITE0, "fingerprint")
    monkeypatch.setattr(embedding, "RESAMPLING_PATH", "another-path")
    monkeypatch.setattr(disk_cache, "RESAMPLING_PATH", "another-path")
    assert embedding.space_key(frozen, "centre") != space
    assert disk_cache.cache_key([], LITE0, "fingerprint") != pixels
    assert preprocessing.RESAMPLING_PATH == "crop-box-v1"
