"""Rare classes in fine-tune mode (issue 24): post-hoc logit adjustment against a class-
balanced loss and class-balanced sampling, on validation and on held-out test.

Data sets: `_rare_sets.photo_set` (cheetah and lion common, the cheetah folder's leopards
rare, 1:10 and 1:20, neutral names by default; `--names real` adds ImageNet's names), seeds
`--seeds` (default 0, 1, 2). Each set has its own train/, val/ and test/ folders: τ is chosen
on val/, every "test" figure is on test/, which nothing trains or chooses on. Fine-tune is
`TrainConfig.finetune(epochs=E, image_size=S, seed=seed)` (default 3 epochs at 96 px:
small because the machine has 2 shared CPUs; the engine's defaults are 5 epochs at 224 px).
Three fits per set, the figures of each on the same val/ and test/ photos:

- plain: the engine as it is. Its sides: before (the network training left: the saved
  head's logits plus τ·log(prior) / T again, T the calibration folded in after it),
  after (the saved model, τ chosen on validation by `training.fitting.rare_classes`),
  τ=1 fixed (before, adjusted with τ = 1);
- balanced loss: the epoch loop's cross-entropy weighted by 1 / each class's training
  images (`rare_classes._balanced_loss`), no post-hoc adjustment;
- balanced sampling: each training batch drawn with replacement, every class equally likely
  (`rare_classes._balanced_sampling`), no post-hoc adjustment.

One `CHEETAHLION_HOME` for everything. Run: `.venv/bin/python benchmarks/rare_finetune.py`
(18 fits at the defaults: an hour or more on 2 loaded CPUs; `--seeds 0 --json a.json`, one
run per seed, then `--merge a.json b.json ...` prints the tables of them all).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import _common
import _rare_sets
import torch
from rare_classes import (
    _balanced_loss,
    _balanced_sampling,
    _no_adjustment,
    _scores,
    _test_logits,
    temperature,
)

SIDES = ("before", "after", "τ=1 fixed", "balanced loss", "balanced sampling")
KEYS = ("balanced_accuracy", "rare_recall", "common_recall")


def main() -> int:
    parser = _common.parser(__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--ratios", default="10,20")
    parser.add_argument("--names", default="neutral", help="neutral, real or neutral,real")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--alternatives", default="loss,sampling",
                        help="the class-balanced fits beside the engine's: loss, sampling")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="JSON",
                        help="print the tables of earlier runs' --json files together "
                             "(one run per seed fits a slow machine's sessions) and stop")
    args = parser.parse_args()
    if args.merge:
        rows = [row for path in args.merge for row in json.loads(path.read_text())["rows"]]
        _common.report(args, "Rare classes in fine-tune (issue 24)", _tables(rows),
                       {"rows": rows})
        return 0
    data = _common.require_data(args.data)
    work = _common.workspace("rare-finetune")
    seeds = [0] if args.quick else [int(s) for s in args.seeds.split(",")]
    ratios = [10] if args.quick else [int(r) for r in args.ratios.split(",")]
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        for ratio in ratios:
            for names in args.names.split(","):
                target = work / "sets" / f"{names}-{ratio}-{seed}"
                chosen = _rare_sets.photo_set(data, target, ratio, names == "neutral", seed)
                _common.progress(f"fine-tune: {names} 1:{ratio} seed {seed}")
                rows.extend(_measure(chosen, 1 if args.quick else args.epochs,
                                     args.image_size, args.alternatives.split(",")))
                if args.json and args.json != "-":  # each set's rows kept as they come
                    Path(args.json).write_text(json.dumps({"rows": rows}) + "\n")
    _common.report(args, "Rare classes in fine-tune (issue 24)", _tables(rows), {"rows": rows})
    return 0


def _measure(chosen: _rare_sets.RareSet, epochs: int, size: int, alternatives: list[str]
             ) -> list[dict[str, Any]]:
    """Every side's validation and test figures on one set."""
    from training.data.scanning import scan_dataset
    from training.fitting.rare_classes import log_priors
    from training.fitting.trainer import fit
    from training.records.config import TrainConfig

    dataset = scan_dataset(chosen.root)
    parts = {part: [i for i, r in enumerate(dataset.images) if r.own_split == part]
             for part in ("train", "val", "test")}
    labels = {part: torch.tensor([dataset.images[i].label for i in indices])
              for part, indices in parts.items()}
    classes = len(dataset.classes)
    rare = dataset.classes.index(chosen.rare)
    config = TrainConfig.finetune(epochs=epochs, image_size=size, seed=chosen.seed)
    log_prior = log_priors(labels["train"], classes)

    def logits_of(result: Any) -> dict[str, torch.Tensor]:
        return {part: _test_logits(result, dataset, parts[part]) for part in ("val", "test")}

    result = fit(config, dataset)
    tau = result.balance.logit_adjustment if result.balance is not None else 0.0
    after = logits_of(result)
    prior = log_prior / temperature(result.model)  # as the saved, calibrated logits scale
    sides = {"after": after,
             "before": {part: value + tau * prior for part, value in after.items()}}
    sides["τ=1 fixed"] = {part: value - prior for part, value in sides["before"].items()}
    if "loss" in alternatives:
        with _no_adjustment(), _balanced_loss(labels["train"], classes):
            sides["balanced loss"] = logits_of(fit(config, dataset))
    if "sampling" in alternatives:
        with _no_adjustment(), _balanced_sampling(labels["train"]):
            sides["balanced sampling"] = logits_of(fit(config, dataset))
    rows = []
    for side, values in sides.items():
        for part in ("val", "test"):
            rows.append({"names": chosen.names, "ratio": chosen.ratio, "seed": chosen.seed,
                         "side": side, "part": part, "tau": tau, "epochs": epochs,
                         "image_size": size, **_scores(values[part], labels[part], rare)})
    return rows


def _tables(rows: list[dict[str, Any]]) -> str:
    """Per setting: each side's mean over seeds on test (validation in brackets)."""
    lines = []
    for setting in sorted({(r["names"], r["ratio"]) for r in rows}):
        mine = [r for r in rows if (r["names"], r["ratio"]) == setting]
        seeds = sorted({r["seed"] for r in mine})
        taus = [r["tau"] for r in mine if r["side"] == "after" and r["part"] == "test"]
        lines.append(f"\nfine-tune — {setting[0]} names, 1:{setting[1]}, seeds {seeds}, "
                     f"τ chosen {taus}")
        table_rows = []
        for side in [side for side in SIDES if any(r["side"] == side for r in mine)]:
            cells: list[object] = [side]
            for key in KEYS:
                test, val = (statistics.mean(r[key] for r in mine
                                             if r["side"] == side and r["part"] == part)
                             for part in ("test", "val"))
                cells.append(f"{test:.3f} ({val:.3f})")
            table_rows.append(cells)
        lines.append(_common.table(["side: test (val), mean of seeds", "bal. acc.",
                                    "rare recall", "common recall"], table_rows))
        lines.append("per seed, test bal. acc.: " + "; ".join(
            f"seed {seed}: " + ", ".join(
                f"{side} {_one(mine, seed, side, 'test'):.3f}" for side in SIDES
                if any(r["side"] == side for r in mine))
            for seed in seeds))
    return "\n".join(lines)


def _one(rows: list[dict[str, Any]], seed: int, side: str, part: str) -> float:
    return next(r["balanced_accuracy"] for r in rows
                if r["seed"] == seed and r["side"] == side and r["part"] == part)


if __name__ == "__main__":
    raise SystemExit(main())
