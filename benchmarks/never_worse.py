"""Never worse than the zero-shot baseline: quick training on a few photos per class.

With class folders named after ImageNet categories, training starts from ImageNet's own rows
(the zero-shot baseline) and the kept model is the best blend of the trained head and that
start that is not worse on validation (`training.fitting.never_worse`). This script trains on
3, 5, 10 and 20 photos per class, several seeds each, with a fixed validation part of 30
photos per class and the rest as a held-out test part (`_subsets.few_shot_folder`), and
prints, mean and worst over the seeds:

- kept ÷ baseline validation accuracy (the guarantee: worst ≥ 1.0), and the same for the
  trained head alone (the best epoch by validation loss, what was kept before);
- the validation loss of the kept model, the trained head alone and the start;
- kept ÷ baseline accuracy on the test part, which the choice on validation never saw.

Three kinds of data: the photos as they are (the baseline is already almost perfect on
them); the same with a third of the training photos in the other class's folder, as
web-gathered sets have them, where a few photos mislead training; and the photos as 48-pixel
grey thumbnails, where ImageNet's answer is weak.

    .venv/bin/python benchmarks/never_worse.py            # full run (several minutes)
    .venv/bin/python benchmarks/never_worse.py --quick    # checks the script
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
from pathlib import Path

import _common
from _subsets import Degrade, few_shot_folder
from PIL import Image, ImageOps

from training.data.scanning import scan_dataset
from training.fitting.trainer import fit
from training.predict.baseline import zero_shot_baseline
from training.predict.evaluation import evaluate
from training.records.config import TrainConfig

VAL_PER_CLASS = 30


def grey_thumbnail(image: Image.Image) -> Image.Image:
    """A 48-pixel grey thumbnail, scaled back up to 64 pixels (the engine's minimum is 32)."""
    small = ImageOps.grayscale(image.convert("RGB")).resize((48, 48), Image.Resampling.BILINEAR)
    return small.resize((64, 64), Image.Resampling.BILINEAR).convert("RGB")


KINDS: dict[str, tuple[Degrade | None, float]] = {
    "photos": (None, 0.0),
    "photos, 1/3 in the wrong folder": (None, 1 / 3),
    "grey 48 px": (grey_thumbnail, 0.0),
}
"""Each kind of data: how its photos are degraded, and the share of training photos put in
the other class's folder."""


def one_run(data: Path, per_class: int, seed: int, kind: tuple[Degrade | None, float],
            root: Path) -> dict[str, float]:
    """Train once on a few-shot folder; the figures of its validation and test parts."""
    degrade, mislabelled = kind
    folder = few_shot_folder(data, per_class, VAL_PER_CLASS, seed,
                             Path(tempfile.mkdtemp(dir=root)), degrade, mislabelled)
    dataset = scan_dataset(folder)
    result = fit(TrainConfig.quick(seed=seed), dataset, output=folder / "model.safetensors")
    assert result.kept is not None and result.model is not None, "no ImageNet start"
    trained_alone = result.history[result.best_epoch - 1]
    test_split = dataclasses.replace(result.split, val=result.split.test)
    test_baseline = zero_shot_baseline(dataset, test_split)
    assert test_baseline is not None
    test = evaluate(result.model, dataset, "test", split=result.split)
    return {
        "baseline": result.baseline_accuracy or 0.0,
        "kept": result.best_val_accuracy,
        "trained_alone": trained_alone.val_accuracy,
        "start_loss": result.kept.start_loss,
        "kept_loss": result.best_val_loss,
        "trained_alone_loss": trained_alone.val_loss,
        "share": result.kept.trained_share,
        "test_baseline": test_baseline.accuracy,
        "test_kept": test.accuracy,
    }


def summary(runs: list[dict[str, float]]) -> dict[str, float]:
    """Means and worst cases over the seeds."""
    def ratios(top: str, bottom: str) -> list[float]:
        return [run[top] / run[bottom] for run in runs]

    kept, alone, test = (ratios("kept", "baseline"), ratios("trained_alone", "baseline"),
                         ratios("test_kept", "test_baseline"))
    return {
        "kept_ratio_mean": statistics.fmean(kept), "kept_ratio_worst": min(kept),
        "alone_ratio_mean": statistics.fmean(alone), "alone_ratio_worst": min(alone),
        "test_ratio_mean": statistics.fmean(test), "test_ratio_worst": min(test),
        "baseline_mean": statistics.fmean(run["baseline"] for run in runs),
        "start_loss_mean": statistics.fmean(run["start_loss"] for run in runs),
        "kept_loss_mean": statistics.fmean(run["kept_loss"] for run in runs),
        "kept_loss_worst_ratio": max(run["kept_loss"] / run["start_loss"] for run in runs),
        "alone_loss_mean": statistics.fmean(run["trained_alone_loss"] for run in runs),
        "share_mean": statistics.fmean(run["share"] for run in runs),
    }


def main() -> None:
    args = _common.parser(__doc__).parse_args()
    data = _common.require_data(args.data)
    root = _common.workspace("never-worse")
    sizes, seeds = ((3,), range(1)) if args.quick else ((3, 5, 10, 20), range(5))
    results: dict[str, dict[str, dict[str, float]]] = {}
    rows = []
    for kind, recipe in KINDS.items():
        results[kind] = {}
        for per_class in sizes:
            _common.progress(f"{kind}: {per_class} per class")
            runs = [one_run(data, per_class, seed, recipe, root) for seed in seeds]
            figures = summary(runs)
            results[kind][str(per_class)] = figures
            rows.append((
                kind, per_class, f"{figures['baseline_mean']:.3f}",
                f"{figures['kept_ratio_mean']:.3f} / {figures['kept_ratio_worst']:.3f}",
                f"{figures['alone_ratio_mean']:.3f} / {figures['alone_ratio_worst']:.3f}",
                f"{figures['start_loss_mean']:.3f} / {figures['alone_loss_mean']:.3f} / "
                f"{figures['kept_loss_mean']:.3f}",
                f"{figures['share_mean']:.2f}",
                f"{figures['test_ratio_mean']:.3f} / {figures['test_ratio_worst']:.3f}",
            ))
    text = _common.table(
        ("data", "per class", "baseline acc.", "kept ÷ baseline (mean / worst)",
         "trained alone ÷ baseline", "val. loss start / alone / kept", "trained share",
         "test: kept ÷ baseline"), rows)
    _common.report(args, f"Never worse than the baseline ({len(seeds)} seeds, "
                   f"{VAL_PER_CLASS} validation photos per class)", text, results)


if __name__ == "__main__":
    main()
