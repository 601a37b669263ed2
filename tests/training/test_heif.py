"""iPhone photos (HEIC/HEIF) and AVIF: read everywhere a photo is read, like a JPEG.

Decoding: upright whatever the container's rotation says, alpha on white, 10-bit to 8-bit,
a cut-off file or a misnamed one named with what to do, the pixel limit as for any format.
Then the whole way through, on HEIC files only: scan, quick training, `predict`, `explain`
(Grad-CAM) and the likely-mislabelled finder. The HEIC files are written here from
synthetic images (tests/heif_files.py).
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from heif_files import exif_orientation_entry, heic_10_bit, heic_bytes, write_heic
from PIL import Image
from synthetic import CLASS_COLOURS, textured_image

from training.cli import main
from training.data.images import ImageProblem, decode_image, is_supported

REPO = Path(__file__).resolve().parents[2]


def _marked() -> Image.Image:
    """Blue, with a red block in the top-left corner: shows which way up it came out."""
    image = Image.new("RGB", (120, 80), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 40, 30))
    return image


def _red_corners(image: Image.Image) -> list[bool]:
    """Which corners (top-left, top-right, bottom-left, bottom-right) are red."""
    width, height = image.size
    return [image.getpixel(xy)[0] > 128 for xy in
            ((4, 4), (width - 5, 4), (4, height - 5), (width - 5, height - 5))]


def _refused(path: Path, problem: str, data: bytes | None = None) -> ImageProblem:
    with pytest.raises(ImageProblem) as caught:
        decode_image(path, data)
    assert caught.value.problem == problem and path.name in str(caught.value)
    return caught.value


# --- decoding ----------------------------------------------------------------------------------


def test_heic_and_avif_are_listed_as_images() -> None:
    for name in ("IMG_0001.HEIC", "a.heic", "b.heif", "c.hif", "d.avif", "e.AVIF"):
        assert is_supported(Path(name)), name


def test_a_heic_decodes_to_its_pixels_without_notes(tmp_path: Path) -> None:
    source = textured_image(CLASS_COLOURS["red"], 1, size=96)
    path = write_heic(tmp_path / "IMG_0001.HEIC", source, quality=95)
    decoded = decode_image(path)
    assert decoded.image.mode == "RGB" and decoded.notes == ()
    assert decoded.image.size == decoded.original_size == (96, 96)
    def coarse(image: Image.Image) -> np.ndarray:  # the picture without the fine noise
        return np.asarray(image.resize((8, 8), Image.Resampling.BOX), float)

    assert np.abs(coarse(decoded.image) - coarse(source)).max() < 8, "lossy, but the same"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_rotated_heic_comes_out_upright_like_the_same_jpeg(tmp_path: Path,
                                                           orientation: int) -> None:
    data = heic_bytes(_marked(), orientation=orientation)
    assert exif_orientation_entry(orientation) in data, "EXIF says it too, as on an iPhone"
    exif = Image.Exif()
    exif[0x0112] = orientation
    jpeg = tmp_path / "same.jpg"
    _marked().save(jpeg, exif=exif, quality=95)
    heic = decode_image(tmp_path / "photo.heic", data)
    expected = decode_image(jpeg)
    assert heic.image.size == heic.original_size == expected.original_size
    assert _red_corners(heic.image) == _red_corners(expected.image), "turned once, not twice"
    assert not any("EXIF" in note for note in heic.notes)


def test_transparency_in_a_heic_is_shown_on_white(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (64, 64), (200, 40, 40, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 32, 64))  # left half fully transparent
    decoded = decode_image(tmp_path / "cut-out.heic", heic_bytes(rgba, quality=95))
    pixels = np.asarray(decoded.image).astype(int)
    assert decoded.image.mode == "RGB"
    assert decoded.notes == ("converted from RGBA (transparency shown on white) to RGB",)
    assert (pixels[:, :24] > 235).all(), "transparent part shown on white"
    assert pixels[:, 40:, 0].mean() > 170 and pixels[:, 40:, 2].mean() < 80


def test_a_10_bit_heic_becomes_8_bit_rgb(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 64, dtype=np.float64)
    pixels = np.stack([np.tile(ramp, (64, 1))] * 3, axis=-1)
    decoded = decode_image(tmp_path / "hdr.heic", heic_10_bit(pixels.astype(np.uint16)))
    got = np.asarray(decoded.image).astype(float)
    assert decoded.image.mode == "RGB" and decoded.image.size == (64, 64)
    assert np.abs(got - pixels / 257).mean() < 4, "the ramp, scaled to 0-255"


@pytest.mark.parametrize("keep", [20, 300, 0.5, -10])
def test_a_cut_off_heic_is_named_as_truncated(tmp_path: Path, keep: float) -> None:
    data = heic_bytes(textured_image(CLASS_COLOURS["blue"], 2, size=96))
    cut = data[:int(len(data) * keep) if isinstance(keep, float) else keep]
    path = tmp_path / "IMG_0002.HEIC"
    path.write_bytes(cut)
    error = _refused(path, "corrupt")
    assert "is truncated or corrupt" in str(error) and "Re-copy or re-download it" in str(error)


def test_a_cut_off_avif_is_named_as_truncated(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    textured_image(CLASS_COLOURS["blue"], 2, size=96).save(buffer, "AVIF")
    path = tmp_path / "cut.avif"
    path.write_bytes(buffer.getvalue()[:len(buffer.getvalue()) // 2])
    _refused(path, "corrupt")


def test_a_heic_named_jpg_and_a_jpeg_named_heic_are_read_and_noted(tmp_path: Path) -> None:
    source = textured_image(CLASS_COLOURS["green"], 3, size=96)
    disguised = write_heic(tmp_path / "really heic.jpg", source)
    jpeg = tmp_path / "really jpeg.heic"
    source.save(jpeg, "JPEG", quality=95)
    assert decode_image(disguised).notes == ("is a HEIF file named .jpg",)
    assert decode_image(jpeg).notes == ("is a JPEG file named .heic",)


def test_avif_is_read_and_turned_upright_like_a_jpeg(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "photo.avif"
    _marked().save(path, "AVIF", exif=exif, quality=95)
    decoded = decode_image(path)
    assert decoded.original_size == (80, 120)
    assert _red_corners(decoded.image) == [False, True, False, False]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # pytest resets it
def test_a_heic_over_the_pixel_limit_is_refused_like_any_image(tmp_path: Path,
                                                                monkeypatch) -> None:
    path = write_heic(tmp_path / "bomb.heic", textured_image((90, 90, 90), 4, size=96))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 96 * 96 - 1)  # just over: our own check
    error = _refused(path, "too_large")
    assert "96×96 pixels" in str(error)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 96 * 96 // 3)  # over 2x: Pillow's refusal
    _refused(path, "too_large")


def test_heic_support_loads_with_the_first_decode_on_any_thread(tmp_path: Path) -> None:
    """`import training` stays instant: pi-heif loads on the first decode, once, even when
    the gallery's thumbnail threads all start together."""
    photo = write_heic(tmp_path / "a.heic", textured_image((200, 40, 40), 5, size=64))
    probe = (
        "import sys, threading\n"
        "from pathlib import Path\n"
        "import training.data.images as images\n"
        "assert 'pi_heif' not in sys.modules\n"
        "barrier, sizes = threading.Barrier(8), []\n"
        "def decode():\n"
        "    barrier.wait()\n"
        f"    sizes.append(images.decode_image(Path({str(photo)!r})).image.size)\n"
        "threads = [threading.Thread(target=decode) for _ in range(8)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(sizes)\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=REPO, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str([(64, 64)] * 8)


# --- the whole way through, on HEIC files ------------------------------------------------------


@pytest.fixture(scope="module")
def heic_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """red/ and blue/, 8 HEIC photos each, some rotated, one AVIF each."""
    root = tmp_path_factory.mktemp("heic") / "colours"
    for class_index, name in enumerate(("red", "blue")):
        for i in range(8):
            image = textured_image(CLASS_COLOURS[name], class_index * 1000 + i, size=96)
            write_heic(root / name / f"IMG_{i:04}.HEIC", image, orientation=(1, 6, 3)[i % 3])
        textured_image(CLASS_COLOURS[name], class_index * 1000 + 99, size=96).save(
            root / name / "web.avif", "AVIF")
    return root


@pytest.mark.slow
def test_scan_train_predict_and_explain_heic_photos(heic_dataset: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(heic_dataset), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["classes"] == {"blue": 9, "red": 9} and report["can_train"]

    model = tmp_path / "heic.safetensors"
    assert main(["train", str(heic_dataset), "-o", str(model), "--epochs", "5",
                 "--image-size", "64", "--quiet"]) == 0
    capsys.readouterr()

    gallery = tmp_path / "iPhone"
    for i, name in enumerate(("red", "blue", "red")):
        write_heic(gallery / f"IMG_{100 + i:04}.HEIC",
                   textured_image(CLASS_COLOURS[name], 500 + i, size=96), orientation=6)
    table = tmp_path / "labels.csv"
    assert main(["predict", str(model), str(gallery), "--csv", str(table), "--quiet"]) == 0
    _, err = capsys.readouterr()
    assert "3 classified, 0 could not be read, 0 skipped" in err
    with table.open(newline="") as handle:
        labels = {Path(row["path"]).name: row["label"] for row in csv.DictReader(handle)}
    assert labels == {"IMG_0100.HEIC": "red", "IMG_0101.HEIC": "blue", "IMG_0102.HEIC": "red"}

    why = tmp_path / "why.png"
    assert main(["explain", str(model), str(gallery / "IMG_0101.HEIC"), "-o", str(why),
                 "--class", "blue"]) == 0
    assert "\tblue\t" in capsys.readouterr().out
    with Image.open(why) as picture:
        assert picture.mode == "RGB" and min(picture.size) >= 64


@pytest.mark.slow
def test_the_finder_ranks_a_misfiled_heic_first(heic_dataset: Path, tmp_path: Path) -> None:
    from training.data.scanning import scan_dataset
    from training.insight.suspects import find_suspects

    root = tmp_path / "colours"
    for name in ("red", "blue"):
        (root / name).mkdir(parents=True)
        for photo in (heic_dataset / name).iterdir():
            (root / name / photo.name).write_bytes(photo.read_bytes())
    write_heic(root / "red" / "IMG_9000.HEIC",
               textured_image(CLASS_COLOURS["blue"], 9000, size=96), orientation=6)
    report = find_suspects(scan_dataset(root))
    first = report.suspects[0]
    assert first.relpath == "red/IMG_9000.HEIC" and first.suggested == "blue"
