"""A fine-tune that pays on a CPU (issue 25): quick vs partial vs full fine-tune, side by side.

`--costs`: what one training step costs at each cut of EfficientNet-Lite0 (the last k blocks
from stored activations) against a full fine-tune step, and the activations' size per image
(`_cut_costs.py`); the cut of `TrainConfig.partial()` was chosen from these.

Otherwise each setting draws a folder from the shared photos with the engine's `train/`,
`val/` and `test/` layout (`_subsets.few_shot_folder`), under neutral class names (a head from
scratch: quick mode is not handed ImageNet's answer), once per seed:

- `photos`: `--per-class` training photos of each class (90), 30 validation, the rest test;
- `few-shot`: 5 training photos of each class;
- `grey 48 px, crops`: a heavy random crop (a third to a half of each side) of every photo,
  as a 48-pixel grey thumbnail: quick mode is far from its ceiling there.
- `hard copies`: every shared photo as three hard copies (`_hard_set.py`, below).

Each seed trains quick mode, the partial fine-tune and (seed 0 only, `--full-epochs` epochs)
the full fine-tune, each in a fresh CHEETAHLION_HOME (an empty feature store: the wall time
to the kept model includes computing every feature and activation; the ONNX graph is shared,
exported before any clock). Reported: validation accuracy (the kept model's), test accuracy
(the saved model through `Predictor`, what Classify shows), seconds to the kept model,
seconds per epoch (partial ÷ full on the same data) and partial's total ÷ quick's.
`--sweep` instead trains each of `VARIANTS` (quick mode and partial fine-tunes with one
setting changed) on `--sweep-setting` (`hard copies`: every shared photo as three grey
48-px heavy crops, about 585 training images, `_hard_set.py`), `--seeds` seeds side by side:
what validation can choose the defaults by.

`--bottom-speed`: the bottom pass (the activations at the cut) on PyTorch eager and on its
onnxruntime graph (`training.models.onnx_cut`) on the same decoded photos, interleaved rounds;
then whole partial runs from an empty store on `--bottom-setting` (the hard set), the bottom
on eager and on onnxruntime alternately (`--bottom-pairs` pairs), each with the seconds to
the kept model split into quick mode's features, the activations and the epochs, and the
Train step's estimate (`cheetahlion_gui/train/estimate.py`, this machine probed just before)
against the run's seconds; `--estimate-sizes` adds onnxruntime runs on real photos with
that many training photos per class, for the estimate's factor.

    .venv/bin/python benchmarks/partial_finetune.py --costs
    .venv/bin/python benchmarks/partial_finetune.py --bottom-speed
    .venv/bin/python benchmarks/partial_finetune.py            # minutes
    .venv/bin/python benchmarks/partial_finetune.py --quick    # checks the script
"""

from __future__ import annotations

import hashlib
import random
import statistics
import tempfile
from pathlib import Path
from typing import Any

import _common
import numpy as np
from _hard_set import hard_folder
from _subsets import few_shot_folder
from calibration import _neutral
from PIL import Image, ImageOps

from training.data.scanning import scan_dataset
from training.fitting.trainer import fit
from training.predict.inference import Predictor
from training.records.config import TrainConfig


def grey_crop(image: Image.Image) -> Image.Image:
    """A heavy crop (a third to a half of each side, drawn from the photo's own pixels) as a
    48-pixel grey thumbnail, scaled back up to 64 pixels."""
    image = image.convert("RGB")
    draw = random.Random(hashlib.blake2b(image.resize((8, 8)).tobytes()).hexdigest())
    side = draw.uniform(1 / 3, 1 / 2)
    width, height = int(image.width * side), int(image.height * side)
    left = draw.randint(0, image.width - width)
    top = draw.randint(0, image.height - height)
    small = ImageOps.grayscale(image.crop((left, top, left + width, top + height)))
    return small.resize((48, 48), Image.Resampling.BILINEAR).resize(
        (64, 64), Image.Resampling.BILINEAR).convert("RGB")


HARD = "hard copies"
SETTINGS = {"photos": (None, None), "few-shot": (None, 5), "grey 48 px, crops": (grey_crop, None),
            HARD: (None, None)}
"""Each setting: how its photos are degraded, and its training photos per class (None:
--per-class); `hard copies` is its own set (`_hard_set.py`)."""

VARIANTS: dict[str, dict[str, Any]] = {
    "quick": {"mode": "quick"},
    "partial (1e-4, 2 views, 1 block)": {},
    "lr 3e-4": {"learning_rate": 3e-4},
    "no views": {"feature_views": 0},
    "label smoothing 0.1": {"label_smoothing": 0.1},
    "2 blocks": {"top_blocks": 2},
}
"""`--sweep`'s settings, each `TrainConfig.partial()` with these changes (`quick`: plain
quick mode, the reference); `--variants` picks some by name."""


def _folder(args: Any, setting: str, seed: int, root: Path) -> Path:
    if setting == HARD:
        return hard_folder(args.data, seed, Path(tempfile.mkdtemp(dir=root)))
    degrade, per_class = SETTINGS[setting]
    folder = few_shot_folder(args.data, per_class or args.per_class, args.val_per_class, seed,
                             Path(tempfile.mkdtemp(dir=root)), degrade)
    _neutral(folder)
    return folder


def _test_accuracy(model: Path, dataset: Any, indices: tuple[int, ...]) -> float:
    predictor = Predictor.from_file(model)
    paths = [str(dataset.images[i].path) for i in indices]
    truth = [dataset.classes[dataset.images[i].label] for i in indices]
    answers = [predictor.classes[int(np.argmax(p.probabilities))]
               for p in predictor.predict(paths)]
    return float(np.mean([a == t for a, t in zip(answers, truth, strict=True)]))


def one_run(config: TrainConfig, folder: Path, root: Path, name: str) -> dict[str, Any]:
    """Train `config` on `folder` in a fresh home; the kept model's figures."""
    _common.fresh_home(root, name, root / "graphs")
    dataset = scan_dataset(folder)
    result = fit(config, dataset, output=root / f"{name}.safetensors")
    epochs = [event.seconds for event in result.history]
    kept = result.kept
    return {"mode": config.mode, "val": result.best_val_accuracy,
            "test": _test_accuracy(result.model_path, dataset, result.split.part("test")),
            "seconds": result.seconds, "epoch_s": statistics.fmean(epochs) if epochs else None,
            "epochs": len(epochs),
            "quick_val": kept.start_accuracy if kept and config.mode == "partial" else None,
            "share": kept.trained_share if kept else None}


def compare(args: Any, root: Path) -> list[dict[str, Any]]:
    rows = []
    for setting in args.settings:
        for seed in range(args.seeds):
            folder = _folder(args, setting, seed, root)
            configs = [TrainConfig.quick(seed=seed), TrainConfig.partial(seed=seed)]
            if seed == 0 and args.full_epochs:
                configs.append(TrainConfig.finetune(seed=seed, epochs=args.full_epochs))
            for config in configs:
                row = one_run(config, folder, root, f"{setting}-{seed}-{config.mode}")
                rows.append({"setting": setting, "seed": seed, **row})
                _common.progress(str(rows[-1]))
    return rows


def sweep(args: Any, root: Path) -> list[dict[str, Any]]:
    """Each of `--variants` on `--sweep-setting`, seeds side by side: quick mode in a fresh
    home, the partial variants in one other home per seed, so the first of them pays every
    feature and activation (its seconds are a fresh run's) and the rest differ in their
    epochs (and in what a new cut or view needs)."""
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        dataset = scan_dataset(_folder(args, args.sweep_setting, seed, root))
        partial_home = False
        for name in args.variants:
            if name == "quick" or not partial_home:  # each pays its own features once
                _common.fresh_home(root, f"sweep-{seed}-{name[:5]}", root / "graphs")
                partial_home = name != "quick"
            changes = dict(VARIANTS[name])
            config = (TrainConfig.quick(seed=seed) if changes.pop("mode", None) == "quick"
                      else TrainConfig.partial(seed=seed, **changes))
            result = fit(config, dataset, output=root / "sweep.safetensors")
            epochs = [event.seconds for event in result.history]
            kept = result.kept
            rows.append({"variant": name, "seed": seed, "val": result.best_val_accuracy,
                         "quick_val": kept.start_accuracy if kept else None,
                         "test": _test_accuracy(result.model_path, dataset,
                                                result.split.part("test")),
                         "best_epoch": result.best_epoch, "epochs": len(epochs),
                         "epoch_s": statistics.fmean(epochs) if epochs else None,
                         "seconds": result.seconds,
                         "share": kept.trained_share if kept else None})
            _common.progress(str(rows[-1]))
    return rows


def summary(rows: list[dict[str, Any]]) -> list[tuple[object, ...]]:
    """Per setting and mode: mean val, test, seconds and seconds per epoch over seeds."""
    table = []
    for setting in SETTINGS:
        full = [r for r in rows if r["setting"] == setting and r["mode"] == "finetune"]
        quick = [r for r in rows if r["setting"] == setting and r["mode"] == "quick"]
        for mode in ("quick", "partial", "finetune"):
            chosen = [r for r in rows if r["setting"] == setting and r["mode"] == mode]
            if not chosen:
                continue
            mean = {key: statistics.fmean(r[key] for r in chosen)
                    for key in ("val", "test", "seconds")}
            epoch = [r["epoch_s"] for r in chosen if r["epoch_s"]]
            per_epoch = statistics.fmean(epoch) if epoch else None
            versus_full = (per_epoch / statistics.fmean(r["epoch_s"] for r in full)
                           if full and per_epoch and mode == "partial" else None)
            versus_quick = (mean["seconds"] / statistics.fmean(r["seconds"] for r in quick)
                            if quick else None)
            table.append((setting, mode, len(chosen), f"{mean['val']:.3f}", f"{mean['test']:.3f}",
                          f"{mean['seconds']:.1f}", f"{per_epoch:.2f}" if per_epoch else "",
                          f"{versus_full:.3f}" if versus_full else "",
                          f"{versus_quick:.2f}" if versus_quick else ""))
    return table


def bottom_speed(args: Any) -> None:
    """`--bottom-speed` (module docstring): the pass alone, then whole runs."""
    import _cut_costs

    args.data = _common.require_data(args.data)
    root = _common.workspace("bottom-speed")
    _common.fresh_home(root, "speed", root / "graphs")
    photos = sorted(args.data.glob("*/*.jpg"))[:2 if args.quick else args.bottom_photos]
    speed = _cut_costs.bottom_speed(photos, 1, 2 if args.quick else args.bottom_rounds) \
        if photos else None  # --bottom-photos 0: whole runs only
    _common.progress(str(speed))
    if args.quick:
        args.bottom_pairs, args.estimate_sizes, args.per_class = 0, [4], 4
    rows = bottom_runs(args, root)
    text = "" if speed is None else _common.table(
        ("photos", "eager img/s", "onnxruntime img/s", "× faster", "decode ms / photo",
         "max |Δ|", "max |Δ| / scale"),
        [(speed["images"], f"{speed['eager_images_s']:.1f}", f"{speed['onnx_images_s']:.1f}",
          f"{speed['speed_up']:.2f}", f"{speed['decode_ms']:.1f}",
          f"{speed['max_abs_difference']:.2g}", f"{speed['max_relative_difference']:.2g}")])
    if rows:
        text += "\n\n" + _common.table(list(rows[0]), [list(r.values()) for r in rows])
    _common.report(args, "the bottom pass: eager vs onnxruntime", text,
                   {"speed": speed, "runs": rows})


def bottom_runs(args: Any, root: Path) -> list[dict[str, Any]]:
    """Whole partial runs from an empty store, the bottom on eager and onnxruntime
    alternately, then onnxruntime runs on `--estimate-sizes` (`_bottom_runs.py`)."""
    import _bottom_runs

    folders = [(args.bottom_setting, _folder(args, args.bottom_setting, 0, root))]
    for per_class in args.estimate_sizes:
        args.per_class = per_class
        folders.append((f"photos {per_class}/class", _folder(args, "photos", 0, root)))
    return _bottom_runs.runs(folders, args.bottom_pairs, root, tuple(args.bottom_sides))


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--costs", action="store_true", help="the cost of a step at each cut")
    parser.add_argument("--sweep", action="store_true", help="partial settings side by side")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="--sweep: the seeds' first")
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--per-class", type=int, default=90)
    parser.add_argument("--val-per-class", type=int, default=30)
    parser.add_argument("--full-epochs", type=int, default=2)
    parser.add_argument("--sweep-setting", choices=list(SETTINGS), default=HARD)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--bottom-speed", action="store_true",
                        help="the bottom pass on eager vs onnxruntime, then whole runs")
    parser.add_argument("--bottom-photos", type=int, default=64)
    parser.add_argument("--bottom-rounds", type=int, default=5)
    parser.add_argument("--bottom-pairs", type=int, default=1,
                        help="--bottom-speed: whole runs, eager and onnxruntime (0: none)")
    parser.add_argument("--bottom-sides", nargs="+", choices=("eager", "onnxruntime"),
                        default=["eager", "onnxruntime"], help="--bottom-speed: the runs' bottoms")
    parser.add_argument("--bottom-setting", choices=list(SETTINGS), default=HARD)
    parser.add_argument("--estimate-sizes", type=int, nargs="*", default=[],
                        help="--bottom-speed: onnxruntime runs on real photos, per class")
    args = parser.parse_args()
    if args.bottom_speed:
        bottom_speed(args)
        return
    if args.costs:
        import _cut_costs

        rows = _cut_costs.measure((0, 1, 2, 3, 5, 7), 16, 224, 3 if args.quick else 7)
        _common.report(args, "cost of one step at each cut (batch 16, 224 px)", _common.table(
            ("cut", "step s", "÷ full", "MB / image", "MB 600×5"),
            [(r["cut"], r["step_s"], r["ratio"], r["mb_per_image"], r["mb_600x5"])
             for r in rows]), {"rows": rows})
        return
    if args.quick:
        args.seeds, args.per_class, args.val_per_class, args.full_epochs = 1, 4, 3, 1
        args.variants = ["quick", "partial (1e-4, 2 views, 1 block)"]
    args.data = _common.require_data(args.data)
    root = _common.workspace("partial-finetune")
    if args.sweep:
        rows = sweep(args, root)
        _common.report(args, "partial fine-tune: what validation can choose", _common.table(
            list(rows[0]), [list(r.values()) for r in rows]), {"rows": rows})
        return
    rows = compare(args, root)
    _common.report(args, "quick vs partial vs full fine-tune", _common.table(
        ("setting", "mode", "seeds", "val", "test", "seconds", "s / epoch",
         "epoch ÷ full", "÷ quick"), summary(rows)), {"runs": rows})


if __name__ == "__main__":
    main()
