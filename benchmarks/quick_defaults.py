"""Quick mode's epochs and early-stopping patience, measured on the real photos made harder.

The shared photos are easy for a frozen ImageNet network (cheetah against lion is right
from the first epoch), so the head would have nothing to learn. Three harder datasets are
drawn from them (`_subsets.few_shot_folder`): all photos with 20 % of each class's training
photos in the other class's folder; 10 training photos a class as 40 px greyscale
thumbnails; 30 a class as thumbnails with 20 % mislabelled. Each trains with `fit` in quick
mode from ImageNet's rows and from scratch (`init_from_imagenet=False`), for each of
`--epochs` (the cosine schedule depends on them) and three seeds, without early stopping;
early stopping with each patience of `--patience` is then replayed on the recorded curve,
which is exact (the loop is deterministic, and patience changes nothing before it stops).

The table gives, per dataset, start and setting: the epochs trained (the three seeds), the
best epoch, and the best validation loss and accuracy against those of 60 epochs without
early stopping. **Target:** the default setting keeps the 60-epoch model (best validation
loss within 0.005) on every row while training fewer epochs. Full run (about a minute once
the features are stored): `.venv/bin/python benchmarks/quick_defaults.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import _common
import _subsets
from PIL import Image, ImageOps

SEEDS = (0, 1, 2)
REFERENCE_EPOCHS = 60
TOLERANCE = 0.005


def _thumbnail(image: Image.Image) -> Image.Image:
    return ImageOps.grayscale(image).resize((40, 40)).convert("RGB")


def _datasets(data: Path, root: Path, quick: bool) -> dict[str, Path]:
    few = 4 if quick else 10
    return {
        "all, 20% mislabelled": _subsets.few_shot_folder(data, 20 if quick else 100, 40, 0,
                                                         root / "a", None, 0.2),
        f"{few}/class, grey 40 px": _subsets.few_shot_folder(data, few, 40, 0, root / "b",
                                                             _thumbnail),
        "30/class, grey 40 px, 20% mislabelled": _subsets.few_shot_folder(
            data, 30, 40, 0, root / "c", _thumbnail, 0.2),
    }


def replay(curve: list[tuple[float, float]], patience: int) -> tuple[int, int]:
    """(epochs trained, best epoch) of the loop's early stopping replayed on `curve`."""
    best, best_epoch, without = float("inf"), 0, 0
    for epoch, (loss, _accuracy) in enumerate(curve, 1):
        if loss < best:
            best, best_epoch, without = loss, epoch, 0
        else:
            without += 1
        if patience and without >= patience and epoch < len(curve):
            return epoch, best_epoch
    return len(curve), best_epoch


def _curves(datasets: dict[str, Path], epochs: list[int]) -> dict[tuple[str, bool, int, int],
                                                                    list[tuple[float, float]]]:
    from training.data.scanning import scan_dataset
    from training.fitting.trainer import fit
    from training.records.config import TrainConfig

    curves = {}
    for name, folder in datasets.items():
        dataset = scan_dataset(folder)
        for from_imagenet in (True, False):
            for count in sorted({*epochs, REFERENCE_EPOCHS}):
                for seed in SEEDS:
                    _common.progress(f"{name}, {'ImageNet' if from_imagenet else 'scratch'}, "
                                     f"{count} epochs, seed {seed}")
                    result = fit(TrainConfig.quick(epochs=count, early_stopping_patience=0,
                                                   seed=seed, init_from_imagenet=from_imagenet),
                                 dataset, output=folder.parent / f"m-{seed}.safetensors")
                    curves[name, from_imagenet, count, seed] = [
                        (event.val_loss, event.val_accuracy) for event in result.history]
    return curves


def main() -> int:
    parser = _common.parser(__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", default="15,30", help="epoch counts to try (default 15,30)")
    parser.add_argument("--patience", default="3,5,10",
                        help="patiences to replay (default 3,5,10)")
    args = parser.parse_args()
    data = _common.require_data(args.data)
    root = _common.workspace("quick-defaults")
    epochs = [int(value) for value in args.epochs.split(",")]
    patiences = [int(value) for value in args.patience.split(",")]
    curves = _curves(_datasets(data, root / "data", args.quick), epochs)
    rows: list[list[Any]] = []
    for (name, start, count, _seed) in sorted({(n, s, c, 0) for n, s, c, _ in curves}):
        if count == REFERENCE_EPOCHS:
            continue
        reference = [curves[name, start, REFERENCE_EPOCHS, seed] for seed in SEEDS]
        best_reference = [min(curve)[0] for curve in reference]
        for patience in patiences:
            replayed = [(curve, *replay(curve, patience))
                        for curve in (curves[name, start, count, seed] for seed in SEEDS)]
            losses = [curve[best - 1][0] for curve, _trained, best in replayed]
            kept = all(loss <= ref + TOLERANCE for loss, ref in zip(losses, best_reference,
                                                                     strict=True))
            rows.append([name, "ImageNet" if start else "scratch", count, patience,
                         "/".join(str(trained) for _c, trained, _b in replayed),
                         "/".join(str(best) for _c, _t, best in replayed),
                         "/".join(f"{loss:.3f}" for loss in losses),
                         "/".join(f"{curve[best - 1][1]:.3f}" for curve, _t, best in replayed),
                         "/".join(f"{loss:.3f}" for loss in best_reference),
                         "yes" if kept else "no"])
    text = _common.table(["data", "start", "epochs", "patience", "trained", "best epoch",
                          "best val loss", "its accuracy", "60 epochs' loss",
                          "keeps the 60-epoch model"], rows)
    _common.report(args, "Quick mode's epochs and patience", text,
                   {"rows": rows, "curves": {"|".join(map(str, key)): value
                                             for key, value in curves.items()}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
