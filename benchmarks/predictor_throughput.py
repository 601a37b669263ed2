"""How close `Predictor.predict` on JPEG files comes to onnxruntime's own forward speed.

The issue: "Gallery classification of 1,000 JPEGs with a quick model: images/s ÷
onnxruntime forward-only on pre-decoded tensors ≥ 0.85" (the old Predictor ÷ the same
onnxruntime figure was about 0.23).

Setup, before any clock: N JPEG files (default 1000), each a different seeded picture of one
of the dataset's photos (`_photos.py`), so no two share their bytes and the content-keyed
feature store cannot answer one photo for another. A quick-mode model is trained by `fit`
on the dataset (`--model imagenet`: the untouched `Predictor.imagenet()`). Its feature graph
is then exported once, parity-checked and loaded into an onnxruntime session by
`predictor.frozen.prepare(10_000)` (any graph training exported is deleted first, so this is
a real export); that time is shown on its own row, "graph export, once". Every file is also
decoded once with `load_pixels` into uint8 tensors, for the forward sides.

Four sides, each over the same N photos, batch 32, taking turns (the order rotates each
repeat), medians of `--repeats` compared:

- Predictor: `predictor.predict(paths, batch_size=32)` consumed to the end, with a FRESH
  feature store each repeat (a new, empty SQLite file assigned to `predictor.store`; opening
  it is outside the clock). It reads each file, hashes it, decodes it (a batch ahead, in its
  own threads), runs the features on the onnxruntime session, stores them and applies the
  classifier, and returns one `Prediction` per file.
- onnxruntime forward only: `predictor.frozen(pixels)` on the pre-decoded tensors, i.e. the
  very same session object the Predictor runs (normalisation is inside the graph), then the
  model's classifier and softmax on the features: pixels to probabilities, nothing else.
- PyTorch eager forward only: the same network, `inference_mode`, channels_last, normalise +
  forward (classifier included) on the same tensors: the previous version of this benchmark.
- old way: a second `Predictor` of the same model with `keep_features=False`, its runtime
  chosen while `CHEETAHLION_NO_ONNXRUNTIME=1` (so PyTorch): decode-ahead, PyTorch features,
  classifier, no store. For reference only.

Target: Predictor images/s ÷ onnxruntime forward-only images/s >= 0.85.

    .venv/bin/python benchmarks/predictor_throughput.py            # full run (a few minutes)
    .venv/bin/python benchmarks/predictor_throughput.py --quick    # checks the script
"""

from __future__ import annotations

import gc
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _common
import _photos
import torch

from training.data.feature_store import FeatureStore
from training.data.preprocessing import load_pixels
from training.data.scanning import scan_dataset
from training.data.tensors import normalize, to_uint8_batch
from training.fitting.trainer import fit
from training.models import onnx_features
from training.models.frozen import ONNX_RUNTIME, PYTORCH
from training.predict.inference import Predictor
from training.records.config import TrainConfig

RATIO_TARGET = 0.85
OLD_RATIO = 0.23
"""The old Predictor ÷ onnxruntime forward-only, as the issue gives it."""
BATCH = 32
SIDES = ("predictor", "onnxruntime", "pytorch", "old")
LABELS = {
    "predictor": "Predictor (onnxruntime + fresh store)",
    "onnxruntime": "onnxruntime forward only (its session)",
    "pytorch": "PyTorch eager forward only",
    "old": "old way: Predictor on PyTorch, no store",
}


def make_predictor(kind: str, folder: Path, work: Path) -> Predictor:
    if kind == "imagenet":
        return Predictor.imagenet()
    result = fit(TrainConfig.quick(), scan_dataset(folder), output=work / "model.safetensors")
    if result.model is None:
        raise SystemExit(f"error: training stopped without a model ({result.stopped})")
    return Predictor.from_model(result.model)


def export_graph(predictor: Predictor) -> float:
    """Seconds to export, check and load the Predictor's feature graph (deleted first if
    training already exported it), so the sides below all find it ready."""
    onnx_features.graph_path(predictor.frozen.digest, predictor.preprocessing).unlink(
        missing_ok=True)
    started = time.perf_counter()
    runtime = predictor.frozen.prepare(10_000)
    seconds = time.perf_counter() - started
    if runtime != ONNX_RUNTIME:
        raise SystemExit("error: the Predictor did not get an onnxruntime session (is "
                         f"{onnx_features.DISABLE_ENV} set, or onnxruntime missing?)")
    return seconds


def old_predictor(predictor: Predictor) -> Predictor:
    """The same model the old way: PyTorch features (chosen now, while onnxruntime is
    switched off), no feature store."""
    old = Predictor(predictor.model, predictor.device, keep_features=False)
    os.environ[onnx_features.DISABLE_ENV] = "1"
    try:
        if old.frozen.prepare(10_000) != PYTORCH:
            raise SystemExit("error: the old-way Predictor did not fall back to PyTorch")
    finally:
        del os.environ[onnx_features.DISABLE_ENV]
    return old


def decode(paths: list[Path], predictor: Predictor) -> list[torch.Tensor]:
    """Every file decoded once into uint8 NCHW batches of BATCH (setup, not timed)."""
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        pixels = list(pool.map(lambda p: load_pixels(p, predictor.preprocessing), paths))
    return [to_uint8_batch(pixels[start:start + BATCH]) for start in range(0, len(paths), BATCH)]


def time_predictor(predictor: Predictor, paths: list[Path]) -> float:
    started = time.perf_counter()
    errors = sum(1 for prediction in predictor.predict(paths, batch_size=BATCH)
                 if prediction.error)
    seconds = time.perf_counter() - started
    if errors:
        raise SystemExit(f"error: {errors} of {len(paths)} files could not be classified")
    return seconds


def time_with_fresh_store(predictor: Predictor, paths: list[Path], folder: Path) -> float:
    """The Predictor's time with a new, empty store, checked to hold every photo after."""
    store = FeatureStore(folder / "features.sqlite3")
    predictor.store = store
    try:
        seconds = time_predictor(predictor, paths)
        stored = store.stored_bytes() // (4 * predictor.frozen.width)
    finally:
        store.close()
        shutil.rmtree(folder, ignore_errors=True)
    if stored != len(paths) or predictor.runtime != ONNX_RUNTIME:
        raise SystemExit(f"error: the Predictor stored {stored} of {len(paths)} photos on "
                         f"{predictor.runtime}")
    return seconds


def time_onnxruntime(predictor: Predictor, batches: list[torch.Tensor]) -> float:
    started = time.perf_counter()
    with torch.inference_mode():
        for pixels in batches:
            predictor.classifier(predictor.frozen(pixels)).float().softmax(1)
    return time.perf_counter() - started


def time_pytorch(predictor: Predictor, batches: list[torch.Tensor]) -> float:
    network, prep, device = predictor.network, predictor.preprocessing, predictor.device
    started = time.perf_counter()
    with torch.inference_mode():
        for pixels in batches:
            inputs = normalize(pixels.to(device), prep)
            network(inputs.contiguous(memory_format=torch.channels_last)).cpu()
    return time.perf_counter() - started


def measure(repeats: int, paths: list[Path], predictor: Predictor, work: Path
            ) -> dict[str, list[float]]:
    """Seconds of each side per repeat; the order rotates so no side always goes first."""
    old = old_predictor(predictor)
    batches = decode(paths, predictor)
    shapes = [batches[0], batches[-1]]  # the last batch may be smaller: a second shape
    time_onnxruntime(predictor, shapes)  # first-call allocations, for no side's clock
    time_pytorch(predictor, shapes)
    timers: dict[str, Callable[[int], float]] = {
        "predictor": lambda r: time_with_fresh_store(predictor, paths, work / f"store-{r}"),
        "onnxruntime": lambda _r: time_onnxruntime(predictor, batches),
        "pytorch": lambda _r: time_pytorch(predictor, batches),
        "old": lambda _r: time_predictor(old, paths),
    }
    runs: dict[str, list[float]] = {side: [] for side in SIDES}
    for repeat in range(repeats):
        shift = repeat % len(SIDES)
        for side in SIDES[shift:] + SIDES[:shift]:
            gc.collect()
            runs[side].append(timers[side](repeat))
            _common.progress(f"repeat {repeat + 1}/{repeats} {side}: "
                             f"{len(paths) / runs[side][-1]:.1f} images/s")
    return runs


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--images", type=int, default=None,
                        help="JPEG files to classify (default 1000; 64 with --quick)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs of each side (default 3; 2 with --quick)")
    parser.add_argument("--model", choices=("trained", "imagenet"), default="trained",
                        help="a quick-mode model trained on the dataset (default) or the "
                             "untouched ImageNet model")
    _common.add_per_class_option(parser, quick_default=12)
    args = parser.parse_args()
    args.images = args.images or (64 if args.quick else 1000)
    args.repeats = args.repeats or (2 if args.quick else 3)
    work, folder = _common.prepare_data(args, "predictor")

    sources = _common.class_photos(_common.require_data(args.data))
    _common.progress(f"writing {args.images} distinct JPEGs (_photos.py) ...")
    gallery = _photos.make_photos(sources, 0, args.images, work / "photos")[1]
    paths = sorted(gallery.iterdir())
    _common.warm_file_cache(paths)
    _common.progress(f"{len(paths)} files in {gallery}; preparing the {args.model} model")
    predictor = make_predictor(args.model, folder, work)
    export_seconds = export_graph(predictor)
    runs = measure(args.repeats, paths, predictor, work)

    rate = {side: len(paths) / _common.median(times) for side, times in runs.items()}
    ratios = {side: rate[side] / rate["onnxruntime"] for side in SIDES}
    passed = ratios["predictor"] >= RATIO_TARGET
    rows: list[list[object]] = [
        [LABELS[side], rate[side], f"{ratios[side]:.3f}",
         {"predictor": f">= {RATIO_TARGET:.2f}", "old": f"(issue: ~{OLD_RATIO:.2f})"}.get(side, ""),
         _common.verdict(passed) if side == "predictor" else "",
         " ".join(f"{s:.2f}" for s in runs[side])]
        for side in SIDES
    ]
    rows.append(["graph export, once (s)", export_seconds, "", "", "", ""])
    text = _common.table(
        ["", "images/s (median)", "÷ onnxruntime forward", "target", "result", "each run (s)"],
        rows,
    ) + (f"\n{len(paths)} distinct files, batch {BATCH}, {args.model} model "
         f"({len(predictor.classes)} classes) on {predictor.device}, onnxruntime with "
         f"{onnx_features.session_threads()} threads. The Predictors read and decode the JPEGs "
         "(the new one also hashes and stores); the forward sides start from decoded pixels.")
    _common.report(args, "Predictor on JPEG files vs onnxruntime forward on decoded pixels",
                   text, {
        "images": len(paths), "batch_size": BATCH, "model": args.model,
        "classes": len(predictor.classes), "device": str(predictor.device),
        "graph_export_seconds": export_seconds, "runs_seconds": runs,
        "images_per_second": rate, "ratio_to_onnxruntime_forward": ratios,
        "ratio": ratios["predictor"], "ratio_target": RATIO_TARGET, "pass": passed,
    })


if __name__ == "__main__":
    main()
