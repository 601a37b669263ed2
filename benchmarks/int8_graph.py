"""The 8-bit feature graph against the float one (issue 26): speed, agreement, accuracy.

Both graphs of one offline network (`--backbone`, default EfficientNet-Lite0; Lite1 and Lite2
at their own image sizes) run in this one process:
- images/s: the same decoded photos, batch 32, float and 8-bit interleaved, median of
  `--rounds` rounds (a ratio: other work on the machine slows both sides alike);
- agreement: each photo's feature cosine (mean, worst) with the float graph's, on the shared
  photos and on 48-pixel grey thumbnails of them, and on the engine's check images
  (synthetic, natural-looking: what `int8_features` thresholds are chosen from);
- accuracy: a linear head (`_logistic.fit_softmax`, what quick training fits on frozen
  features) trained and validated on the same random splits with float features and with
  8-bit features, on all photos and few-shot (5 per class), photos and grey thumbnails,
  and a float-trained head classifying 8-bit features (the mixed case the engine refuses);
- calibration data: the 8-bit graph calibrated on the engine's fixed synthetic images
  (what the app ships) against one calibrated on 40 real photos (left out of every split);
- the engine's own check: whether `pretrained_frozen(backbone)` under
  `CHEETAHLION_PRECISION=int8` builds, checks and uses the 8-bit graph, or refuses it (why).

`--quick`: 24 photos, 2 rounds, 2 splits (the numbers mean nothing; it checks the script).
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

import _common
import numpy as np
import torch
from _logistic import fit_softmax
from never_worse import grey_thumbnail

from training.core.errors import ConfigError
from training.core.runtime import PRECISION_ENV
from training.data.images import decode_image
from training.data.preprocessing import resize_and_crop
from training.models import int8_features, onnx_features
from training.models.embedding import embed_files
from training.models.frozen import pretrained_frozen
from training.records.backbones import DEFAULT_BACKBONE

BATCH = 32


def _pixels(paths: list[Path], prep: Any, degrade: bool) -> np.ndarray:
    rows = []
    for path in paths:
        image = decode_image(path).image
        if degrade:
            image = grey_thumbnail(image)
        rows.append(resize_and_crop(image.convert("RGB"), prep).transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(rows))


def _features(runner: Any, pixels: np.ndarray) -> np.ndarray:
    return np.concatenate([runner(pixels[i:i + BATCH]) for i in range(0, len(pixels), BATCH)])


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _speed(runners: dict[str, Any], pixels: np.ndarray, rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in runners}
    for runner in runners.values():
        runner(pixels[:BATCH])  # warm-up
    for _ in range(rounds):
        for name, runner in runners.items():
            start = time.perf_counter()
            _features(runner, pixels)
            times[name].append(time.perf_counter() - start)
    return {name: len(pixels) / statistics.median(values) for name, values in times.items()}


def _accuracy(train: dict[str, np.ndarray], test: dict[str, np.ndarray], labels: np.ndarray,
              splits: int, per_class: int | None) -> dict[str, float]:
    """Mean validation accuracy per feature kind (`train[kind]` fits, `test[kind]` scores)."""
    return {kind: statistics.mean(values)
            for kind, values in _split_scores(train, test, labels, splits, per_class).items()}


def _split_scores(train: dict[str, np.ndarray], test: dict[str, np.ndarray], labels: np.ndarray,
                  splits: int, per_class: int | None) -> dict[str, list[float]]:
    """Each split's validation accuracy per feature kind, the splits the same for every kind
    (paired: `int8_variants.py` reports the spread of the differences)."""
    scores: dict[str, list[float]] = {kind: [] for kind in test}
    classes = int(labels.max()) + 1
    for seed in range(splits):
        draw = np.random.default_rng(seed)
        fit_rows, val_rows = [], []
        for label in range(classes):
            rows = draw.permutation(np.flatnonzero(labels == label))
            cut = per_class or int(len(rows) * 0.6)
            fit_rows += list(rows[:cut])
            val_rows += list(rows[cut:])
        for kind in test:
            source = train[kind]
            mean = source[fit_rows].mean(0)
            scale = source[fit_rows].std(0).mean() + 1e-6
            weights, biases = fit_softmax(torch.from_numpy((source[fit_rows] - mean) / scale),
                                          torch.from_numpy(labels[fit_rows]), classes)
            logits = torch.from_numpy((test[kind][val_rows] - mean) / scale) @ weights + biases
            scores[kind].append(float((logits.argmax(1).numpy() == labels[val_rows]).mean()))
    return scores


def _end_to_end(paths: list[Path], rounds: int, backbone: str) -> dict[str, Any]:
    """The engine's own road (`embed_files`: read, hash, decode, resize, network; no store),
    float and int8 FrozenFeatures interleaved; the int8 one built and checked by the engine
    (a refusal is reported, not raised)."""
    os.environ[PRECISION_ENV] = "int8"
    started = time.perf_counter()
    eight = pretrained_frozen(backbone)
    try:
        eight.prepare(10_000)
    except ConfigError as refused:
        return {"engine_check": f"refused: {refused}"}
    build_seconds = time.perf_counter() - started
    os.environ[PRECISION_ENV] = "float"
    plain = pretrained_frozen(backbone)
    plain.prepare(10_000)
    times: dict[str, list[float]] = {"float": [], "int8": []}
    for _ in range(rounds):
        for name, frozen in (("float", plain), ("int8", eight)):
            start = time.perf_counter()
            for _batch in embed_files(paths, frozen, None):
                pass
            times[name].append(time.perf_counter() - start)
    speeds = {name: len(paths) / statistics.median(values) for name, values in times.items()}
    return {"engine_check": "passed" if eight.precision == "int8" else f"not used: {eight.refusal}",
            "labels": [plain.features_label, eight.features_label],
            "build_and_check_seconds": round(build_seconds, 1),
            "images_per_s": {k: round(v, 1) for k, v in speeds.items()},
            "ratio": round(speeds["int8"] / speeds["float"], 2)}


def main() -> None:
    parser = _common.parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE,
                        help="an offline network (training/records/backbones.py), e.g. "
                             "efficientnet_lite1 or efficientnet_lite2")
    args = parser.parse_args()
    root = _common.workspace("int8")
    classes = _common.class_photos(_common.require_data(args.data))
    names = sorted(classes)
    draw = np.random.default_rng(26)
    calibration_paths: list[Path] = []
    paths, labels = [], []
    for label, name in enumerate(names):
        photos = list(draw.permutation(classes[name]))
        calibration_paths += photos[:20]
        keep = photos[20:][: 12 if args.quick else None]
        paths += keep
        labels += [label] * len(keep)
    frozen = pretrained_frozen(args.backbone)
    prep = frozen.prep
    _common.progress("exporting and checking the float graph")
    frozen.prepare(10_000)
    float_path = onnx_features.graph_path(frozen.digest, prep)
    float_graph = onnx_features.session_from_bytes(float_path)
    assert float_graph is not None, "no float graph (onnxruntime missing?)"
    data = float_path.read_bytes()
    graphs = {}
    for kind, calibration in (("synthetic", None),
                              ("real", _pixels(calibration_paths, prep, False))):
        target = root / f"int8-{kind}.onnx"
        _common.progress(f"quantizing, calibrated on {kind} images")
        start = time.perf_counter()
        assert int8_features.quantize(data, target, prep.crop, calibration)
        graphs[kind] = onnx_features.session_from_bytes(target)
        graphs[f"{kind}_seconds"] = time.perf_counter() - start
    _common.progress("decoding photos")
    sets = {"photos": _pixels(paths, prep, False), "grey 48 px": _pixels(paths, prep, True)}
    label_array = np.array(labels)
    results: dict[str, Any] = {"backbone": args.backbone, "crop": prep.crop,
                               "photos": len(paths), "quantize_seconds": {
        kind: round(graphs[f"{kind}_seconds"], 1) for kind in ("synthetic", "real")}}
    speed_pixels = sets["photos"][: 192 if not args.quick else 64]
    _common.progress("timing")
    speed = _speed({"float": float_graph, "int8": graphs["synthetic"]}, speed_pixels,
                   2 if args.quick else args.rounds)
    results["images_per_s"] = {k: round(v, 1) for k, v in speed.items()}
    results["speed_ratio"] = round(speed["int8"] / speed["float"], 2)
    check_rows = []
    for seed in range(3 if args.quick else 10):
        pixels = onnx_features.unpredictable_pixels(prep.crop, int8_features.CHECK_IMAGES,
                                                    seed=1000 + seed)
        found = int8_features.agreement(graphs["synthetic"], float_graph,
                                        frozen.network.get_classifier(), pixels)
        check_rows.append((found.mean_cosine, found.centred_cosine, found.probability_shift,
                           found.close))
    results["check_images"] = {"sets_passed": f"{sum(r[3] for r in check_rows)}/{len(check_rows)}",
                               "mean_cosine_lowest": min(r[0] for r in check_rows),
                               "centred_cosine_lowest": min(r[1] for r in check_rows),
                               "probability_shift_highest": max(r[2] for r in check_rows)}
    rows = []
    for set_name, pixels in sets.items():
        _common.progress(f"features and heads: {set_name}")
        features = {"float": _features(float_graph, pixels)}
        for kind in ("synthetic", "real"):
            features[kind] = _features(graphs[kind], pixels)
        cos = {kind: _cosines(features[kind], features["float"]) for kind in ("synthetic", "real")}
        test = {"float": features["float"], "synthetic": features["synthetic"],
                "real": features["real"], "float head, int8 features": features["synthetic"]}
        train = {**test, "float head, int8 features": features["float"]}
        splits = 2 if args.quick else args.splits
        for shots in (None, 5):
            accuracy = _accuracy(train, test, label_array, splits, shots)
            rows.append((set_name, "all (60 %)" if shots is None else "5 per class",
                         accuracy["float"], accuracy["synthetic"], accuracy["real"],
                         accuracy["float head, int8 features"]))
        results[set_name] = {kind: {"mean_cosine": float(c.mean()), "worst_cosine": float(c.min())}
                             for kind, c in cos.items()}
    results["accuracy"] = [list(row) for row in rows]
    _common.progress("end to end through the engine")
    end = _end_to_end(paths, 2 if args.quick else 3, args.backbone)
    results["end_to_end"] = end
    text = (f"{args.backbone} at {prep.crop} px\n"
            f"images/s, batch {BATCH}, {len(speed_pixels)} photos, median of rounds: float "
            f"{speed['float']:.1f}, int8 {speed['int8']:.1f} -> x{results['speed_ratio']}\n"
            f"quantizing took {results['quantize_seconds']} s\n"
            f"check images (10 x {int8_features.CHECK_IMAGES}): {results['check_images']}\n"
            + "\n".join(f"{s} cosine vs float: {results[s]}" for s in sets) + "\n\n"
            + f"end to end (embed_files, {len(paths)} JPEGs, no store): {end}\n\n"
            + _common.table(("set", "training photos", "float", "int8 synthetic-cal",
                             "int8 real-cal", "float head on int8"), rows))
    _common.report(args, "8-bit frozen graph (issue 26)", text, results)


if __name__ == "__main__":
    main()
