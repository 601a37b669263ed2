"""Multi-label calibrated confidence (issue 24): pooled ECE before and after the temperature
per label that training fits, on validation and on a held-out test part.

Sets: `_multilabel_sets.py`'s compositions (`mosaic`: 2×2 grids of 0-3 photos; `attributes`:
one photo with greyscale / night / close-up made by known transforms), each with 5 %
leopards (the rare label), `--train` images (default 600: 80 % train, 20 % validation by
`split_multilabel`) and `--test` held-out images from photos the training images never show,
once per seed. Each is trained with `fit_multilabel` in quick mode (fine-tune too with
`--finetune-seeds`), which fits each label's T on validation and folds it into the head
(`training.fitting.multilabel_calibration`).

"after": the saved model's head (calibrated) on the stored features of the validation and
test photos, i.e. what the predictor, Evaluate and Classify show; "before": the same logits
times each label's T (folding divided them by T exactly), i.e. the model uncalibrated. ECE:
every (photo, label) probability against whether the photo has the label, pooled over the
labels, 15 equal-width bins (`records.multilabel_calibration.pooled_reliability`). "floor":
the ECE a perfectly calibrated model with the same probabilities would show on as many
pairs from sampling alone (`calibration.noise_floor`). Also checked on every test photo:
the label sets before (uncalibrated probabilities at the thresholds chosen on them) and
after (calibrated, at the stored thresholds) are identical. **Target:** mean ECE after
≤ 0.03 on validation and test, per composition.

    .venv/bin/python benchmarks/multilabel_calibration.py           # full run (minutes)
    .venv/bin/python benchmarks/multilabel_calibration.py --quick   # checks the script
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path
from typing import Any

import _common
import _multilabel_sets as sets
import numpy as np
import torch
from calibration import noise_floor
from multilabel import leave_home, prepare_graph, truth_of

from training.fitting.multilabel_metrics import best_thresholds
from training.models.embedding import default_store, embed_dataset
from training.models.frozen import pretrained_frozen
from training.records.config import TrainConfig
from training.records.multilabel_calibration import pooled_reliability

TARGET = 0.03
VAL_FRACTION = 0.2
QUICK_SETTINGS = {"seeds": [0], "train": 60, "test": 30}
FULL_SETTINGS = {"seeds": [0, 1, 2], "train": 600, "test": 200}
PARTS = ("val", "test")


def part_figures(head: torch.nn.Module, features: torch.Tensor, truth: np.ndarray,
                 temperatures: torch.Tensor) -> dict[str, Any]:
    """Pooled ECE before and after on one part, per-label ECE after, and the floor."""
    with torch.no_grad():
        logits = head(features.to(head.weight.device)).double().cpu()
    after, before = torch.sigmoid(logits).numpy(), torch.sigmoid(logits * temperatures).numpy()
    return {"before": pooled_reliability(before, truth).ece,
            "after": pooled_reliability(after, truth).ece,
            "per_label_after": [pooled_reliability(after[:, j], truth[:, j]).ece
                                for j in range(truth.shape[1])],
            "per_label_before": [pooled_reliability(before[:, j], truth[:, j]).ece
                                 for j in range(truth.shape[1])],
            "floor": noise_floor(after.reshape(-1)), "pairs": int(truth.size),
            "probabilities": (before, after)}


def one_run(composed: sets.ComposedSet, work: Path, graphs: Path, mode: str) -> dict[str, Any]:
    from training.data.multilabel_scan import scan_multilabel
    from training.data.multilabel_split import split_multilabel
    from training.fitting.multilabel import fit_multilabel

    _common.fresh_home(work, f"{composed.name}-{composed.seed}-{mode}", graphs)
    dataset = scan_multilabel(composed.train)
    split = split_multilabel(dataset, VAL_FRACTION, composed.seed)
    truth = np.array(dataset.targets, dtype=bool)
    test_paths, test_labels = sets.read_labels(composed.test)
    config = TrainConfig.quick(seed=composed.seed) if mode == "quick" else \
        TrainConfig.finetune(seed=composed.seed, epochs=2)
    result = fit_multilabel(config, dataset, split)
    calibration = result.calibration
    temperatures = torch.tensor(calibration.temperatures, dtype=torch.float64)
    if mode == "quick":
        frozen = pretrained_frozen(config.backbone)
    else:  # the fine-tuned network's own features
        from training.predict.multilabel import MultiLabelPredictor
        frozen = MultiLabelPredictor.from_model(result.model).frozen
    val_paths = [dataset.images[i].path for i in split.val]
    head = result.model.network.get_classifier()
    figures = {"val": part_figures(head, embed_dataset(val_paths, frozen, default_store()),
                                   truth[list(split.val)], temperatures),
               "test": part_figures(head, embed_dataset(test_paths, frozen, default_store()),
                                    truth_of(test_labels, dataset.labels), temperatures)}
    before_val = figures["val"]["probabilities"][0]
    chosen = np.array(best_thresholds(before_val, truth[list(split.val)]))
    test_before, test_after = figures["test"].pop("probabilities")
    figures["val"].pop("probabilities")
    same = bool(np.array_equal(test_before >= chosen,
                               test_after >= np.array(result.thresholds)))
    leave_home()
    return {"set": composed.name, "seed": composed.seed, "mode": mode,
            "labels": list(dataset.labels), "temperatures": list(calibration.temperatures),
            "rules": [label.rule for label in calibration.labels],
            "val_positives": [label.positives for label in calibration.labels],
            "engine_ece": [calibration.ece_before, calibration.ece_after],
            "decisions_unchanged": same, **figures}


def _row(run: dict[str, Any]) -> list[object]:
    temperatures = ", ".join(f"{name} {t:.2f}" for name, t in zip(run["labels"],
                                                                   run["temperatures"],
                                                                   strict=True))
    return [f"{run['set']}/{run['seed']} {run['mode']}",
            *(f"{run[part]['before']:.3f} → {run[part]['after']:.3f}" for part in PARTS),
            f"{run['val']['floor']:.3f} / {run['test']['floor']:.3f}", temperatures,
            "yes" if run["decisions_unchanged"] else "NO"]


def _mean_row(name: str, runs: list[dict[str, Any]]) -> tuple[list[object], bool]:
    def mean(part: str, key: str) -> float:
        return statistics.fmean(run[part][key] for run in runs)

    passed = all(mean(part, "after") <= TARGET for part in PARTS)
    return ([f"{name} mean of {len(runs)}",
             *(f"{mean(part, 'before'):.3f} → {mean(part, 'after'):.3f}" for part in PARTS),
             f"{mean('val', 'floor'):.3f} / {mean('test', 'floor'):.3f}",
             f"target ≤ {TARGET}: {'PASS' if passed else 'FAIL'}",
             "yes" if all(run["decisions_unchanged"] for run in runs) else "NO"], passed)


def _per_label(runs: list[dict[str, Any]]) -> list[list[object]]:
    """Per composition and label, the mean test ECE before → after and mean T."""
    rows = []
    for name in sorted({run["set"] for run in runs}):
        chosen = [run for run in runs if run["set"] == name and run["mode"] == "quick"]
        for j, label in enumerate(chosen[0]["labels"]):
            before, after = (statistics.fmean(r["test"][key][j] for r in chosen)
                             for key in ("per_label_before", "per_label_after"))
            rows.append([name, label, f"{before:.3f} → {after:.3f}",
                         f"{statistics.fmean(r['temperatures'][j] for r in chosen):.2f}",
                         ", ".join(sorted({r['rules'][j] for r in chosen}))])
    return rows


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--sets", default=",".join(sets.COMPOSITIONS))
    parser.add_argument("--seeds", help="comma-separated seeds (default 0,1,2; 0 with --quick)")
    parser.add_argument("--train", type=int, help="images per set (default 600)")
    parser.add_argument("--test", type=int, help="held-out test images per set (default 200)")
    parser.add_argument("--finetune-seeds", default="none",
                        help="seeds that also fine-tune (2 epochs), or 'none' (the default: "
                             "minutes each on 2 CPU cores)")
    args = parser.parse_args()
    settings = QUICK_SETTINGS if args.quick else FULL_SETTINGS
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else settings["seeds"]
    tuned = set() if args.finetune_seeds == "none" else {
        int(s) for s in args.finetune_seeds.split(",")}
    data = _common.require_data(args.data)
    work = _common.workspace("multilabel_calibration")
    graphs = work / "graphs"
    prepare_graph(work, graphs)
    runs = []
    for kind in args.sets.split(","):
        for seed in seeds:
            _common.progress(f"composing {kind} seed {seed} ...")
            composed = sets.compose(data, kind, seed, args.train or settings["train"],
                                    args.test or settings["test"], work / "sets")
            for mode in ("quick", *(("finetune",) if seed in tuned else ())):
                runs.append(one_run(composed, work, graphs, mode))
                _common.progress("  " + " | ".join(map(str, _row(runs[-1]))))
            shutil.rmtree(composed.train.parent, ignore_errors=True)
    rows, passed = [], True
    for kind in args.sets.split(","):
        chosen = [run for run in runs if run["set"] == kind and run["mode"] == "quick"]
        rows += [_row(run) for run in runs if run["set"] == kind]
        mean, ok = _mean_row(kind, chosen)
        rows.append(mean)
        passed &= ok
    text = _common.table(["set/seed", "val ECE before → after", "test ECE before → after",
                          "floor val / test", "temperatures", "same labels"], rows)
    text += "\n\n" + _common.table(["set", "label", "test ECE before → after (mean)",
                                    "mean T", "rules"], _per_label(runs))
    _common.report(args, "Multi-label calibration: pooled ECE before and after a "
                   "temperature per label", text, {"runs": runs, "pass": passed})


if __name__ == "__main__":
    main()
