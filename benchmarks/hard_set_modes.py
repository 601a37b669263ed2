"""Quick, quick with cached views, partial and full fine-tune on the hard set (issue 25, round 3).

Per seed, one folder of hard copies of the shared photos (`_hard_set.py`: every kept photo
as three grey, heavily cropped 48-px copies; about 585 training images, 147 validation,
147 test, neutral class names) and, one after the other in this process on that same split:

- `quick`: `TrainConfig.quick()`, the head on the centre crop's features;
- `quick + views`: the same with `feature_views` 2, the head also trained on two cached
  augmented views of each training photo (the round-2 "side finding");
- `partial`: `TrainConfig.partial()` as it is;
- `full`: `TrainConfig.finetune(epochs=--full-epochs)`, the engine's full fine-tune.

Each run has a fresh CHEETAHLION_HOME (`partial_finetune.one_run`): an empty feature store,
so its seconds include every feature and activation it needs; the ONNX graph is exported
once before any clock into a cache they all share. Reported per run: validation accuracy of
the kept model, test accuracy of the saved model file through `Predictor`, seconds to the
kept model, seconds per epoch and the 1-minute load average when the run ended; per seed,
partial's seconds per epoch ÷ full's and each run's total ÷ quick's. Each run's row goes to
stderr as a JSON line as soon as it is done, so a stopped run keeps what finished.

    .venv/bin/python benchmarks/hard_set_modes.py --json /tmp/hard_set_modes.json
    .venv/bin/python benchmarks/hard_set_modes.py --quick    # checks the script
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

import _common
from _hard_set import hard_folder
from multilabel import prepare_graph
from partial_finetune import one_run

from training.records.config import TrainConfig

MODES = ("quick", "quick + views", "partial", "full")


def configs(seed: int, full_epochs: int, quick: bool) -> dict[str, TrainConfig]:
    """Each mode's config for `seed` (`--quick`: one epoch each, the full fine-tune at 64 px)."""
    short: dict[str, Any] = {"epochs": 1} if quick else {}
    return {"quick": TrainConfig.quick(seed=seed, **short),
            "quick + views": TrainConfig.quick(seed=seed, feature_views=2, **short),
            "partial": TrainConfig.partial(seed=seed, **short),
            "full": TrainConfig.finetune(seed=seed, epochs=full_epochs,
                                         **({"image_size": 64} if quick else {}))}


def measure(args: Any, root: Path) -> list[dict[str, Any]]:
    """Every mode of `args.modes` on each seed's hard set, one after the other."""
    rows = []
    data = _common.subset(args.data, 12 if args.quick else None, root / "subset")
    for seed in args.seeds:
        folder = hard_folder(data, seed, Path(tempfile.mkdtemp(dir=root)))
        chosen = configs(seed, args.full_epochs, args.quick)
        for mode in args.modes:
            _common.progress(f"seed {seed}: {mode} starts, load {os.getloadavg()[0]:.2f}")
            row = one_run(chosen[mode], folder, root, f"{seed}-{mode.replace(' ', '')}")
            rows.append({"seed": seed, "side": mode, **row,
                         "load": round(os.getloadavg()[0], 2)})
            _common.progress(json.dumps(rows[-1]))
    return rows


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per seed: partial's seconds per epoch ÷ full's, and each side's total ÷ quick's."""
    out = []
    for seed in sorted({r["seed"] for r in rows}):
        by_side = {r["side"]: r for r in rows if r["seed"] == seed}
        quick, partial, full = (by_side.get(s) for s in ("quick", "partial", "full"))
        entry: dict[str, Any] = {"seed": seed}
        if partial and full and partial["epoch_s"] and full["epoch_s"]:
            entry["partial epoch ÷ full epoch"] = partial["epoch_s"] / full["epoch_s"]
        for side, row in by_side.items():
            if quick and side != "quick":
                entry[f"{side} ÷ quick (total)"] = row["seconds"] / quick["seconds"]
        out.append(entry)
    return out


def table_rows(rows: list[dict[str, Any]]) -> list[tuple[object, ...]]:
    """Each run, then each side's means over the seeds it ran on."""
    lines: list[tuple[object, ...]] = [
        (r["seed"], r["side"], r["val"], r["test"], r["seconds"], r["epoch_s"] or "",
         r["epochs"], "" if r["share"] is None else r["share"], r["load"]) for r in rows]
    for side in MODES:
        chosen = [r for r in rows if r["side"] == side]
        if chosen:
            mean = {k: statistics.fmean(r[k] for r in chosen) for k in ("val", "test", "seconds")}
            lines.append((f"mean of {len(chosen)}", side, mean["val"], mean["test"],
                          mean["seconds"], "", "", "", ""))
    return lines


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--full-epochs", type=int, default=2)
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.full_epochs = args.seeds[:1], 1
    args.data = _common.require_data(args.data)
    root = _common.workspace("hard-set-modes")
    export_seconds = prepare_graph(root, root / "graphs")
    rows = measure(args, root)
    per_seed = ratios(rows)
    text = _common.table(("seed", "side", "val", "test", "seconds", "s / epoch", "epochs",
                          "kept share", "load"), table_rows(rows))
    text += "\n" + "\n".join(json.dumps(entry, ensure_ascii=False) for entry in per_seed)
    text += f"\nONNX graph export, once, before any clock: {export_seconds:.1f} s"
    _common.report(args, "hard set: quick, quick + views, partial, full fine-tune", text,
                   {"runs": rows, "ratios": per_seed, "graph_export_seconds": export_seconds,
                    "full_epochs": args.full_epochs})


if __name__ == "__main__":
    main()
