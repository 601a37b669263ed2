"""Kept-model validation accuracy with 8-bit vs float frozen features (issue 26).

The engine's own quick training (`fit`, `TrainConfig.quick`) on the same few-shot folders
(`_subsets.few_shot_folder`), once with `CHEETAHLION_PRECISION=float` and once with `int8`,
each in a fresh home (its own feature store; the graph folder shared, so the float graph
is exported and the 8-bit one quantized once): the shared photos under their real names
(the head may start from ImageNet's classes) and under neutral names, and 48-pixel grey
thumbnails under neutral names. Reported: each run's kept-model validation accuracy and
what computed its features.

`--quick`: 6 photos a class, one seed (numbers meaningless).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

import _common
from _subsets import few_shot_folder
from calibration import _neutral
from never_worse import grey_thumbnail

from training.core.runtime import PRECISION_ENV
from training.data.scanning import scan_dataset
from training.fitting.trainer import fit
from training.models.frozen import features_used
from training.records.config import TrainConfig

SETTINGS = {"real names": (None, False), "neutral names": (None, True),
            "grey 48 px, neutral": (grey_thumbnail, True)}


def one_fit(folder: Path, precision: str, seed: int, root: Path, graphs: Path) -> dict[str, Any]:
    _common.fresh_home(root, f"{folder.name}-{precision}", graphs)
    os.environ[PRECISION_ENV] = precision
    result = fit(TrainConfig.quick(seed=seed), scan_dataset(folder),
                 output=root / f"{folder.name}-{precision}.safetensors")
    return {"val_accuracy": result.best_val_accuracy, "features": features_used()}


def main() -> None:
    parser = _common.parser(__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--val-per-class", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    if args.quick:
        args.per_class, args.val_per_class, args.seeds = 6, 6, 1
    root = _common.workspace("int8-kept")
    graphs = root / "graphs"
    runs: list[dict[str, Any]] = []
    for setting, (degrade, neutral) in SETTINGS.items():
        for seed in range(args.seeds):
            folder = few_shot_folder(args.data, args.per_class, args.val_per_class, seed,
                                     Path(tempfile.mkdtemp(dir=root)), degrade)
            if neutral:
                _neutral(folder)
            for precision in ("float", "int8"):
                _common.progress(f"{setting}, seed {seed}, {precision}")
                runs.append({"setting": setting, "seed": seed, "precision": precision,
                             **one_fit(folder, precision, seed, root, graphs)})
    rows = []
    for setting in SETTINGS:
        means = {p: statistics.mean(r["val_accuracy"] for r in runs
                                    if r["setting"] == setting and r["precision"] == p)
                 for p in ("float", "int8")}
        rows.append((setting, means["float"], means["int8"],
                     round(100 * (means["int8"] - means["float"]), 2)))
    text = (f"{args.per_class} training and {args.val_per_class} validation photos a class, "
            f"{args.seeds} seeds; features: "
            f"{sorted({r['features'] for r in runs if r['features']})}\n"
            + _common.table(("setting", "float val acc", "int8 val acc", "delta (points)"), rows))
    _common.report(args, "Kept-model accuracy, 8-bit vs float features (issue 26)", text,
                   {"runs": runs, "rows": [list(r) for r in rows]})


if __name__ == "__main__":
    main()
