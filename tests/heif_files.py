"""Small HEIC files written by the tests themselves, from synthetic images.

The app reads HEIC with pi-heif, which cannot write it. The tests write it with pillow-heif,
the same project's full build, whose x265 encoder is GPL: a test dependency only, never
imported by the app and excluded from the bundle (packaging/cheetahlion.spec). Importing it
does not register it with Pillow, so every read in the tests still goes through the app's
own decoder.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image


def exif_orientation_entry(orientation: int) -> bytes:
    """EXIF's orientation field (tag 0x0112, SHORT, count 1) as `heic_bytes` writes it."""
    return b"\x01\x12\x00\x03\x00\x00\x00\x01\x00" + bytes([orientation])


def heic_bytes(image: Image.Image, *, orientation: int = 1, quality: int = 90) -> bytes:
    """`image` (RGB or RGBA) as a HEIC file, its pixels stored as given.

    `orientation` (EXIF's numbering, 1-8) is written both ways an iPhone writes it: as the
    container's rotation and mirroring (irot/imir), which a reader applies to show the photo
    upright, and as the EXIF orientation tag, which a reader must then ignore, or it would
    turn the photo twice.
    """
    heif = pillow_heif.HeifFile()
    added = heif.add_frombytes(image.mode, image.size, image.tobytes())
    exif = Image.Exif()
    exif[0x010F] = "CheetahLion tests"  # Make: keeps the EXIF block when orientation is 1
    exif[0x0112] = orientation
    added.info["exif"] = exif.tobytes()
    buffer = io.BytesIO()
    heif.save(buffer, quality=quality)
    return buffer.getvalue()


def write_heic(path: Path, image: Image.Image, **options: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(heic_bytes(image, **options))  # type: ignore[arg-type]
    return path


def heic_10_bit(pixels: np.ndarray) -> bytes:
    """A 10-bit HEIC (as iPhones save HDR photos) of uint16 RGB `pixels` (0-65535)."""
    height, width, _ = pixels.shape
    heif = pillow_heif.from_bytes(mode="RGB;16", size=(width, height),
                                  data=pixels.astype(np.uint16).tobytes())
    buffer = io.BytesIO()
    heif.save(buffer, quality=90)
    return buffer.getvalue()
