"""Blank and one-colour pictures (a web page's "image not found" placeholder saved in place
of the photo, an empty frame) are a health-report finding that names them.

The placeholders are drawn the way such pages draw them: a pale page, a thin frame or a
small grey picture, a line of text, saved as a palette GIF (the scan notes "converted from P
to RGB" and, before this finding, let them through). The 300 real photos raise no such
finding (tests/training/test_real_photos.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from training.data.health import ONE_COLOUR_SHARE, one_colour_share
from training.data.scanning import scan_dataset


def _placeholder(path: Path) -> Path:
    """A pale "This photo is no longer available" page with a small grey picture frame."""
    page = Image.new("RGB", (500, 374), (238, 238, 238))
    draw = ImageDraw.Draw(page)
    draw.rectangle((200, 110, 300, 185), outline=(150, 150, 150), width=4)
    draw.polygon([(210, 175), (240, 140), (265, 165), (280, 150), (292, 175)],
                 fill=(170, 170, 170))
    for row in (215, 232):
        draw.text((150, row), "This photo is no longer available", fill=(110, 110, 110))
    page.convert("P", palette=Image.Palette.ADAPTIVE).save(path)
    return path


def _not_found(path: Path) -> Path:
    """"Image not found" on white inside a thin frame, as a palette GIF."""
    page = Image.new("RGB", (320, 240), (255, 255, 255))
    draw = ImageDraw.Draw(page)
    draw.rectangle((20, 20, 300, 220), outline=(200, 200, 200), width=2)
    draw.text((120, 115), "Image not found", fill=(90, 90, 90))
    page.convert("P").save(path)
    return path


def _dark_frame(path: Path) -> Path:
    """A frame taken with the lens cap on: near-black with sensor noise, as JPEG."""
    noise = np.random.default_rng(0).normal(0, 4, (480, 640, 3))
    Image.fromarray(np.clip(20 + noise, 0, 255).astype(np.uint8)).save(path, quality=85)
    return path


def test_placeholders_and_blank_pictures_are_named_in_one_finding(tmp_path: Path,
                                                                  make_dataset) -> None:
    root = make_dataset(tmp_path / "data", {"ants": 4, "bees": 4})
    odd = [_placeholder(root / "ants" / "imageNotFound.gif"),
           _not_found(root / "bees" / "missing.gif"),
           _dark_frame(root / "bees" / "lens_cap.jpg")]
    Image.new("RGB", (640, 480), (255, 255, 255)).save(root / "ants" / "blank.png")
    odd.append(root / "ants" / "blank.png")

    dataset = scan_dataset(root)
    (finding,) = dataset.report.of_kind("one_colour")
    assert finding.severity == "warning" and set(finding.paths) == set(odd)
    assert finding.message.startswith(
        "4 photos are blank or nearly one colour (placeholders?) — look at them and remove "
        "them: ")
    for path in odd:
        assert path.relative_to(root).as_posix() in finding.message
    assert len(dataset.images) == 12, "reported, not dropped: the user decides"
    assert dataset.report.can_train


def test_one_placeholder_reads_in_the_singular(tmp_path: Path, make_dataset) -> None:
    root = make_dataset(tmp_path / "data", {"ants": 3, "bees": 3})
    _placeholder(root / "ants" / "imageNotFound.gif")
    (finding,) = scan_dataset(root).report.of_kind("one_colour")
    assert finding.message == ("1 photo is blank or nearly one colour (a placeholder?) — look "
                               "at it and remove it: ants/imageNotFound.gif.")


def test_textured_pictures_are_not_one_colour(make_image, tmp_path: Path) -> None:
    shares = [one_colour_share(Image.open(make_image(tmp_path / f"{seed}.png", seed=seed)))
              for seed in range(20)]
    assert max(shares) < ONE_COLOUR_SHARE
