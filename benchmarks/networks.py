"""The offline networks side by side: few-shot accuracy, feature speed, model size, Compare.

Issue 14: "per offline network: accuracy on small subsets of the shared photos (3, 5, 10, 20
per class, several seeds), images/s for features, model size". Lite0 is the baseline every
ratio is against.

Accuracy. The photos of each class (sorted by name) are cut once: the first `POOL` are the
pool training photos are drawn from, the rest (100 per class with the shared photos) are a
fixed validation set, the same for every run, so an accuracy is not quantised by one or two
validation photos. For each size k and seed, k photos per class are drawn from the pool
(seeded) into a folder with its own train/ and val/ folders (hard links: same bytes), and the
real quick-mode `fit` trains on it, as the app does (`TrainConfig.quick(seed=seed)`). Two
heads: "imagenet head", the app's default here, where the class names are ImageNet's and the
head starts from ImageNet's cheetah and lion rows; and "fresh head" (`init_from_imagenet=False`),
what any class ImageNet does not name gets, which shows the features alone. Each figure is
the best-epoch validation accuracy, mean and worst over the seeds. One home for all runs, so
every photo's features are computed once per network (the feature store), and then only the
heads train: accuracy is all these runs measure.

Speed. The pretrained network's frozen features on onnxruntime (the path the app takes for
any job of 200 photos or more, checked against PyTorch first) and on PyTorch, for 32 real
photos decoded beforehand: median of `REPEATS` timed batches after one warm-up, so decoding
and the store are outside the clock. The batches are timed in turns (every network and
runtime once per round), so a change in the machine's other load touches all alike.

Size. The model file a quick run writes (backbone + head + "none of these" reference).

Compare. Last, `compare_networks` on the whole dataset (seed 0: 240 training, 60 validation
photos) in a fresh home, as a user's first Compare: each row's seconds include computing
every photo's features and exporting that network's feature graph (once per machine).

    .venv/bin/python benchmarks/networks.py            # full run (about 10 minutes on 2 CPUs)
    .venv/bin/python benchmarks/networks.py --quick    # checks the script
"""

from __future__ import annotations

import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

import _common
import numpy as np
import torch

from training.data.preprocessing import load_pixels
from training.data.scanning import scan_dataset
from training.fitting.compare import compare_networks
from training.fitting.trainer import fit
from training.models import onnx_features
from training.models.frozen import EXPORT_WORTHWHILE, FrozenFeatures
from training.models.networks import load_pretrained
from training.records.backbones import OFFLINE_BACKBONES, get_backbone
from training.records.config import TrainConfig

SIZES = (3, 5, 10, 20)
SEEDS = (0, 1, 2, 3, 4)
POOL = 50
"""Photos per class training subsets are drawn from; the rest validate."""
SPEED_BATCH = 32
REPEATS = 5
HEADS = {"imagenet head": True, "fresh head": False}


def main() -> int:
    parser = _common.parser(__doc__.split("\n\n")[0])
    args = parser.parse_args()
    data = _common.require_data(args.data)
    work = _common.workspace("networks")
    photos = _common.class_photos(data)
    sizes, seeds, pool = ((3, 5), (0, 1), 10) if args.quick else (SIZES, SEEDS, POOL)
    validation = {name: files[pool:] for name, files in photos.items()}
    if args.quick:
        validation = {name: files[:8] for name, files in validation.items()}
    accuracy = _accuracy(work, photos, validation, sizes, seeds, pool)
    speed = _speeds(photos)
    compared = _compare(work, data, args.quick)
    results = {"accuracy": accuracy, "speed": speed, "compare": compared,
               "sizes": list(sizes), "seeds": list(seeds), "pool_per_class": pool,
               "validation_per_class": {k: len(v) for k, v in validation.items()}}
    _common.report(args, "Offline networks (issue 14)", _text(results), results)
    return 0


def _accuracy(work: Path, photos: dict[str, list[Path]], validation: dict[str, list[Path]],
              sizes: tuple[int, ...], seeds: tuple[int, ...], pool: int
              ) -> dict[str, dict[str, dict[str, Any]]]:
    """{network: {head: {k: {"mean", "worst", "runs", "model_mb"}}}}."""
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for name in OFFLINE_BACKBONES:
        for head, from_imagenet in HEADS.items():
            for k in sizes:
                accuracies, size_mb = [], 0.0
                for seed in seeds:
                    folder = _subset(work / "subsets" / f"k{k}-s{seed}", photos, validation,
                                     k, seed, pool)
                    config = TrainConfig.quick(backbone=name, seed=seed,
                                               init_from_imagenet=from_imagenet)
                    result = fit(config, scan_dataset(folder))
                    accuracies.append(result.best_val_accuracy)
                    size_mb = result.model_path.stat().st_size / 1e6
                _common.progress(f"{name} {head} k={k}: {accuracies}")
                results.setdefault(name, {}).setdefault(head, {})[str(k)] = {
                    "mean": statistics.fmean(accuracies), "worst": min(accuracies),
                    "runs": accuracies, "model_mb": size_mb}
    return results


def _subset(folder: Path, photos: dict[str, list[Path]], validation: dict[str, list[Path]],
            k: int, seed: int, pool: int) -> Path:
    """folder/train/<class>/ (k drawn from the pool) and folder/val/<class>/ (fixed)."""
    if folder.exists():
        return folder
    for name, files in photos.items():
        chosen = random.Random(f"{seed}/{name}").sample(files[:pool], k)
        for part, members in (("train", chosen), ("val", validation[name])):
            (folder / part / name).mkdir(parents=True, exist_ok=True)
            for photo in members:
                os.link(photo, folder / part / name / photo.name)
    return folder


def _speeds(photos: dict[str, list[Path]]) -> dict[str, dict[str, float]]:
    """Features images/s of every network on onnxruntime and on PyTorch, pixels decoded
    beforehand, timed in turns (round after round over every network and runtime), so a
    change in the machine's other load touches them all alike."""
    files = [path for paths in photos.values() for path in paths][:SPEED_BATCH]
    runners: dict[tuple[str, str], tuple[FrozenFeatures, torch.Tensor]] = {}
    results: dict[str, dict[str, float]] = {}
    for name in OFFLINE_BACKBONES:
        backbone = get_backbone(name)
        pixels = torch.from_numpy(np.stack(
            [load_pixels(path, backbone.preprocessing).transpose(2, 0, 1) for path in files]))
        network = load_pretrained(backbone)
        started = time.perf_counter()
        onnx = FrozenFeatures(network, backbone.preprocessing, torch.device("cpu"))
        assert onnx.prepare(EXPORT_WORTHWHILE) == "onnxruntime", f"{name}: no usable graph"
        results[name] = {"graph_seconds": time.perf_counter() - started}
        plain = FrozenFeatures(network, backbone.preprocessing, torch.device("cpu"))
        os.environ[onnx_features.DISABLE_ENV] = "1"
        try:
            assert plain.prepare(EXPORT_WORTHWHILE) == "pytorch"
        finally:
            del os.environ[onnx_features.DISABLE_ENV]
        runners[name, "onnxruntime"] = onnx, pixels
        runners[name, "pytorch"] = plain, pixels
    times: dict[tuple[str, str], list[float]] = {key: [] for key in runners}
    for frozen, pixels in runners.values():
        frozen(pixels[:4])  # warm-up
    for _ in range(REPEATS):
        for key, (frozen, pixels) in runners.items():
            started = time.perf_counter()
            frozen(pixels)
            times[key].append(time.perf_counter() - started)
    for (name, runtime), seconds in times.items():
        results[name][runtime] = SPEED_BATCH / statistics.median(seconds)
    _common.progress(f"features: {results}")
    return results


def _compare(work: Path, data: Path, quick: bool) -> list[dict[str, Any]]:
    """`compare_networks` on the whole dataset in a fresh home (a user's first Compare)."""
    _common.fresh_home(work, "compare", work / "compare-graphs")
    dataset = scan_dataset(_common.subset(data, 12 if quick else None, work / "compare-data"))
    started = time.perf_counter()
    rows = compare_networks(dataset)
    _common.progress(f"compare: {time.perf_counter() - started:.1f} s")
    return [{"network": r.network, "val_accuracy": r.val_accuracy, "val_loss": r.val_loss,
             "baseline": r.baseline_accuracy, "seconds": r.seconds,
             "images_per_second": r.images_per_second, "runtime": r.runtime,
             "model_mb": r.model_mb, "error": r.error} for r in rows]


def _text(results: dict[str, Any]) -> str:
    base = OFFLINE_BACKBONES[0]
    lines = []
    for head in HEADS:
        rows = []
        for name in OFFLINE_BACKBONES:
            cells = results["accuracy"][name][head]
            rows.append([name, *[f"{cells[str(k)]['mean']:.3f} / {cells[str(k)]['worst']:.3f}"
                                 for k in results["sizes"]]])
        lines.append(f"Validation accuracy, {head} (mean / worst of {len(results['seeds'])} "
                     f"seeds; fixed validation set of "
                     f"{sum(results['validation_per_class'].values())} photos)")
        lines.append(_common.table(["network", *[f"k={k}/class" for k in results["sizes"]]],
                                   rows))
        lines.append("")
    speed, accuracy = results["speed"], results["accuracy"]
    first_head = next(iter(HEADS))
    rows = []
    for name in OFFLINE_BACKBONES:
        size = accuracy[name][first_head][str(results["sizes"][0])]["model_mb"]
        base_size = accuracy[base][first_head][str(results["sizes"][0])]["model_mb"]
        rows.append([name, speed[name]["onnxruntime"],
                     speed[name]["onnxruntime"] / speed[base]["onnxruntime"],
                     speed[name]["pytorch"], speed[name]["pytorch"] / speed[base]["pytorch"],
                     size, size / base_size, speed[name]["graph_seconds"]])
    lines.append(f"Features (images/s, batch {SPEED_BATCH}, median of {REPEATS}) and model "
                 "size; ratios ÷ Lite0")
    lines.append(_common.table(["network", "onnxruntime", "÷ lite0", "pytorch", "÷ lite0",
                                "model MB", "÷ lite0", "graph export s"], rows))
    lines.append("")
    rows = [[r["network"], r["val_accuracy"], r["val_loss"], r["baseline"], r["seconds"],
             r["images_per_second"], r["runtime"], r["model_mb"], r["error"] or ""]
            for r in results["compare"]]
    lines.append("compare_networks on the whole dataset, first time (fresh home)")
    lines.append(_common.table(["network", "val acc", "val loss", "baseline", "seconds",
                                "img/s", "runtime", "MB", "error"], rows))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
