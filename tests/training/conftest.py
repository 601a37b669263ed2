"""Builders for the synthetic images and dataset folders the data tests scan.

Every image is a seeded smooth colour texture (a coarse random grid upscaled, plus a little
fine noise), so distinct seeds give photos whose perceptual hashes are far apart (at least 12
bits for seeds 0-299) while a re-encoded copy of one stays within a few bits of it. Everything
is written under pytest's tmp_path.
"""

from __future__ import annotations

import os
import struct
import subprocess
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

Size = tuple[int, int]


def texture(seed: int, size: Size = (96, 96)) -> Image.Image:
    """A distinct, textured RGB image for each seed."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    smooth = Image.fromarray(coarse, "RGB").resize(size, Image.Resampling.BICUBIC)
    fine = rng.normal(0, 12, (size[1], size[0], 3))
    pixels = np.clip(np.asarray(smooth, dtype=np.float64) + fine, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def write_image(path: Path, size: Size = (96, 96), mode: str = "RGB", fmt: str | None = None,
                seed: int = 0, **save_options: object) -> Path:
    """Save texture(`seed`) converted to `mode` at `path` (format from `fmt` or the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = texture(seed, size)
    if mode != "RGB":
        image = image.convert(mode)
    image.save(path, format=fmt, **save_options)
    return path


def write_png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that declares `width`×`height` pixels but holds no pixel data at all.

    Opening it reads only the header; decoding it would fail as corrupt. So a "too large"
    verdict proves the size was refused from the header, before any decoding.
    """

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data)))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    return path


def build_dataset(root: Path, classes: dict[str, int] | None = None, *, first_seed: int = 0,
                  size: Size = (64, 64), suffix: str = ".png") -> Path:
    """root/<class>/<class>_<i><suffix>, each image a distinct texture; returns root."""
    classes = {"cheetah": 3, "lion": 3} if classes is None else classes
    seed = first_seed
    for name, count in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            write_image(root / name / f"{name}_{index}{suffix}", size, seed=seed)
            seed += 1
    return root


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry under `root` (links not followed) with its mode, size and mtime."""
    listing = {}
    for current, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(current, name)
            info = path.lstat()
            listing[path.relative_to(root).as_posix()] = (
                info.st_mode, info.st_size, info.st_mtime_ns
            )
    info = root.lstat()
    listing["."] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return listing


@pytest.fixture
def make_image() -> Callable[..., Path]:
    return write_image


@pytest.fixture
def make_png_header() -> Callable[[Path, int, int], Path]:
    return write_png_header


@pytest.fixture
def make_texture() -> Callable[..., Image.Image]:
    return texture


@pytest.fixture
def make_dataset() -> Callable[..., Path]:
    return build_dataset


@pytest.fixture
def take_snapshot() -> Callable[[Path], dict[str, tuple[int, int, int]]]:
    return snapshot


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str, str], Path]]:
    """`small_disk(name, size)` mounts a tmpfs of `size` (e.g. "32m") at tmp_path/name: a real
    disk that fills, for the full-disk tests (root only; skipped elsewhere)."""
    mounted: list[Path] = []

    def mount(name: str, size: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                               str(point)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip()}); the full-"
                        "disk tests need root")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)
