"""The one way CheetahLion opens an image.

Scanning, training, evaluation, prediction, the app's thumbnails, the finder and Grad-CAM
all decode through `decode_image`, so a photo is turned into pixels the same way everywhere:
EXIF orientation applied (for HEIC/HEIF the container's rotation and mirroring), first frame
of an animation, every mode (CMYK, 16-bit, palette, alpha, grayscale, 10-bit HEIC) converted
to 8-bit RGB, and images above Pillow's decompression-bomb limit refused from their header
alone, before a single pixel is decoded. JPEGs may be larger (today's phones take 108- and
200-megapixel photos): they are decoded at a reduced scale that fits the limit (see
`_jpeg_pixel_limit`).
Failures raise `ImageError` with the file's name, the reason and what to do, plus a short
machine-readable `problem` code the health report groups by.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

import numpy as np
from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from training.core.errors import ImageError

SUPPORTED_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff",
     ".heic", ".heif", ".hif", ".avif"}
)
READABLE_FORMATS = "JPEG, PNG, BMP, GIF, WebP, TIFF, HEIC/HEIF and AVIF"
"""The formats above, as messages name them."""
_FORMATS_BY_EXTENSION = {
    ".jpg": {"JPEG", "MPO"}, ".jpeg": {"JPEG", "MPO"},
    ".heic": {"HEIF"}, ".heif": {"HEIF"}, ".hif": {"HEIF"}, ".avif": {"AVIF"},
}
"""Extensions whose file is noted when it holds another format (a PNG named .jpg, a JPEG
named .heic): it is read all the same, but a tool that trusts the name may not read it."""
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm",
                          b"hevs", b"mif1", b"msf1", b"avif", b"avis"})
"""ISO-BMFF brands of HEIF and AVIF files (bytes 8-12, after `ftyp`)."""
MIN_SIDE = 32
EXIF_ORIENTATION_TAG = 0x0112
_QUARTER_TURNS = {5, 6, 7, 8}
JPEG_LIMIT_FACTOR = 4
"""A JPEG may have this many times Pillow's pixel limit; see `_jpeg_pixel_limit`."""
_JPEG_SCALES = (1, 2, 4, 8)
"""The reductions libjpeg can decode to directly (its DCT scaling)."""
_JPEG_SIGNATURE = b"\xff\xd8\xff"

# We enforce Pillow's limit ourselves (see `_check_size`), with a message a person can act on,
# instead of letting Pillow warn between 1x and 2x of it and raise above.
warnings.simplefilter("ignore", Image.DecompressionBombWarning)


class ImageProblem(ImageError):
    """An image that cannot be used, with a `problem` code for grouping in reports."""

    def __init__(self, path: Path, problem: str, reason: str, advice: str) -> None:
        self.path = Path(path)
        self.problem = problem
        self.reason = reason
        super().__init__(f"{self.path}: {reason}. {advice}")


@dataclass(frozen=True)
class DecodedImage:
    """An 8-bit RGB image and what had to be done to get it there."""

    image: Image.Image
    original_size: tuple[int, int]
    """Full-resolution (width, height) as the photo is shown, i.e. after EXIF rotation."""
    notes: tuple[str, ...]


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_EXTENSIONS


_heif_lock = threading.Lock()
_heif_registered = False


def _register_heif() -> None:
    """Teach Pillow to read HEIC/HEIF (iPhone photos), once, from whichever thread decodes
    first (thumbnails decode on several at once).

    pi-heif is pillow-heif's decode-only build: libheif and libde265 (LGPL), without the
    GPL x265 encoder, so the app can bundle it (docs/packaging.md). Imported here and not at
    module level because it costs about 40 ms and `import training` must stay instant. AVIF
    needs nothing: Pillow reads it itself. libheif applies the container's rotation and
    mirroring (irot/imir) while decoding and pi-heif resets the EXIF orientation to 1, so a
    HEIC comes out upright and is never turned twice.
    """
    global _heif_registered
    with _heif_lock:
        if not _heif_registered:
            from pi_heif import register_heif_opener

            register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
            _heif_registered = True


def read_bytes(path: Path) -> bytes:
    """Read a whole file, turning OS errors into a message that names the file."""
    try:
        data = Path(path).read_bytes()
    except PermissionError:
        raise ImageProblem(
            path, "unreadable", "cannot be read (permission denied)",
            "Check the file's permissions or copy it somewhere you own.",
        ) from None
    except IsADirectoryError:
        raise ImageProblem(path, "unreadable", "is a folder, not a file", "Remove it.") from None
    except OSError as error:
        raise ImageProblem(
            path, "unreadable", f"cannot be read ({error.strerror or error})",
            "Check that the file exists and is not a broken link.",
        ) from None
    if not data:
        raise ImageProblem(
            path, "empty", "is an empty file (0 bytes)",
            "Delete it or replace it with the real photo.",
        )
    return data


def decode_image(
    path: Path, data: bytes | None = None, *, draft_size: int | None = None
) -> DecodedImage:
    """Decode `path` (or its already-read bytes) to 8-bit RGB.

    `draft_size` lets JPEG decoding skip detail that will be thrown away anyway: the decoder
    scales by 1/2, 1/4 or 1/8 while keeping both sides at least `draft_size` pixels. That is
    much faster for large photos, and since every code path passes the same value for the
    same model, training and prediction still see identical pixels. A JPEG above Pillow's
    pixel limit is always decoded reduced to fit it, `draft_size` or not; `original_size`
    stays the photo's full size.
    """
    path = Path(path)
    if data is None:
        data = read_bytes(path)
    if not _heif_registered:
        _register_heif()
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        if _is_heif(data):  # libheif refuses a cut-off file at open, not at decode
            raise _corrupt(path, _heif_error(data)) from None
        raise ImageProblem(
            path, "not_image", "is not an image Pillow can read, despite its extension",
            "Delete it, or open it in an image editor and save it as JPEG or PNG.",
        ) from None
    except Image.DecompressionBombError:
        image = _open_large_jpeg(path, data)
    except Exception as error:  # Pillow raises many types for corrupt headers
        raise _corrupt(path, error) from None

    original_size = image.size
    _check_size(path, image)
    notes: list[str] = []
    if image.format not in _FORMATS_BY_EXTENSION.get(path.suffix.lower(), {image.format}):
        notes.append(f"is a {image.format} file named {path.suffix}")
    if getattr(image, "n_frames", 1) > 1:
        notes.append(f"holds {image.n_frames} images: the primary one is used"
                     if image.format == "HEIF" else
                     f"animated ({image.n_frames} frames): the first frame is used")
    try:
        if _is_jpeg(image):
            _reduce_jpeg(image, draft_size)
        image.load()
        orientation = image.getexif().get(EXIF_ORIENTATION_TAG, 1)
        if orientation not in (1, None):
            image = ImageOps.exif_transpose(image)
            if orientation in _QUARTER_TURNS:
                original_size = (original_size[1], original_size[0])
            notes.append(f"EXIF orientation {orientation} applied")
        image, conversion = _to_rgb(image)
    except ImageProblem:
        raise
    except Exception as error:
        raise _corrupt(path, error) from None
    if conversion:
        notes.append(conversion)
    return DecodedImage(image=image, original_size=original_size, notes=tuple(notes))


def content_hash(data: bytes) -> str:
    """Identity of a file's bytes, for finding exact duplicates."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def perceptual_hash(image: Image.Image) -> int:
    """A 64-bit DCT hash (pHash) that survives re-encoding, resizing and small crops.

    Two photos whose hashes differ in few bits look alike; see `hamming_distance`.
    """
    small = image.convert("L").resize((32, 32), Image.Resampling.BILINEAR, reducing_gap=2.0)
    pixels = np.asarray(small, dtype=np.float64)
    low = _DCT_32 @ pixels @ _DCT_32.T
    block = low[:8, :8].flatten()
    median = np.median(block[1:])
    bits = block > median
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return value


def hamming_distance(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2 / n)
    matrix[0] /= np.sqrt(2)
    return matrix


_DCT_32 = _dct_matrix(32)


def _is_heif(data: bytes) -> bool:
    return data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS


def _heif_error(data: bytes) -> Exception:
    """What the decoder itself says about a HEIF or AVIF file Pillow could not open (e.g.
    "Unexpected end of file"); Pillow keeps only "cannot identify image file"."""
    try:
        if data[8:12] in {b"avif", b"avis"}:
            from PIL import AvifImagePlugin

            AvifImagePlugin.AvifImageFile(io.BytesIO(data))
        else:
            from pi_heif import open_heif

            open_heif(io.BytesIO(data))
    except Exception as error:
        return error
    return ValueError("its decoder gives no reason")


def _is_jpeg(image: Image.Image) -> TypeGuard[JpegImagePlugin.JpegImageFile]:
    """Whether `image` is decoded reduced: plain JPEGs only. MPO files (JPEG frames) are not,
    like the README's stand-alone decoder, so an exported model sees the app's pixels."""
    return image.format == "JPEG" and isinstance(image, JpegImagePlugin.JpegImageFile)


def _jpeg_pixel_limit(image: JpegImagePlugin.JpegImageFile, limit: int) -> int:
    """The most pixels a JPEG may declare, given Pillow's `limit` (about 89.5 million).

    4× `limit`, about 358 million pixels, when the colour is subsampled 4:2:0 as phones and
    cameras save it: a 108-megapixel photo fits, and so does a 200-megapixel one with room
    to spare. The photo is decoded at 1/2, 1/4 or 1/8 scale (`_reduce_jpeg`), so its pixels
    never take more memory than an image at `limit` (268 MB). But libjpeg may keep every DCT
    coefficient of the whole image while it decodes, whatever the scale: always for a
    progressive JPEG, and for a sequential one whose components come in separate scans
    (which the header does not reveal). At 2 bytes per sample that is 3 bytes per pixel at
    4:2:0, so about 1.07 GB at 4× `limit`: the budget every JPEG gets, the same order as
    a progressive CMYK JPEG at `limit` itself already needed. Richer sampling gets fewer
    pixels for the same budget: half at 4:4:4 (6 bytes per pixel), 3/8 for CMYK. Grayscale
    (2 bytes per pixel) is held to 4× all the same.
    """
    # Each component's (horizontal, vertical) sampling factors; a damaged header may say 0.
    factors = [(max(h, 1), max(v, 1)) for _, h, v, _ in image.layer]
    full = max(h for h, _ in factors) * max(v for _, v in factors)
    samples_per_pixel = sum(h * v for h, v in factors) / full
    return int(JPEG_LIMIT_FACTOR * limit * min(1.0, 1.5 / samples_per_pixel))


def _open_large_jpeg(path: Path, data: bytes) -> Image.Image:
    """Open a JPEG that Pillow's `open` refused for being over twice its limit.

    `Image.open` raises before the caller sees the image, but a JPEG may be allowed more
    (`_jpeg_pixel_limit`). Pillow's JPEG reader, called directly, reads only the header; the
    size is then checked like any other. Anything else stays refused.
    """
    if not data.startswith(_JPEG_SIGNATURE):
        raise _too_large(path, None)
    try:
        return JpegImagePlugin.jpeg_factory(io.BytesIO(data))
    except Exception as error:
        raise _corrupt(path, error) from None


def _reduce_jpeg(image: JpegImagePlugin.JpegImageFile, draft_size: int | None) -> None:
    """Have libjpeg decode at the smallest reduction whose pixels fit Pillow's limit, or
    further, down to `draft_size` pixels on each side, when the caller asked for that."""
    width, height = image.size
    limit = Image.MAX_IMAGE_PIXELS
    scale = next((s for s in _JPEG_SCALES
                  if not limit or math.ceil(width / s) * math.ceil(height / s) <= limit),
                 _JPEG_SCALES[-1])
    if scale == 1 and not draft_size:
        return
    # Pillow picks the largest reduction that keeps each side at least the size asked for.
    wanted = (width // scale, height // scale)
    if draft_size:
        wanted = (min(wanted[0], draft_size), min(wanted[1], draft_size))
    image.draft("RGB", wanted)


def _check_size(path: Path, image: Image.Image) -> None:
    width, height = image.size
    if Image.MAX_IMAGE_PIXELS:
        if _is_jpeg(image):
            limit, what = _jpeg_pixel_limit(image, Image.MAX_IMAGE_PIXELS), "JPEGs like this one"
        else:
            limit, what = Image.MAX_IMAGE_PIXELS, "Images"
        if width * height > limit:
            raise _too_large(path, (width, height), limit, what)
    if min(width, height) < MIN_SIDE:
        raise ImageProblem(
            path, "too_small", f"is only {width}×{height} pixels",
            f"Images need at least {MIN_SIDE} pixels on each side; remove it or use a larger copy.",
        )


def _too_large(path: Path, size: tuple[int, int] | None, limit: int | None = None,
               what: str = "Images") -> ImageProblem:
    dims = f" ({size[0]}×{size[1]} pixels)" if size else ""
    return ImageProblem(
        path, "too_large",
        f"is too large to decode safely{dims}; it may be a decompression bomb",
        f"{what} above {limit or Image.MAX_IMAGE_PIXELS:,} pixels are refused; shrink it in "
        "an image editor if it is a real photo.",
    )


def _corrupt(path: Path, error: Exception) -> ImageProblem:
    detail = str(error).strip().rstrip(".") or type(error).__name__
    return ImageProblem(
        path, "corrupt", f"is truncated or corrupt ({detail})",
        "Re-copy or re-download it, or delete it.",
    )


def _to_rgb(image: Image.Image) -> tuple[Image.Image, str | None]:
    """Convert any Pillow mode to 8-bit RGB; say what was converted, if anything."""
    mode = image.mode
    if mode == "RGB":
        return image, None
    if mode in {"I;16", "I;16L", "I;16B", "I;16N", "I", "F"}:
        pixels = np.asarray(image, dtype=np.float64)
        peak = pixels.max(initial=0.0)
        # I;16* declare 16 bits per pixel: scale even a dark one. I and F carry no range, so
        # values above 255 are taken as 16-bit and smaller ones as 8-bit.
        scale = 255.0 / 65535.0 if mode.startswith("I;16") or peak > 255 else 1.0
        gray = np.clip(pixels * scale, 0, 255).round().astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB"), f"converted from {mode} to 8-bit RGB"
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in {"RGBA", "LA", "PA", "RGBa", "La"}:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flat = Image.alpha_composite(background, rgba).convert("RGB")
        return flat, f"converted from {mode} (transparency shown on white) to RGB"
    return image.convert("RGB"), f"converted from {mode} to RGB"
