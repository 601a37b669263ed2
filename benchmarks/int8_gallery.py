"""A gallery of 1,000 JPEGs classified end to end, float vs 8-bit features (issue 26).

The gallery (written to a temporary folder, deleted at exit): `--small` photos (default 500)
as the shared photos come (~410-725 px: `_photos.derive`, a seeded crop, flip, brightness
and re-encode each, so no two share their bytes) and `--large` 12-MP photos (default 500):
the same kind of picture cropped to 4:3 (3:4 when upright), enlarged to 4000×3000 (bicubic),
given a fixed sensor-like grain (σ = 5 grey levels, so the files are nearer a phone's size) and
saved at JPEG quality 90; every fourth is stored turned a quarter with EXIF orientation 6,
as phones store upright photos.

A quick-mode model is trained on the shared photos (float features), then two `Predictor`s
of it, one whose frozen features run float and one 8-bit (`feature_precision`, as the CLI's
--feature-precision asks: a model otherwise follows the precision it was trained on; chosen
and prepared before any clock): the Classify page's path. Each side classifies the small
and the 12-MP photos with a fresh, empty feature store (so every photo is read, hashed,
decoded, resized, embedded and stored), the sides taking turns for `--rounds` rounds; the
table shows median images/s and int8 ÷ float per kind of photo.

Profile (`--profile` photos of each kind, one thread, no overlap): the engine's steps timed
one by one: read + hash (twice per photo, as `embed_files` does), decode (draft), resize and
crop, network (float and 8-bit, batch 32), store. Then alternative resampling paths on the
same decoded photos, measured only: their cost, how far their pixels are from the first
path's (resizing the whole photo, then cropping: the engine's before round 4; max / mean
absolute difference on uint8) and the float features' cosine with its; and the ratio each
would give end to end against that path on the float side, from the profile's sums.

`--quick`: 24 + 8 photos, one round (numbers meaningless).
"""

from __future__ import annotations

import gc
import io
import os
import shutil
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import _common
import _photos
import numpy as np
import torch
from PIL import Image

from training.core.runtime import PRECISION_ENV
from training.data.feature_store import FeatureStore
from training.data.images import content_hash, decode_image, read_bytes
from training.data.preprocessing import resize_and_crop
from training.data.scanning import scan_dataset
from training.fitting.trainer import fit
from training.models.embedding import space_key
from training.predict.inference import Predictor
from training.records.config import TrainConfig
from training.records.preprocessing import Preprocessing

BATCH = 32
LARGE = (4000, 3000)
GRAIN = 5.0
SIDES = ("float", "int8")


def _large(source: Path, target: Path, seed: str, turned: bool) -> None:
    """One 12-MP picture of `source` (see the module docstring)."""
    buffer = io.BytesIO()
    _photos.derive(source, buffer, seed)  # type: ignore[arg-type]
    with Image.open(buffer) as opened:
        picture = opened.convert("RGB")
    upright = picture.height > picture.width
    ratio = 3 / 4 if upright else 4 / 3
    width, height = picture.size
    w, h = (width, round(width / ratio)) if width / height < ratio else (round(height * ratio),
                                                                         height)
    left, top = (width - w) // 2, (height - h) // 2
    size = LARGE[::-1] if upright else LARGE
    big = np.asarray(picture.crop((left, top, left + w, top + h)).resize(size,
                                                                       Image.Resampling.BICUBIC))
    noisy = np.clip(big.astype(np.int16) + _grain(size), 0, 255).astype(np.uint8)
    image = Image.fromarray(noisy)
    exif = Image.Exif()
    if turned:
        image = image.transpose(Image.Transpose.ROTATE_90)
        exif[0x0112] = 6  # exif_transpose turns it back upright
    image.save(target, "JPEG", quality=90, exif=exif.tobytes())


_GRAIN: dict[tuple[int, int], np.ndarray] = {}


def _grain(size: tuple[int, int]) -> np.ndarray:
    if size not in _GRAIN:
        tile = np.random.default_rng(0).normal(0, GRAIN, (500, 500, 3)).round().astype(np.int16)
        _GRAIN[size] = np.tile(tile, (size[1] // 500 + 1, size[0] // 500 + 1, 1))[
            :size[1], :size[0]]
    return _GRAIN[size]


def make_gallery(sources: dict[str, list[Path]], small: int, large: int, root: Path
                 ) -> dict[str, list[Path]]:
    """{"small": paths, "12-MP": paths}, the classes taking turns; written by two threads."""
    names = list(sources)
    plans: dict[str, list[tuple[Path, Path, str]]] = {"small": [], "12-MP": []}
    for kind, count in (("small", small), ("12-MP", large)):
        (root / kind).mkdir(parents=True)
        for number in range(count):
            name = names[number % len(names)]
            source = sources[name][(number // len(names)) % len(sources[name])]
            plans[kind].append((source, root / kind / f"{name}-{number:05d}.jpg",
                                f"26/{kind}/{name}/{number}"))
    _grain(LARGE), _grain(LARGE[::-1])
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda job: _photos.derive(*job), plans["small"]))
        list(pool.map(lambda job: _large(*job[0], turned=job[1] % 4 == 3),
                      ((job, n) for n, job in enumerate(plans["12-MP"]))))
    return {kind: [target for _, target, _ in plan] for kind, plan in plans.items()}


def predictors(data: Path, root: Path) -> dict[str, Predictor]:
    """A quick-mode model trained on float features; a Predictor per precision, prepared."""
    os.environ[PRECISION_ENV] = "float"
    result = fit(TrainConfig.quick(), scan_dataset(data), output=root / "model.safetensors")
    if result.model is None:
        raise SystemExit(f"error: training stopped without a model ({result.stopped})")
    made = {}
    for side in SIDES:
        made[side] = Predictor.from_model(result.model, feature_precision=side)
        made[side].frozen.prepare(10_000)
        if made[side].frozen.precision != side:
            raise SystemExit(f"error: the {side} Predictor got {made[side].frozen.precision}: "
                             f"{made[side].frozen.refusal}")
    return made


def classify(predictor: Predictor, side: str, paths: list[Path], folder: Path
             ) -> tuple[float, list[Any]]:
    """Seconds for `predict` over `paths` with a fresh, empty store; the predictions."""
    os.environ[PRECISION_ENV] = side
    store = FeatureStore(folder / "features.sqlite3")
    predictor.store = store
    try:
        started = time.perf_counter()
        found = list(predictor.predict(paths, batch_size=BATCH))
        seconds = time.perf_counter() - started
        stored = store.stored_bytes() // (4 * predictor.frozen.width)
    finally:
        store.close()
        shutil.rmtree(folder, ignore_errors=True)
    errors = [p.error for p in found if p.error]
    if errors or stored != len(paths):
        raise SystemExit(f"error: {len(errors)} unreadable ({errors[:1]}), {stored} stored")
    return seconds, found


def speed(made: dict[str, Predictor], gallery: dict[str, list[Path]], rounds: int, work: Path
          ) -> dict[str, Any]:
    """Interleaved rounds (the order alternates); median images/s and the ratio per kind."""
    times: dict[tuple[str, str], list[float]] = {}
    answers: dict[tuple[str, str], list[Any]] = {}
    for number in range(rounds):
        for kind, paths in gallery.items():
            for side in SIDES if number % 2 == 0 else SIDES[::-1]:
                gc.collect()
                seconds, answers[kind, side] = classify(made[side], side, paths,
                                                        work / f"store-{kind}-{side}-{number}")
                times.setdefault((kind, side), []).append(seconds)
                _common.progress(f"round {number + 1} {kind} {side}: "
                                 f"{len(paths) / seconds:.1f} images/s, load "
                                 f"{os.getloadavg()[0]:.1f}")
    result: dict[str, Any] = {}
    for kind, paths in gallery.items():
        rate = {side: len(paths) / statistics.median(times[kind, side]) for side in SIDES}
        same = sum(a.label == b.label for a, b in zip(answers[kind, "float"],
                                                      answers[kind, "int8"], strict=True))
        right = {side: sum(Path(a.path).name.split("-")[0] == a.label
                           for a in answers[kind, side]) / len(paths) for side in SIDES}
        result[kind] = {"photos": len(paths), "images_per_s": rate,
                        "ratio": rate["int8"] / rate["float"],
                        "runs_s": {side: times[kind, side] for side in SIDES},
                        "same_label": same / len(paths), "accuracy": right,
                        "none_of_these": {side: sum(a.unfamiliar for a in answers[kind, side])
                                          / len(paths) for side in SIDES}}
    return result


def _timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = function()
    return time.perf_counter() - started, value


def profile(made: dict[str, Predictor], paths: list[Path], work: Path) -> dict[str, Any]:
    """Seconds per photo of each step, one thread (`embed_files`' steps, one by one)."""
    prep = made["float"].preprocessing
    steps: dict[str, float] = {"read + hash (x2)": 0.0, "decode (draft)": 0.0,
                               "resize + crop": 0.0}
    pixels = []
    for path in paths:
        seconds, _ = _timed(lambda p=path: (content_hash(read_bytes(p)),
                                            content_hash(read_bytes(p))))
        steps["read + hash (x2)"] += seconds
        seconds, decoded = _timed(lambda p=path: decode_image(p, draft_size=prep.resize).image)
        steps["decode (draft)"] += seconds
        seconds, crop = _timed(lambda d=decoded: resize_and_crop(d, prep))
        steps["resize + crop"] += seconds
        pixels.append(np.ascontiguousarray(crop.transpose(2, 0, 1)))
    batches = [torch.from_numpy(np.stack(pixels[i:i + BATCH])) for i in range(0, len(paths), BATCH)]
    features = {}
    for side in SIDES:
        os.environ[PRECISION_ENV] = side
        frozen = made[side].frozen
        frozen(batches[0][:2])  # warm-up
        seconds, rows = _timed(lambda f=frozen: torch.cat([f(b) for b in batches]).numpy())
        steps[f"network ({side})"] = seconds
        features[side] = rows
    store = FeatureStore(work / "profile.sqlite3")
    space = space_key(made["float"].frozen, "centre")
    keys = [f"{n:032x}" for n in range(len(paths))]
    seconds, _ = _timed(lambda: [store.store_vectors(space, dict(zip(
        keys[i:i + BATCH], features["float"][i:i + BATCH], strict=True)), "bench")
        for i in range(0, len(paths), BATCH)])
    store.close()
    steps["store"] = seconds
    per_photo = {step: seconds / len(paths) for step, seconds in steps.items()}
    return {"per_photo_s": per_photo}


def _shares(per_photo: dict[str, float]) -> dict[str, dict[str, float]]:
    """Each side's steps as shares of its own total (the other side's network left out)."""
    result = {}
    for side in SIDES:
        mine = {k: v for k, v in per_photo.items()
                if not k.startswith("network") or k == f"network ({side})"}
        total = sum(mine.values())
        result[side] = {**{k: v / total for k, v in mine.items()}, "ms per photo": 1000 * total}
    return result


def _resample(image: Image.Image, prep: Preprocessing, *, bilinear: bool = False,
              gap: float | None = None, box_only: bool = False) -> np.ndarray:
    """`resize_and_crop` with one thing changed: bilinear, Pillow's `reducing_gap` (an integer
    `reduce()` first, then the filter), or resampling only the crop's box of the photo."""
    width, height = image.size
    scale = prep.resize / min(width, height)
    size = (max(prep.crop, round(width * scale)), max(prep.crop, round(height * scale)))
    left, top = (size[0] - prep.crop) // 2, (size[1] - prep.crop) // 2
    method = Image.Resampling.BILINEAR if bilinear else Image.Resampling.BICUBIC
    if box_only:
        sx, sy = size[0] / width, size[1] / height
        box = (left / sx, top / sy, (left + prep.crop) / sx, (top + prep.crop) / sy)
        return np.array(image.resize((prep.crop, prep.crop), method, box=box,
                                     reducing_gap=gap), dtype=np.uint8)
    resized = image.resize(size, method, reducing_gap=gap)
    return np.array(resized.crop((left, top, left + prep.crop, top + prep.crop)),
                    dtype=np.uint8)


def alternatives(prep: Preprocessing) -> dict[str, Callable[[Path], np.ndarray]]:
    """Path → uint8 (crop, crop, 3): today's decode + resample, and the candidates."""
    def today(path: Path, draft: int = prep.resize, **change: Any) -> np.ndarray:
        return _resample(decode_image(path, draft_size=draft).image, prep, **change)
    return {
        "resize all, then crop (the engine before round 4)": today,
        "reducing_gap 2.0": lambda p: today(p, gap=2.0),
        "no draft, reducing_gap 2.0": lambda p: today(p, draft=0, gap=2.0),
        "resample only the crop box (the engine now)": lambda p: today(p, box_only=True),
        "bilinear": lambda p: today(p, bilinear=True),
        "bilinear, only the crop box": lambda p: today(p, bilinear=True, box_only=True),
        f"draft to {prep.crop} (crop size)": lambda p: today(p, draft=prep.crop),
    }


def _interleaved(loads: dict[str, Callable[[Path], np.ndarray]], paths: list[Path]
                 ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Seconds per photo and the crops of each path, the paths taking turns photo by photo
    (the order rotating), so the machine's other work weighs on all of them alike."""
    names = list(loads)
    seconds = dict.fromkeys(names, 0.0)
    crops: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for number, path in enumerate(paths):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            took, crop = _timed(lambda f=loads[name], p=path: f(p))
            seconds[name] += took / len(paths)
            crops[name].append(crop)
    return seconds, {name: np.stack(rows) for name, rows in crops.items()}


def compare_paths(made: dict[str, Predictor], paths: list[Path], per_photo: dict[str, float]
                  ) -> list[list[Any]]:
    """Per alternative: decode + resize ms per photo, pixel differences from today's, float
    features' cosine with today's, and the end-to-end int8 ÷ float ratio it would give."""
    os.environ[PRECISION_ENV] = "float"
    frozen = made["float"].frozen
    seconds, crops = _interleaved(alternatives(made["float"].preprocessing), paths)
    features = {name: torch.cat([frozen(torch.from_numpy(np.ascontiguousarray(
        rows[i:i + BATCH].transpose(0, 3, 1, 2)))) for i in range(0, len(paths), BATCH)]).numpy()
        for name, rows in crops.items()}
    today = next(iter(crops))
    fixed = per_photo["read + hash (x2)"] + per_photo["store"]
    float_side = fixed + seconds[today] + per_photo["network (float)"]
    rows = []
    for name, pixels in crops.items():
        difference = np.abs(pixels.astype(np.int16) - crops[today])
        a, b = features[name], features[today]
        cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        rows.append([name, round(1000 * seconds[name], 1), int(difference.max()),
                     round(float(difference.mean()), 3), round(float(cosine.mean()), 4),
                     round(float(cosine.min()), 4),
                     round(float_side / (fixed + seconds[name] + per_photo["network (int8)"]), 2)])
    once = fixed - per_photo["read + hash (x2)"] / 2
    rows.append(["today, each file read and hashed once", round(1000 * seconds[today], 1), 0, 0,
                 1.0, 1.0, round(float_side / (once + seconds[today]
                                                + per_photo["network (int8)"]), 2)])
    return rows


def needed(per_photo: dict[str, float], goal: float = 1.7) -> float:
    """Decode + resize ms per photo at which int8 ÷ float end to end reaches `goal` (today's
    float side as the reference; read, hash and store unchanged)."""
    fixed = per_photo["read + hash (x2)"] + per_photo["store"]
    float_total = (fixed + per_photo["decode (draft)"] + per_photo["resize + crop"]
                   + per_photo["network (float)"])
    return 1000 * (float_total / goal - fixed - per_photo["network (int8)"])


def main() -> None:
    parser = _common.parser(__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--large", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=int, default=96,
                        help="photos of each kind in the profile and the resampling table")
    args = parser.parse_args()
    if args.quick:
        args.small, args.large, args.rounds, args.profile = 24, 8, 1, 8
    root = _common.workspace("int8-gallery")
    data = _common.require_data(args.data)
    _common.progress(f"writing {args.small} small and {args.large} 12-MP JPEGs")
    started = time.perf_counter()
    gallery = make_gallery(_common.class_photos(data), args.small, args.large, root / "gallery")
    sizes = {kind: _common.folder_bytes(root / "gallery" / kind) / max(1, len(paths)) / 1e6
             for kind, paths in gallery.items()}
    _common.progress(f"written in {time.perf_counter() - started:.0f} s; MB per file {sizes}")
    _common.warm_file_cache([p for paths in gallery.values() for p in paths])
    _common.progress("training the quick model and preparing both graphs")
    made = predictors(data, root)
    results: dict[str, Any] = {"mb_per_file": sizes, "rounds": args.rounds}
    results["speed"] = speed(made, gallery, args.rounds, root)
    rows = [[kind, r["photos"], round(r["images_per_s"]["float"], 1),
             round(r["images_per_s"]["int8"], 1), round(r["ratio"], 2),
             f"{r['same_label']:.3f}", f"{r['accuracy']['float']:.3f}/{r['accuracy']['int8']:.3f}",
             f"{r['none_of_these']['float']:.3f}/{r['none_of_these']['int8']:.3f}"]
            for kind, r in results["speed"].items()]
    text = _common.table(("photos", "n", "float img/s", "int8 img/s", "int8/float",
                          "same label", "accuracy f/i", "none-of-these f/i"), rows)
    for kind, paths in gallery.items():
        _common.progress(f"profile and resampling paths: {kind}")
        sample = paths[:args.profile]
        found = profile(made, sample, root)
        per_photo = found["per_photo_s"]
        compared = compare_paths(made, sample, per_photo)
        results[f"profile {kind}"] = {"per_photo_ms": {k: 1000 * v for k, v in per_photo.items()},
                                      "shares": _shares(per_photo),
                                      "decode_resize_ms_for_1.7x": needed(per_photo),
                                      "alternatives": compared}
        shares = _shares(per_photo)
        text += (f"\n\n{kind}: profile of {len(sample)} photos, one thread (ms per photo: "
                 + ", ".join(f"{k} {1000 * v:.1f}" for k, v in per_photo.items())
                 + ")\nshares: " + "; ".join(
                     f"{side}: " + ", ".join(f"{k} {v:.0%}" if k != "ms per photo"
                                             else f"{v:.0f} ms" for k, v in s.items())
                     for side, s in shares.items())
                 + f"\ndecode + resize must take <= {needed(per_photo):.1f} ms for 1.7x\n"
                 + _common.table(("path", "decode+resize ms", "max |d|", "mean |d|",
                                  "cos mean", "cos min", "projected int8/float"), compared))
    _common.report(args, "Gallery of small and 12-MP JPEGs, float vs 8-bit (issue 26)", text,
                   results)


if __name__ == "__main__":
    main()
