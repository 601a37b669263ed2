"""Kept-model validation accuracy with 8-bit vs float frozen features (issue 26).

The engine's own quick training (`fit`, `TrainConfig.quick`) on the same few-shot folders
(`_subsets.few_shot_folder`), once with `CHEETAHLION_PRECISION=float` and once with `int8`,
each in a fresh home (its own feature store; the graph folder shared, so the float graph
is exported and the 8-bit one quantized once): the shared photos under their real names
(the head may start from ImageNet's classes) and under neutral names, and 48-pixel grey
thumbnails under neutral names; and the whole shared folder as it is ("all photos", split
by `fit` itself); and the hard set (`_hard_set.hard_folder`: every shared photo as 3 grey,
heavily cropped 48-px copies, 3 kinds under neutral names, split train/val/test by seed).
`--per-class 5` gives the few-shot subsets. Reported: each run's kept-model validation
accuracy, what computed its features, and its seconds: quick training cold (an empty feature
store, so every photo is embedded; the float graph exported and the 8-bit one quantized and
checked before any clock, as the app does at start-up), float and int8 taking turns (the
order alternates by seed), medians and int8 ÷ float per setting.

`--quick`: 6 photos a class, one seed (numbers meaningless).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import _common
from _hard_set import hard_folder
from _subsets import few_shot_folder
from calibration import _neutral
from never_worse import grey_thumbnail

from training.core.runtime import PRECISION_ENV
from training.data.scanning import scan_dataset
from training.fitting.trainer import fit
from training.models.frozen import features_used, pretrained_frozen
from training.records.config import TrainConfig

SETTINGS = {"real names": (None, False), "neutral names": (None, True),
            "grey 48 px, neutral": (grey_thumbnail, True), "all photos": (None, False),
            "hard set": (None, False)}
ALL = "all photos"
HARD = "hard set"


def one_fit(folder: Path, precision: str, seed: int, root: Path, graphs: Path) -> dict[str, Any]:
    _common.fresh_home(root, f"{folder.name}-{seed}-{precision}", graphs)
    os.environ[PRECISION_ENV] = precision
    dataset = scan_dataset(folder)  # outside the clock, as the app scans before training
    started = time.perf_counter()
    result = fit(TrainConfig.quick(seed=seed), dataset,
                 output=root / f"{folder.name}-{seed}-{precision}.safetensors")
    return {"val_accuracy": result.best_val_accuracy, "features": features_used(),
            "seconds": time.perf_counter() - started}


def prepare_graphs(root: Path, graphs: Path) -> dict[str, float]:
    """Export the float graph and quantize and check the 8-bit one into the shared cache, so
    no timed fit pays for either (the app does this once per machine, at start-up). Returns
    each precision's median seconds for what every later job still pays: a new
    `FrozenFeatures.prepare` with both graphs on disk (3 each, alternating)."""
    _common.fresh_home(root, "graphs-once", graphs)
    for precision in ("float", "int8"):
        os.environ[PRECISION_ENV] = precision
        pretrained_frozen().prepare(10_000)
    times: dict[str, list[float]] = {"float": [], "int8": []}
    for number in range(3):
        for precision in ("float", "int8")[::1 if number % 2 == 0 else -1]:
            os.environ[PRECISION_ENV] = precision
            frozen = pretrained_frozen()
            started = time.perf_counter()
            frozen.prepare(10_000)
            times[precision].append(time.perf_counter() - started)
    return {precision: statistics.median(values) for precision, values in times.items()}


def main() -> None:
    parser = _common.parser(__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--val-per-class", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--settings", default=";".join(SETTINGS),
                        help=f"separated by ';' (one name has a comma), of: "
                             f"{'; '.join(SETTINGS)}")
    args = parser.parse_args()
    if args.quick:
        args.per_class, args.val_per_class, args.seeds = 6, 6, 1
    root = _common.workspace("int8-kept")
    graphs = root / "graphs"
    runs: list[dict[str, Any]] = []
    setup = prepare_graphs(root, graphs)
    chosen = [name.strip() for name in args.settings.split(";")]
    settings = {k: v for k, v in SETTINGS.items()
                if k in chosen and not (args.quick and k in (ALL, HARD))}
    for setting, (degrade, neutral) in settings.items():
        for seed in range(args.seeds):
            work = Path(tempfile.mkdtemp(dir=root))
            folder = (_common.require_data(args.data) if setting == ALL else
                      hard_folder(_common.require_data(args.data), seed, work) if setting == HARD
                      else few_shot_folder(args.data, args.per_class, args.val_per_class, seed,
                                           work, degrade))
            if neutral:
                _neutral(folder)
            for precision in ("float", "int8")[::1 if seed % 2 == 0 else -1]:
                _common.progress(f"{setting}, seed {seed}, {precision}")
                runs.append({"setting": setting, "seed": seed, "precision": precision,
                             **one_fit(folder, precision, seed, root, graphs)})
    rows = []
    for setting in settings:
        means = {p: statistics.mean(r["val_accuracy"] for r in runs
                                    if r["setting"] == setting and r["precision"] == p)
                 for p in ("float", "int8")}
        seconds = {p: statistics.median(r["seconds"] for r in runs
                                        if r["setting"] == setting and r["precision"] == p)
                   for p in ("float", "int8")}
        rows.append((setting, means["float"], means["int8"],
                     round(100 * (means["int8"] - means["float"]), 2),
                     round(seconds["float"], 1), round(seconds["int8"], 1),
                     round(seconds["float"] / seconds["int8"], 2)))
    text = (f"{args.per_class} training and {args.val_per_class} validation photos a class, "
            f"{args.seeds} seeds; features: "
            f"{sorted({r['features'] for r in runs if r['features']})}\n"
            + f"(\"{ALL}\": the whole folder, split by fit)\n"
            + "a new FrozenFeatures.prepare per job, graphs on disk (median s): "
            + ", ".join(f"{k} {v:.2f}" for k, v in setup.items()) + "\n"
            + _common.table(("setting", "float val acc", "int8 val acc", "delta (points)",
                             "float s (median)", "int8 s (median)", "speed-up"), rows))
    _common.report(args, "Kept-model accuracy, 8-bit vs float features (issue 26)", text,
                   {"runs": runs, "rows": [list(r) for r in rows], "prepare_seconds": setup})


if __name__ == "__main__":
    main()
