"""Write resources/self-test/red-iphone.heic, the iPhone-style photo the self-test classifies.

Why a file: the app reads HEIC with pi-heif, which cannot write it, so the self-test cannot
make one at run time as it makes its PNGs. This one is a synthetic image (red noise with a
bright square, like the self-test's own), stored sideways with "rotate 90°" in its container
and EXIF as an iPhone does. Written with pillow-heif, a test dependency:
    .venv/bin/python tools/make_self_test_heic.py
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image

TARGET = Path(__file__).resolve().parents[1] / "resources" / "self-test" / "red-iphone.heic"
RED = (200, 40, 40)
SIZE = (96, 64)


def main() -> None:
    rng = np.random.default_rng(2024)
    pixels = np.clip(np.array(RED, float) + rng.normal(0, 35, (SIZE[1], SIZE[0], 3)), 0, 255)
    pixels[8:30, 10:40] = (235, 220, 160)
    heif = pillow_heif.HeifFile()
    added = heif.add_frombytes("RGB", SIZE, pixels.astype(np.uint8).tobytes())
    exif = Image.Exif()
    exif[0x0112] = 6  # shown portrait: the container gets irot, EXIF keeps the tag
    added.info["exif"] = exif.tobytes()
    buffer = io.BytesIO()
    heif.save(buffer, quality=60)
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_bytes(buffer.getvalue())
    print(f"{TARGET}: {len(buffer.getvalue())} bytes")


if __name__ == "__main__":
    main()
