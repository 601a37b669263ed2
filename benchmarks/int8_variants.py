"""8-bit graph variants that keep sensitive layers in float (issue 26, round 3).

The engine's 8-bit graph (`int8_features.quantize`: static QDQ, per-channel int8 weights,
uint8 activations, reduce_range, MinMax on 40 synthetic images) loses ~2 points of linear-head
accuracy on 48-pixel grey thumbnails. Each variant here changes one thing about it and is
compared, in this one process, with the float graph the engine exports:
- speed: graph-only images/s over the float graph's, float and every variant interleaved,
  median of `--rounds` rounds (batch 32, the same decoded photos);
- agreement: each photo's feature cosine with the float graph's (mean, worst), on the shared
  photos and on their grey 48-pixel thumbnails (`never_worse.grey_thumbnail`);
- accuracy: a linear head on grey thumbnails (`int8_graph._split_scores`: 60 % of each class
  fits, the rest scores), `--splits` random splits, the same for float and every variant;
  "± s.e." is the standard error of the per-split difference from float;
- the engine's own check (`int8_features.agreement` on synthetic check images): sets passed
  of 5, and the lowest centred cosine.

Variants (calibration is always the engine's synthetic images, never a user photo): Convs
kept in float by their weight's name (`nodes_to_exclude`: stem, head, the first block or
only its depthwise Conv, the first blocks, the last block); activations calibrated by
percentile instead of min/max; calibration on the synthetic images plus grey thumbnails
of them; full 8-bit weights (no reduce_range).

`--quick`: 24 photos, 2 rounds, 1 split (the numbers mean nothing; it checks the script).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import _common
import numpy as np
from int8_graph import _cosines, _features, _pixels, _speed, _split_scores
from never_worse import grey_thumbnail
from PIL import Image

from training.data.preprocessing import resize_and_crop
from training.models import int8_features, onnx_features
from training.models.frozen import pretrained_frozen
from training.records.backbones import DEFAULT_BACKBONE

VARIANTS: dict[str, dict[str, Any]] = {
    "engine (all int8)": {},
    "stem + head float": {"float_convs": ("network.conv_stem.", "network.conv_head.")},
    "stem + block 0 float": {"float_convs": ("network.conv_stem.", "network.blocks.0.")},
    "block 0 float": {"float_convs": ("network.blocks.0.",)},
    "block 0 depthwise float": {"float_convs": ("network.blocks.0.0.conv_dw.",)},
    "stem + blocks 0-1 float": {"float_convs": ("network.conv_stem.", "network.blocks.0.",
                                                "network.blocks.1.")},
    "stem + blocks 0-3 float": {"float_convs": ("network.conv_stem.", "network.blocks.0.",
                                                "network.blocks.1.", "network.blocks.2.",
                                                "network.blocks.3.")},
    "block 6 + head float": {"float_convs": ("network.blocks.6.", "network.conv_head.")},
    "percentile 99.999": {"method": "Percentile", "extra": {"CalibPercentile": 99.999}},
    "calibrated + grey synthetic": {"grey_calibration": True},
    "no reduce_range": {"reduce_range": False},
    "block 0 float + percentile": {"float_convs": ("network.blocks.0.",), "method": "Percentile",
                                   "extra": {"CalibPercentile": 99.999}},
    "no reduce_range + head float": {"reduce_range": False,
                                     "float_convs": ("network.conv_head.",)},
    "no reduce_range + block 6 + head float": {"reduce_range": False, "float_convs": (
        "network.blocks.6.", "network.conv_head.")},
    "no reduce_range, calibration seed 27": {"reduce_range": False, "seed": 27},
    "no reduce_range + percentile": {"reduce_range": False, "method": "Percentile",
                                     "extra": {"CalibPercentile": 99.999}},
    "no reduce_range + entropy": {"reduce_range": False, "method": "Entropy"},
    "no reduce_range + stem + blocks 0-1 float": {"reduce_range": False, "float_convs": (
        "network.conv_stem.", "network.blocks.0.", "network.blocks.1.")},
}
"""Name -> what differs from the engine's settings. `float_convs`: weight-name prefixes of
the Conv nodes left unquantized (`nodes_to_exclude`)."""


def _convs_named(model: Any, prefixes: tuple[str, ...]) -> list[str]:
    """Names of the Conv nodes whose weight input starts with one of `prefixes`."""
    return [node.name for node in model.graph.node
            if node.op_type == "Conv" and node.input[1].startswith(prefixes)]


def _calibration(crop: int, prep: Any, grey: bool, seed: int = int8_features.CALIBRATION_SEED
                 ) -> np.ndarray:
    """The engine's synthetic calibration images (another `seed`: another 40 of the same
    kind), plus grey 48-px thumbnails of them."""
    pixels = onnx_features.unpredictable_pixels(crop, int8_features.CALIBRATION_IMAGES,
                                                seed=seed)
    if not grey:
        return pixels
    thumbs = [resize_and_crop(grey_thumbnail(Image.fromarray(row.transpose(1, 2, 0))),
                              prep).transpose(2, 0, 1) for row in pixels]
    return np.ascontiguousarray(np.concatenate([pixels, np.stack(thumbs)]))


def quantize_variant(float_path: Path, target: Path, prep: Any, variant: dict[str, Any]) -> int:
    """Quantize the float graph at `float_path` as the engine does, changed by `variant`;
    returns how many Convs stayed float."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    pixels = _calibration(prep.crop, prep, variant.get("grey_calibration", False),
                          variant.get("seed", int8_features.CALIBRATION_SEED))
    excluded = _convs_named(onnx.load(str(float_path)), variant.get("float_convs", ()))

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"pixels": pixels[i:i + 8]} for i in range(0, len(pixels), 8)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    with int8_features.quiet_quantizer():
        quantize_static(str(float_path), str(target), Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, reduce_range=variant.get("reduce_range", True),
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=getattr(CalibrationMethod,
                                                 variant.get("method", "MinMax")),
                        nodes_to_exclude=excluded, extra_options=variant.get("extra", {}))
    return len(excluded)


def _photos(data: Path, quick: bool) -> tuple[list[Path], np.ndarray]:
    classes = _common.class_photos(_common.require_data(data))
    paths: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(sorted(classes)):
        keep = classes[name][: 12 if quick else None]
        paths += keep
        labels += [label] * len(keep)
    return paths, np.array(labels)


def _engine_check(graphs: dict[str, Any], crop: int, classifier: Any) -> dict[str, str]:
    """Whether each graph passes the engine's own check (`int8_features.agreement`) on 5
    sets of fresh synthetic check images, and its lowest centred cosine there."""
    found: dict[str, list[Any]] = {name: [] for name in graphs}
    for seed in range(5):
        pixels = onnx_features.unpredictable_pixels(crop, int8_features.CHECK_IMAGES,
                                                    seed=1000 + seed)
        for name, graph in graphs.items():
            found[name].append(int8_features.agreement(graph, graphs["float"], classifier,
                                                       pixels))
    return {name: f"{sum(a.close for a in rows)}/5 ({min(a.centred_cosine for a in rows):.2f})"
            for name, rows in found.items()}


def _rows(graphs: dict[str, Any], sets: dict[str, np.ndarray], labels: np.ndarray,
          splits: int, speed: dict[str, float]) -> list[tuple]:
    """One row per variant: speed ratio, cosines on both sets, grey-thumbnail accuracy."""
    features = {set_name: {name: _features(graph, pixels) for name, graph in graphs.items()}
                for set_name, pixels in sets.items()}
    grey = features["grey 48 px"]
    scores = {name: np.array(values)
              for name, values in _split_scores(grey, grey, labels, splits, None).items()}
    rows = []
    for name in graphs:
        cells: list[Any] = [name, speed[name] / speed["float"]]
        for set_name in sets:
            cos = _cosines(features[set_name][name], features[set_name]["float"])
            cells += [float(cos.mean()), float(cos.min())]
        ours, theirs = features["grey 48 px"][name], features["grey 48 px"]["float"]
        centre = theirs.mean(0, keepdims=True)
        cells.append(float(_cosines(ours - centre, theirs - centre).mean()))
        points = 100 * (scores[name] - scores["float"])
        cells += [float(scores[name].mean()), float(points.mean()),
                  float(points.std(ddof=1) / np.sqrt(len(points))) if len(points) > 1 else 0.0]
        rows.append(tuple(cells))
    return rows


def main() -> None:
    parser = _common.parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE)
    parser.add_argument("--only", nargs="*", default=None, metavar="VARIANT",
                        help=f"variants to run (default all): {', '.join(VARIANTS)}")
    args = parser.parse_args()
    root = _common.workspace("int8-variants")
    paths, labels = _photos(args.data, args.quick)
    frozen = pretrained_frozen(args.backbone)
    prep = frozen.prep
    _common.progress("exporting and checking the float graph")
    frozen.prepare(10_000)
    float_path = onnx_features.graph_path(frozen.digest, prep)
    graphs: dict[str, Any] = {"float": onnx_features.session_from_bytes(float_path)}
    assert graphs["float"] is not None, "no float graph (onnxruntime missing?)"
    details: dict[str, Any] = {}
    for index, name in enumerate(args.only or VARIANTS):
        _common.progress(f"quantizing: {name}")
        target = root / f"variant-{index}.onnx"
        start = time.perf_counter()
        kept = quantize_variant(float_path, target, prep, VARIANTS[name])
        graphs[name] = onnx_features.session_from_bytes(target)
        details[name] = {"float_convs": kept, "seconds": round(time.perf_counter() - start, 1),
                         **{k: v for k, v in VARIANTS[name].items() if k != "float_convs"}}
    _common.progress("decoding photos")
    sets = {"photos": _pixels(paths, prep, False), "grey 48 px": _pixels(paths, prep, True)}
    _common.progress("timing (interleaved rounds)")
    speed_pixels = sets["photos"][: 64 if args.quick else 192]
    speed = _speed(graphs, speed_pixels, 2 if args.quick else args.rounds)
    _common.progress("features and linear heads")
    rows = _rows(graphs, sets, labels, 1 if args.quick else args.splits, speed)
    checks = _engine_check(graphs, prep.crop, frozen.network.get_classifier())
    rows = [(*row, checks[row[0]]) for row in rows]
    headers = ("graph", "speed vs float", "photos cos mean", "photos cos worst",
               "grey cos mean", "grey cos worst", "grey centred cos", "grey accuracy",
               "points vs float", "± s.e. (paired)", "engine check (centred)")
    results = {"backbone": args.backbone, "crop": prep.crop, "photos": len(paths),
               "speed_photos": len(speed_pixels), "variants": details,
               "images_per_s": {k: round(v, 1) for k, v in speed.items()},
               "rows": [dict(zip(headers, row, strict=True)) for row in rows]}
    text = (f"{args.backbone} at {prep.crop} px, {len(paths)} photos; images/s batch 32 on "
            f"{len(speed_pixels)} photos, median of rounds: "
            + ", ".join(f"{k} {v:.1f}" for k, v in speed.items()) + "\n"
            + f"variants: {details}\n\n" + _common.table(headers, rows))
    _common.report(args, "8-bit graph variants: sensitive layers in float (issue 26)",
                   text, results)


if __name__ == "__main__":
    main()
