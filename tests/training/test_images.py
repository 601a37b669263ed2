"""Opening one image: every mode to 8-bit RGB, and every bad file refused with a clear message."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from training.core.errors import CheetahLionError, ImageError
from training.data.health import NEAR_DUPLICATE_MAX_BITS
from training.data.images import (
    MIN_SIDE,
    ImageProblem,
    content_hash,
    decode_image,
    hamming_distance,
    is_supported,
    perceptual_hash,
    read_bytes,
)


def rgb(path: Path, **options: object) -> np.ndarray:
    decoded = decode_image(path, **options)
    assert decoded.image.mode == "RGB"
    return np.asarray(decoded.image)


def refused(path: Path, problem: str, **options: object) -> ImageProblem:
    """Decode `path`, expecting the `problem` code and a message naming the file."""
    with pytest.raises(ImageProblem) as caught:
        decode_image(path, **options)
    error = caught.value
    assert error.problem == problem
    assert error.path == path
    assert path.name in str(error)
    return error


# --- usable images -----------------------------------------------------------------------------


def test_plain_rgb_jpeg_decodes_without_notes(tmp_path, make_image):
    path = make_image(tmp_path / "cheetah.jpg", (120, 80), quality=95)
    decoded = decode_image(path)
    assert decoded.image.mode == "RGB"
    assert decoded.image.size == decoded.original_size == (120, 80)
    assert decoded.notes == ()


def test_given_bytes_are_decoded_without_reading_the_file(tmp_path, make_image):
    path = make_image(tmp_path / "lion.png")
    data = path.read_bytes()
    path.unlink()
    assert decode_image(path, data).image.size == (96, 96)


def test_png_named_jpg_is_used_with_a_note(tmp_path, make_image):
    path = make_image(tmp_path / "actually png.jpg", fmt="PNG")
    decoded = decode_image(path)
    assert decoded.image.size == (96, 96)
    assert decoded.notes == ("is a PNG file named .jpg",)


def test_cmyk_jpeg_becomes_rgb_with_the_same_colours(tmp_path, make_image, make_texture):
    path = make_image(tmp_path / "cmyk.jpg", mode="CMYK", seed=3, quality=95)
    assert Image.open(path).mode == "CMYK"
    decoded = decode_image(path)
    assert decoded.image.mode == "RGB"
    assert any("CMYK" in note for note in decoded.notes)
    original = np.asarray(make_texture(3), dtype=np.float64)
    assert np.abs(np.asarray(decoded.image, dtype=np.float64) - original).mean() < 6


def test_16_bit_png_is_scaled_to_8_bits_not_clipped(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 64).round().astype(np.uint16), (48, 1))
    path = tmp_path / "depth16.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I;16")
    decoded = decode_image(path)
    pixels = np.asarray(decoded.image).astype(int)
    assert any("I;16" in note for note in decoded.notes)
    assert pixels.shape == (48, 64, 3)
    assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
    row = pixels[0, :, 0]
    assert row[0] == 0 and row[-1] == 255
    assert np.all(np.diff(row) >= 0), "the ramp must stay a ramp"
    assert abs(row[32] - round(ramp[0, 32] / 257)) <= 1, "mid-grey must stay mid-grey"
    assert (row == 255).sum() <= 2, "values must be scaled, not clipped white"


def test_dark_16_bit_png_stays_dark(tmp_path):
    # 250/65535 is 0.4 % grey. A 16-bit file says so in its mode: its values must not be taken
    # for 8-bit ones (which would show it almost white) just because all of them are small.
    path = tmp_path / "night16.png"
    Image.fromarray(np.full((40, 40), 250, dtype=np.uint16)).save(path)
    assert np.asarray(decode_image(path).image).max() <= 1


def test_palette_png_with_transparency_shows_transparent_pixels_on_white(tmp_path, make_texture):
    palette = make_texture(5).quantize(colors=16)
    path = tmp_path / "palette.png"
    palette.save(path, transparency=0)
    transparent = np.asarray(palette) == 0
    assert transparent.any() and not transparent.all()
    decoded = decode_image(path)
    pixels = np.asarray(decoded.image)
    assert (pixels[transparent] == 255).all()
    assert any("transparency" in note for note in decoded.notes)


def test_rgba_is_composited_on_white(tmp_path, make_texture):
    image = make_texture(6).convert("RGBA")
    alpha = np.full((96, 96), 255, dtype=np.uint8)
    alpha[:, :48] = 0
    image.putalpha(Image.fromarray(alpha, "L"))
    path = tmp_path / "cutout.png"
    image.save(path)
    decoded = decode_image(path)
    pixels = np.asarray(decoded.image)
    assert (pixels[:, :48] == 255).all()
    assert (pixels[:, 48:] == np.asarray(make_texture(6))[:, 48:]).all()
    assert any("RGBA" in note for note in decoded.notes)


def test_grayscale_becomes_three_equal_channels(tmp_path, make_image):
    path = make_image(tmp_path / "gray.png", mode="L")
    decoded = decode_image(path)
    pixels = np.asarray(decoded.image)
    assert pixels.shape == (96, 96, 3)
    assert (pixels[..., 0] == pixels[..., 2]).all()
    assert (pixels[..., 0] == np.asarray(Image.open(path))).all()
    assert decoded.notes == ("converted from L to RGB",)


def test_exif_orientation_6_is_applied(tmp_path):
    # Stored landscape with a red block top-left; orientation 6 means "rotate 90° clockwise to
    # display", which puts that block top-right of a portrait picture.
    stored = np.zeros((80, 120, 3), dtype=np.uint8)
    stored[:20, :20] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone photo.jpg"
    Image.fromarray(stored, "RGB").save(path, exif=exif, quality=95)
    decoded = decode_image(path)
    assert decoded.original_size == (80, 120), "the size as shown, after rotation"
    assert decoded.image.size == (80, 120)
    assert decoded.notes == ("EXIF orientation 6 applied",)
    pixels = np.asarray(decoded.image).astype(int)
    assert pixels[5, 75, 0] > 200 and pixels[5, 75, 1] < 60, "red block must be top-right"
    assert pixels[5, 5].max() < 60 and pixels[115, 5].max() < 60


def test_animated_gif_uses_the_first_frame(tmp_path, make_texture):
    frames = [make_texture(seed, (64, 64)) for seed in (10, 11, 12)]
    path = tmp_path / "running.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    decoded = decode_image(path)
    assert any("animated (3 frames)" in note for note in decoded.notes)
    with Image.open(path) as gif:
        first = np.asarray(gif.convert("RGB"))
        gif.seek(1)
        second = np.asarray(gif.convert("RGB"))
    pixels = np.asarray(decoded.image)
    assert (pixels == first).all()
    assert not (pixels == second).all()


def test_draft_size_reduces_large_jpegs_but_reports_the_real_size(tmp_path, make_image):
    path = make_image(tmp_path / "big.jpg", (800, 600))
    decoded = decode_image(path, draft_size=64)
    assert decoded.original_size == (800, 600)
    assert 64 <= min(decoded.image.size) < 600
    assert decode_image(path).image.size == (800, 600)


def test_smallest_allowed_size_is_accepted(tmp_path, make_image):
    path = make_image(tmp_path / "small.png", (MIN_SIDE, MIN_SIDE))
    assert decode_image(path).image.size == (MIN_SIDE, MIN_SIDE)


# --- refused images ----------------------------------------------------------------------------


def test_truncated_jpeg_is_corrupt(tmp_path, make_image):
    path = make_image(tmp_path / "half.jpg", (120, 80), quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    error = refused(path, "corrupt")
    assert "truncated or corrupt" in str(error)
    assert "Re-copy" in str(error)
    refused(path, "corrupt", draft_size=64)  # the scan's reduced decode must notice too


def test_jpeg_cut_inside_its_header_is_corrupt(tmp_path, make_image):
    path = make_image(tmp_path / "stub.jpg")
    path.write_bytes(path.read_bytes()[:200])
    refused(path, "corrupt")


def test_zero_byte_file_is_empty(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageProblem) as caught:
        read_bytes(path)
    assert caught.value.problem == "empty"
    assert "empty.jpg" in str(caught.value) and "Delete it" in str(caught.value)
    refused(path, "empty")


def test_text_file_named_jpg_is_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a photo\n")
    error = refused(path, "not_image")
    assert "save it as JPEG or PNG" in str(error)


def test_one_pixel_image_is_too_small(tmp_path):
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (10, 20, 30)).save(path)
    error = refused(path, "too_small")
    assert "1×1" in str(error) and f"at least {MIN_SIDE} pixels" in str(error)


def test_thin_image_is_too_small(tmp_path, make_image):
    refused(make_image(tmp_path / "strip.png", (400, MIN_SIDE - 1)), "too_small")


# Pillow warns between 1x and 2x its limit. The engine silences that warning at import (it
# refuses such images itself), but pytest restores the warning filters after collection.
ignore_bomb_warning = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")


@ignore_bomb_warning
@pytest.mark.parametrize("side", [12_000, 50_000], ids=["over-limit", "over-twice-limit"])
def test_decompression_bomb_is_refused_from_its_header(tmp_path, make_png_header, side):
    # 12000² is between Pillow's warning and error thresholds, 50000² far above both. The
    # file holds no pixel data, so any attempt to decode it would end as "corrupt" instead.
    assert side * side > Image.MAX_IMAGE_PIXELS
    path = make_png_header(tmp_path / "bomb.png", side, side)
    error = refused(path, "too_large")
    assert "decompression bomb" in str(error)
    assert "shrink it" in str(error)


@ignore_bomb_warning
def test_image_limit_is_checked_before_any_pixel_is_decoded(tmp_path, make_image, monkeypatch):
    path = make_image(tmp_path / "ordinary.png", (100, 100))
    loads = []
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5_000)
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self))
    error = refused(path, "too_large")
    assert "(100×100 pixels)" in str(error)
    assert loads == []


def test_missing_file_and_folder_are_unreadable(tmp_path):
    missing = tmp_path / "gone.jpg"
    with pytest.raises(ImageProblem) as caught:
        read_bytes(missing)
    assert caught.value.problem == "unreadable" and "gone.jpg" in str(caught.value)
    folder = tmp_path / "folder.jpg"
    folder.mkdir()
    with pytest.raises(ImageProblem) as caught:
        read_bytes(folder)
    assert caught.value.problem == "unreadable" and "is a folder" in str(caught.value)


def test_self_referencing_symlink_is_unreadable(tmp_path):
    link = tmp_path / "loop.jpg"
    os.symlink("loop.jpg", link)
    refused(link, "unreadable")


def test_unicode_and_spaces_in_names_are_kept_in_messages(tmp_path, make_image):
    good = make_image(tmp_path / "guépard 猫" / "photo été 1.png")
    assert decode_image(good).image.size == (96, 96)
    bad = make_image(tmp_path / "guépard 猫" / "cassé ü 2.jpg")
    bad.write_bytes(bad.read_bytes()[:300])
    error = refused(bad, "corrupt")
    assert "guépard 猫" in str(error)


def test_image_problem_is_a_user_facing_error(tmp_path):
    problem = ImageProblem(tmp_path / "x.jpg", "corrupt", "is broken", "Delete it.")
    assert isinstance(problem, ImageError) and isinstance(problem, CheetahLionError)
    assert str(problem) == f"{tmp_path / 'x.jpg'}: is broken. Delete it."
    assert (problem.problem, problem.reason, problem.path) == (
        "corrupt", "is broken", tmp_path / "x.jpg"
    )


def test_supported_extensions_ignore_case():
    assert is_supported(Path("a.JPG")) and is_supported(Path("b.Png"))
    assert is_supported(Path("c.webp")) and is_supported(Path("d.tiff"))
    assert not is_supported(Path("e.txt")) and not is_supported(Path("jpg"))


# --- hashes ------------------------------------------------------------------------------------


def test_content_hash_identifies_bytes():
    assert content_hash(b"abc") == content_hash(b"abc")
    assert content_hash(b"abc") != content_hash(b"abd")


def test_perceptual_hash_is_a_stable_64_bit_value(make_texture):
    image = make_texture(1)
    value = perceptual_hash(image)
    assert 0 <= value < 2**64
    assert perceptual_hash(make_texture(1)) == value
    assert perceptual_hash(image.convert("L")) == value


def test_reencoded_smaller_copy_has_a_near_hash(make_texture):
    original = make_texture(2, (128, 128))
    buffer = io.BytesIO()
    original.resize((90, 90), Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=30)
    copy = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    assert hamming_distance(perceptual_hash(original), perceptual_hash(copy)) <= 4


def test_distinct_images_have_distant_hashes(make_texture):
    hashes = [perceptual_hash(make_texture(seed)) for seed in range(40)]
    for i, a in enumerate(hashes):
        for b in hashes[i + 1:]:
            assert hamming_distance(a, b) > NEAR_DUPLICATE_MAX_BITS


def test_hamming_distance_counts_differing_bits():
    assert hamming_distance(0b1011, 0b1011) == 0
    assert hamming_distance(0, 2**64 - 1) == 64
    assert hamming_distance(0b1100, 0b0101) == 2


# --- photos above Pillow's limit: large JPEGs decode reduced, bombs stay refused --------------

PHONE_SIZE = (12_000, 9_000)
"""A 108-megapixel phone photo: above Pillow's limit (about 89.5 million pixels)."""


@pytest.fixture(scope="module")
def phone_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 12000×9000 colour JPEG (4:2:0, as phones write). Flat with a few bars, so it
    encodes in a fraction of a second to about 2 MB; the 324 MB source is freed at once."""
    path = tmp_path_factory.mktemp("phone") / "phone.jpg"
    image = Image.new("RGB", PHONE_SIZE, (190, 150, 90))
    for left in range(0, PHONE_SIZE[0], 1500):
        image.paste((40, 40, 40), (left, 0, left + 300, PHONE_SIZE[1]))
    image.save(path, quality=10)
    return path


def _sof_patched(path: Path, width: int, height: int, **save: object) -> Path:
    """A small JPEG whose frame header (SOF0/SOF2) claims `width`×`height` pixels: any
    attempt to decode it would end in 'corrupt', so 'too_large' proves it was refused first."""
    Image.new("RGB", (64, 64), (10, 200, 30)).save(path, quality=50, **save)
    data = bytearray(path.read_bytes())
    sof = max(data.find(b"\xff\xc0"), data.find(b"\xff\xc2"))
    data[sof + 5:sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    path.write_bytes(bytes(data))
    return path


@ignore_bomb_warning
def test_a_108_megapixel_jpeg_decodes_reduced_with_its_true_size(phone_jpeg):
    assert PHONE_SIZE[0] * PHONE_SIZE[1] > Image.MAX_IMAGE_PIXELS
    decoded = decode_image(phone_jpeg)
    assert decoded.original_size == PHONE_SIZE
    assert decoded.image.size == (6_000, 4_500)  # halved by the decoder, not resized after
    assert decoded.image.width * decoded.image.height <= Image.MAX_IMAGE_PIXELS
    assert decoded.image.mode == "RGB" and decoded.notes == ()
    assert decode_image(phone_jpeg, draft_size=64).image.size == (1_500, 1_125)


@ignore_bomb_warning
def test_a_108_megapixel_jpeg_is_scanned_and_becomes_model_input(phone_jpeg, tmp_path,
                                                                  make_dataset):
    from training.data.preprocessing import load_pixels
    from training.data.scanning import scan_dataset
    from training.records.preprocessing import Preprocessing

    root = make_dataset(tmp_path / "data", {"cheetah": 2, "lion": 2})
    (root / "lion" / "phone.jpg").symlink_to(phone_jpeg)
    dataset = scan_dataset(root)
    assert not dataset.report.of_kind("too_large")
    (record,) = [r for r in dataset.images if r.path.name == "phone.jpg"]
    assert (record.width, record.height) == PHONE_SIZE
    prep = Preprocessing(resize=256, crop=224, mean=(0.5,) * 3, std=(0.5,) * 3)
    pixels = load_pixels(phone_jpeg, prep)
    assert pixels.shape == (224, 224, 3) and pixels.dtype == np.uint8


@ignore_bomb_warning
@pytest.mark.parametrize("size", [(40_000, 40_000), (20_000, 18_000)], ids=["1600MP", "360MP"])
def test_a_jpeg_bomb_is_still_refused_from_its_header(tmp_path, monkeypatch, size):
    path = _sof_patched(tmp_path / "bomb.jpg", *size)
    loads = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self))
    error = refused(path, "too_large")
    assert f"({size[0]}×{size[1]} pixels)" in str(error) and "shrink it" in str(error)
    assert loads == []


@ignore_bomb_warning
def test_a_4_4_4_jpeg_is_allowed_half_as_many_pixels(tmp_path, monkeypatch):
    # Without chroma subsampling the decoder holds twice the coefficients per pixel.
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: None)
    big = (16_000, 12_000)  # 192 MP: allowed at 4:2:0, refused at 4:4:4
    assert decode_image(_sof_patched(tmp_path / "420.jpg", *big)).original_size == big
    refused(_sof_patched(tmp_path / "444.jpg", *big, subsampling=0), "too_large")
    refused(_sof_patched(tmp_path / "prog444.jpg", *big, subsampling=0, progressive=True),
            "too_large")


@ignore_bomb_warning
def test_a_png_of_phone_photo_size_is_still_refused(tmp_path, make_png_header):
    error = refused(make_png_header(tmp_path / "big.png", *PHONE_SIZE), "too_large")
    assert "(12000×9000 pixels)" in str(error)
