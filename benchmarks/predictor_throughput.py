"""How close `Predictor.predict` on JPEG files comes to the network's own forward speed.

Predictor side: `Predictor.predict(paths, batch_size=32)` over N JPEG files (default 1000:
the dataset's photos copied, cycled, into a temporary folder), consumed to the end. It
decodes the files (in its own threads, one batch ahead), resizes, normalises, runs the
network and returns one `Prediction` per file.

Forward side: the same network object, batch 32, `torch.inference_mode`, channels_last, on
pixels decoded beforehand (outside the clock): normalise + forward only.

The model is a quick-mode model trained by `fit` on the dataset (the app's usual case;
training happens before either clock starts), or with `--model imagenet` the untouched
1000-class `Predictor.imagenet()`. The sides alternate and the medians are compared.
Target: predictor images/s >= 0.85 x forward images/s.

    .venv/bin/python benchmarks/predictor_throughput.py            # full run (a few minutes)
    .venv/bin/python benchmarks/predictor_throughput.py --quick    # checks the script in seconds
"""

from __future__ import annotations

import gc
import shutil
import time
from pathlib import Path

import _common
import torch

from training.data.preprocessing import load_pixels
from training.data.scanning import scan_dataset
from training.data.tensors import normalize, to_uint8_batch
from training.fitting.config import TrainConfig
from training.fitting.trainer import fit
from training.predict.inference import Predictor

RATIO_TARGET = 0.85
BATCH = 32


def make_predictor(kind: str, folder: Path, work: Path) -> Predictor:
    if kind == "imagenet":
        return Predictor.imagenet()
    result = fit(TrainConfig.quick(), scan_dataset(folder), output=work / "model.safetensors")
    if result.model is None:
        raise SystemExit(f"error: training stopped without a model ({result.stopped})")
    return Predictor.from_model(result.model)


def copy_cycled(photos: list[Path], count: int, target: Path) -> list[Path]:
    """`count` files in `target`: the photos copied in turn, each copy with its own name."""
    target.mkdir(parents=True)
    paths = []
    for index in range(count):
        source = photos[index % len(photos)]
        path = target / f"{index:06d}-{source.parent.name}-{source.name}"
        shutil.copyfile(source, path)
        paths.append(path)
    return paths


def time_predictor(predictor: Predictor, paths: list[Path]) -> float:
    started = time.perf_counter()
    errors = sum(1 for prediction in predictor.predict(paths, batch_size=BATCH)
                 if prediction.error)
    seconds = time.perf_counter() - started
    if errors:
        raise SystemExit(f"error: {errors} of {len(paths)} files could not be classified")
    return seconds


def time_forward(predictor: Predictor, batches: list[torch.Tensor]) -> float:
    network, prep, device = predictor.network, predictor.preprocessing, predictor.device
    started = time.perf_counter()
    with torch.inference_mode():
        for pixels in batches:
            inputs = normalize(pixels.to(device), prep)
            network(inputs.contiguous(memory_format=torch.channels_last)).cpu()
    return time.perf_counter() - started


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

    photos = [p for group in _common.class_photos(folder).values() for p in group]
    paths = copy_cycled(photos, args.images, work / "images")
    _common.progress(f"{len(paths)} files in {paths[0].parent} (copies of {len(photos)} photos); "
                     f"preparing the {args.model} model")
    predictor = make_predictor(args.model, folder, work)

    prep = predictor.preprocessing
    decoded = to_uint8_batch([load_pixels(photo, prep) for photo in photos])
    order = torch.arange(len(paths)) % len(photos)
    batches = [decoded[order[start:start + BATCH]] for start in range(0, len(paths), BATCH)]
    time_forward(predictor, batches[:1])  # first-call allocations, for neither side's clock

    runs: dict[str, list[float]] = {"predictor": [], "forward": []}
    for repeat in range(args.repeats):
        sides = ["predictor", "forward"] if repeat % 2 == 0 else ["forward", "predictor"]
        for side in sides:
            gc.collect()
            seconds = (time_predictor(predictor, paths) if side == "predictor"
                       else time_forward(predictor, batches))
            runs[side].append(seconds)
            _common.progress(f"repeat {repeat + 1}/{args.repeats} {side}: "
                             f"{len(paths) / seconds:.1f} images/s")

    rate = {side: len(paths) / _common.median(times) for side, times in runs.items()}
    ratio = rate["predictor"] / rate["forward"]
    text = _common.table(
        ["", "Predictor", "forward only", "Predictor / forward", "target", "result"],
        [
            ["images/s (median)", rate["predictor"], rate["forward"], f"{ratio:.3f}",
             f">= {RATIO_TARGET:.2f}", _common.verdict(ratio >= RATIO_TARGET)],
            ["each run (s)", " ".join(f"{s:.2f}" for s in runs["predictor"]),
             " ".join(f"{s:.2f}" for s in runs["forward"]), "", "", ""],
        ],
    ) + (f"\n{len(paths)} files, batch {BATCH}, {args.model} model "
         f"({len(predictor.classes)} classes) on {predictor.device}; the Predictor decodes the "
         "JPEGs, the forward side starts from decoded pixels")
    _common.report(args, "Predictor on JPEG files vs forward pass on decoded pixels", text, {
        "images": len(paths), "unique_photos": len(photos), "batch_size": BATCH,
        "model": args.model, "classes": len(predictor.classes), "device": str(predictor.device),
        "runs_seconds": runs, "images_per_second": rate, "ratio": ratio,
        "ratio_target": RATIO_TARGET, "pass": ratio >= RATIO_TARGET,
    })


if __name__ == "__main__":
    main()
