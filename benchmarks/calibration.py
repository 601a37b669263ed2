"""Calibrated confidence (issue 24): the expected calibration error before and after the
temperature training fits, on validation and on a held-out test part.

Each setting draws a folder from the shared photos with the engine's `train/`, `val/` and
`test/` layout (`_subsets.few_shot_folder`: `--per-class` training photos of each class,
`--val-per-class` validation photos, the rest held out), once per seed, and trains it with
`fit` in quick mode, which fits the temperature T on the validation part and folds it into
the classifier (`training.fitting.calibration`). The settings:

- `real names`: the photos under `cheetah/` and `lion/`, whose head starts from ImageNet's
  rows;
- `neutral names`: the same folders renamed `group_1/` and `group_2/` (a head from scratch);
- `grey 48 px, neutral`: the photos as 48-pixel grey thumbnails under neutral names, where
  mistakes are common and the temperature has something to correct;
- `1/3 mislabelled, neutral`: a third of each class's training photos in the other folder,
  as web-gathered sets have them (validation and test stay right).

The saved model's probabilities on each part come from `Predictor` (what Evaluate and
Classify show: "after"); "before" are the same logits times T (folding divided them by T,
exactly), i.e. what the model would have said uncalibrated. ECE: 15 equal-width bins of top-1
confidence (`training.records.calibration`). The table gives each seed and the mean over
seeds per setting. "floor": the ECE a perfectly calibrated model with the same confidences
would show on as many images, from sampling alone (`ece_floor`: the mean of 500 draws, each
answer right with its confidence's chance): an ECE near it cannot be told from calibrated;
"p calibrated": the share of those draws with at least the measured ECE
(`calibrated_chance`), under 0.05 a miscalibration the photos can show.

Two more tables read past the noise of 120 photos, from the logits of the model as trained
that each run keeps (`_calibration_report`): every seed's photos of a setting pooled (600
test photos) with the floor, p-value, a debiased and an equal-mass ECE
(`_calibration_estimators`); and recalibration rules fitted on each run's validation
logits and scored on its test logits side by side, held-out NLL first (`_calibration_rules`:
the engine's rule, no guard, a stricter guard, temperature + class bias, that bias where
cross-validation on validation prefers it, and the best single T for the test part itself
as the reference of what one temperature can reach).
`--finetune` (on by default in a full run, off with `--quick`) adds one fine-tune (2 epochs)
of `real names` at seed 0. **Target:** mean ECE after calibration ≤ 0.03 on validation and on
the test part, for every setting; each setting's mean row also says whether its ECE after is
at most its floor (or 0.03), i.e. as small as these numbers of photos can show.

    .venv/bin/python benchmarks/calibration.py            # full run (10-20 minutes)
    .venv/bin/python benchmarks/calibration.py --quick    # checks the script (seconds)
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

import _common
import numpy as np
import torch
from _calibration_report import POOLED_HEADERS, RULES_HEADERS, pooled_rows, rules_rows
from _subsets import Degrade, few_shot_folder
from never_worse import grey_thumbnail

from training.data.scanning import scan_dataset
from training.fitting.modelfile import read_metadata
from training.fitting.trainer import fit
from training.models.embedding import embed_files
from training.predict.inference import Predictor
from training.records.calibration import (
    ModelCalibration,
    calibrated_chance,
    ece_floor,
    expected_calibration_error,
)
from training.records.config import TrainConfig

TARGET = 0.03
PARTS = ("val", "test")
SETTINGS: dict[str, tuple[Degrade | None, float, bool]] = {
    "real names": (None, 0.0, False),
    "neutral names": (None, 0.0, True),
    "grey 48 px, neutral": (grey_thumbnail, 0.0, True),
    "1/3 mislabelled, neutral": (None, 1 / 3, True),
}
"""Each setting: how its photos are degraded, the share of training photos in the wrong
folder, and whether the class folders get neutral names."""


def _neutral(folder: Path) -> None:
    """Rename every part's class folders to group_1, group_2, … (sorted order kept)."""
    for part in ("train", "val", "test"):
        for index, class_folder in enumerate(sorted((folder / part).iterdir()), start=1):
            class_folder.rename(class_folder.with_name(f"group_{index}"))


def part_logits(predictor: Predictor, paths: list[str], temperature: float) -> np.ndarray:
    """The logits of the model as trained (the saved classifier's times T) on `paths`, from
    the features the predictions below were made of (the feature store keeps them)."""
    batches = embed_files([Path(p) for p in paths], predictor.frozen, predictor.store)
    features = torch.from_numpy(np.concatenate([np.stack(batch) for batch in batches]))
    with torch.inference_mode():
        logits = predictor.classifier(features.to(predictor.device)).double().cpu()
    return logits.numpy() * temperature


def part_eces(predictor: Predictor, paths: list[str], labels: np.ndarray,
              temperature: float) -> dict[str, Any]:
    """ECE after (the saved model) and before (its logits times T) on one part, with the
    trained logits and labels for the rules compared beside it."""
    probabilities = np.array([p.probabilities for p in predictor.predict(paths)],
                             dtype=np.float64)
    correct = probabilities.argmax(1) == labels
    with np.errstate(divide="ignore"):
        logits = np.log(probabilities) * temperature  # softmax is blind to a shift
    before = np.exp(logits - logits.max(1, keepdims=True))
    before /= before.sum(1, keepdims=True)
    confidence = probabilities.max(1)
    return {"after": expected_calibration_error(confidence, correct),
            "before": expected_calibration_error(before.max(1), correct),
            "floor": ece_floor(confidence), "p": calibrated_chance(confidence, correct),
            "accuracy": float(correct.mean()),
            "images": len(paths),
            "logits": part_logits(predictor, paths, temperature).tolist(),
            "labels": labels.tolist()}


def one_run(args: Any, setting: str, seed: int, root: Path, mode: str = "quick"
            ) -> dict[str, Any]:
    """Draw the setting's folder for `seed`, train, and measure both parts."""
    degrade, mislabelled, neutral = SETTINGS[setting]
    folder = few_shot_folder(args.data, args.per_class, args.val_per_class, seed,
                             Path(tempfile.mkdtemp(dir=root)), degrade, mislabelled)
    if neutral:
        _neutral(folder)
    dataset = scan_dataset(folder)
    config = (TrainConfig.quick(seed=seed) if mode == "quick"
              else TrainConfig.finetune(seed=seed, epochs=2))
    result = fit(config, dataset, output=folder / "model.safetensors")
    stored = ModelCalibration.of_header(read_metadata(result.model_path))
    assert stored is not None, "the model file has no calibration"
    predictor = Predictor.from_file(result.model_path)
    figures: dict[str, Any] = {"setting": setting, "seed": seed, "mode": mode,
                               "temperature": stored.temperature, "rule": stored.rule,
                               "stored_val_before": stored.ece_before,
                               "stored_val_after": stored.ece_after}
    for part in PARTS:
        indices = result.split.part(part)
        paths = [str(dataset.images[i].path) for i in indices]
        labels = np.array([predictor.classes.index(dataset.classes[dataset.images[i].label])
                           for i in indices])
        figures[part] = part_eces(predictor, paths, labels, stored.temperature)
    return figures


def _row(run: dict[str, Any]) -> tuple[object, ...]:
    return (run["setting"] + ("" if run["mode"] == "quick" else " (fine-tune)"), run["seed"],
            f"{run['temperature']:.2f}", run["rule"],
            f"{run['val']['before']:.3f} → {run['val']['after']:.3f}",
            f"{run['test']['before']:.3f} → {run['test']['after']:.3f}",
            f"{run['val']['floor']:.3f} / {run['test']['floor']:.3f}",
            f"{run['val']['p']:.2f} / {run['test']['p']:.2f}",
            f"{run['test']['accuracy']:.3f}")


def _mean_row(setting: str, runs: list[dict[str, Any]]) -> tuple[tuple[object, ...], bool]:
    def mean(part: str, key: str) -> float:
        return statistics.fmean(run[part][key] for run in runs)

    ok = mean("val", "after") <= TARGET and mean("test", "after") <= TARGET
    at_floor = all(mean(part, "after") <= max(TARGET, mean(part, "floor")) for part in PARTS)
    return ((f"{setting}: mean of {len(runs)}", "",
             f"{statistics.fmean(run['temperature'] for run in runs):.2f}",
             f"≤ floor: {'yes' if at_floor else 'NO'}",
             f"{mean('val', 'before'):.3f} → {mean('val', 'after'):.3f}",
             f"{mean('test', 'before'):.3f} → {mean('test', 'after'):.3f}",
             f"{mean('val', 'floor'):.3f} / {mean('test', 'floor'):.3f}",
             f"{mean('val', 'p'):.2f} / {mean('test', 'p'):.2f}",
             f"{mean('test', 'accuracy'):.3f}  {_common.verdict(ok)}"), ok)


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds")
    parser.add_argument("--per-class", type=int, default=60, help="training photos per class")
    parser.add_argument("--val-per-class", type=int, default=30)
    parser.add_argument("--finetune", action="store_true", default=None,
                        help="add a fine-tune of 'real names' at seed 0 (default: on, "
                             "off with --quick)")
    args = parser.parse_args()
    args.data = _common.require_data(args.data)
    root = _common.workspace("calibration")
    seeds = [0] if args.quick else [int(s) for s in args.seeds.split(",")]
    if args.quick:
        args.per_class, args.val_per_class = 12, 12
    runs: list[dict[str, Any]] = []
    rows: list[tuple[object, ...]] = []
    means: list[tuple[object, ...]] = []
    passed = True
    for setting in SETTINGS:
        _common.progress(f"{setting}: seeds {seeds}")
        these = [one_run(args, setting, seed, root) for seed in seeds]
        runs += these
        rows += [_row(run) for run in these]
        mean, ok = _mean_row(setting, these)
        means.append(mean)
        passed = passed and ok
    if args.finetune or (args.finetune is None and not args.quick):
        _common.progress("real names: a fine-tune at seed 0")
        tuned = one_run(args, "real names", 0, root, mode="finetune")
        runs.append(tuned)
        rows.append(_row(tuned))
    headers = ("setting", "seed", "T", "rule", "val ECE before → after",
               "test ECE before → after", "floor val / test", "p calibrated val / test",
               "test accuracy")
    pooled, pooled_figures = pooled_rows(runs)
    pooled_ok = all(row[-1] != _common.verdict(False) for row in pooled)
    compared, rule_figures = rules_rows(runs)
    text = (_common.table(headers, means) + f"\n\ntarget: mean ECE after ≤ {TARGET} on both "
            f"parts, every setting: {_common.verdict(passed)}\n\n" + _common.table(headers, rows)
            + "\n\nEvery seed's photos together (after: ECE ≤ the target or its floor, and "
            f"not told from calibrated): {_common.verdict(pooled_ok)}\n\n"
            + _common.table(POOLED_HEADERS, pooled)
            + "\n\nRules side by side (fitted on validation, scored on test; means over "
            "seeds)\n\n" + _common.table(RULES_HEADERS, compared))
    _common.report(args, f"Calibration: ECE before and after the temperature ({len(seeds)} "
                   f"seeds; {args.per_class} training, {args.val_per_class} validation photos "
                   "per class, the rest held out)", text,
                   {"runs": runs, "passed": passed, "pooled_passed": pooled_ok,
                    "pooled": pooled_figures, "rules": rule_figures})


if __name__ == "__main__":
    main()
