"""The beginners' tutorial's fine-tuning recipe in plain PyTorch vs. the engine's default.

Side A (recipe): a plain PyTorch script of the kind the tutorial teaches. Its own Dataset
that opens each JPEG every epoch, a DataLoader, torchvision transforms v2 (256 px input,
rotate ±45° p=0.6, horizontal flip p=0.6, one 64 px cut-out p=0.3), Adam lr 1e-4, a cosine
schedule stepped per batch, 5 epochs of batch 32. The network is timm's
`tf_efficientnet_lite0` with the engine's offline ImageNet weights and a new 2-class head.

Side B (engine): `fit(TrainConfig.quick(), dataset)`, the app's default (frozen backbone,
features computed once, linear head).

Both use the same seeded split (`split_dataset(scan_dataset(data), seed=0)`) and are timed
from "start training" (model loading included) to "trained and validated"; scanning is
outside both clocks. Accuracy is the validation accuracy of the epoch with the lowest
validation loss on both sides (the engine's rule for the model it keeps); the recipe's
last-epoch accuracy is reported too.

Targets: engine accuracy >= recipe accuracy, in <= 1/10 of the recipe's time.

    .venv/bin/python benchmarks/tutorial_recipe.py            # full run (several minutes on 2 CPUs)
    .venv/bin/python benchmarks/tutorial_recipe.py --quick    # checks the script in seconds
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import _common
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset
from torchvision.transforms import v2

from training.data.scanning import scan_dataset
from training.data.splitting import split_dataset
from training.fitting.trainer import fit
from training.models.networks import load_pretrained
from training.records.backbones import get_backbone
from training.records.config import TrainConfig
from training.records.dataset import Dataset

TIME_RATIO_TARGET = 0.10
SEED = 0


# --- side A: the tutorial's recipe in plain PyTorch ------------------------------------------

class Photos(TorchDataset):
    """(image tensor, label) pairs; each JPEG is opened and transformed on every access."""

    def __init__(self, items: list[tuple[Path, int]], transform: v2.Transform) -> None:
        self.items = items
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.items[index]
        with Image.open(path) as image:
            return self.transform(image.convert("RGB")), label


def recipe_transforms(size: int, mean: tuple[float, ...], std: tuple[float, ...],
                      train: bool) -> v2.Transform:
    steps: list[v2.Transform] = [v2.ToImage(), v2.Resize(size), v2.CenterCrop(size)]
    if train:
        steps += [v2.RandomApply([v2.RandomRotation(45, fill=128)], p=0.6),
                  v2.RandomHorizontalFlip(p=0.6)]
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    if train:  # one 64 px square cut-out, filled with the normalised mean (0)
        area = (64 / size) ** 2
        steps.append(v2.RandomErasing(p=0.3, scale=(area, area), ratio=(1.0, 1.0), value=0))
    return v2.Compose(steps)


def run_recipe(dataset: Dataset, train: tuple[int, ...], val: tuple[int, ...], epochs: int,
               workers: int) -> dict[str, Any]:
    started = time.perf_counter()
    torch.manual_seed(SEED)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    backbone = get_backbone("efficientnet_lite0")
    model = load_pretrained(backbone)
    model.reset_classifier(len(dataset.classes))
    model.to(device)
    mean, std = backbone.preprocessing.mean, backbone.preprocessing.std

    def items(indices: tuple[int, ...]) -> list[tuple[Path, int]]:
        return [(dataset.images[i].path, dataset.images[i].label) for i in indices]

    train_loader = DataLoader(Photos(items(train), recipe_transforms(256, mean, std, True)),
                              batch_size=32, shuffle=True, num_workers=workers,
                              generator=torch.Generator().manual_seed(SEED))
    val_loader = DataLoader(Photos(items(val), recipe_transforms(256, mean, std, False)),
                            batch_size=32, num_workers=workers)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * len(train_loader))
    loss_fn = nn.CrossEntropyLoss()
    history = []
    for epoch in range(1, epochs + 1):
        epoch_started = time.perf_counter()
        model.train()
        for images, labels in train_loader:
            loss = loss_fn(model(images.to(device)), labels.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        model.eval()
        loss_sum = correct = 0.0
        with torch.no_grad():
            for images, labels in val_loader:
                logits = model(images.to(device))
                labels = labels.to(device)
                loss_sum += loss_fn(logits, labels).item() * len(labels)
                correct += (logits.argmax(1) == labels).sum().item()
        history.append({"epoch": epoch, "val_loss": loss_sum / len(val),
                        "val_accuracy": correct / len(val),
                        "seconds": time.perf_counter() - epoch_started})
        _common.progress(f"recipe epoch {epoch}/{epochs}: val accuracy "
                         f"{correct / len(val):.3f} ({history[-1]['seconds']:.1f} s)")
    best = min(history, key=lambda h: h["val_loss"])
    return {"seconds": time.perf_counter() - started, "val_accuracy": best["val_accuracy"],
            "best_epoch": best["epoch"], "last_val_accuracy": history[-1]["val_accuracy"],
            "history": history, "device": str(device), "workers": workers}


# --- side B: the engine's default -------------------------------------------------------------

def run_engine(dataset: Dataset, output: Path) -> dict[str, Any]:
    started = time.perf_counter()
    result = fit(TrainConfig.quick(), dataset, output=output)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "fit_seconds": result.seconds,
            "val_accuracy": result.best_val_accuracy, "best_epoch": result.best_epoch,
            "epochs_run": len(result.history), "stopped": result.stopped,
            "baseline_accuracy": result.baseline_accuracy,
            "split": (result.split.train, result.split.val)}


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--epochs", type=int, default=None,
                        help="recipe epochs (default 5; 1 with --quick)")
    parser.add_argument("--workers", type=int, default=0,
                        help="the recipe's DataLoader workers (default 0: on 2 CPUs workers only "
                             "compete with the training threads)")
    _common.add_per_class_option(parser, quick_default=10)
    args = parser.parse_args()
    args.epochs = args.epochs or (1 if args.quick else 5)
    work, folder = _common.prepare_data(args, "tutorial")

    dataset = scan_dataset(folder)
    split = split_dataset(dataset, val_fraction=0.2, test_fraction=0.0, seed=SEED)
    _common.warm_file_cache(dataset.paths)
    _common.progress(f"{len(split.train)} training and {len(split.val)} validation photos; "
                     "engine first, then the recipe")

    engine = run_engine(dataset, work / "engine.safetensors")
    if engine.pop("split") != (split.train, split.val):
        raise SystemExit("error: the engine drew a different split than split_dataset(seed=0)")
    _common.progress(f"engine: {engine['seconds']:.1f} s, "
                     f"val accuracy {engine['val_accuracy']:.3f}")
    recipe = run_recipe(dataset, split.train, split.val, args.epochs, args.workers)

    time_ratio = engine["seconds"] / recipe["seconds"]
    accuracy_gap = engine["val_accuracy"] - recipe["val_accuracy"]
    text = _common.table(
        ["", "engine quick()", f"recipe ({args.epochs} ep)", "engine vs recipe", "target",
         "result"],
        [
            ["wall time (s)", engine["seconds"], recipe["seconds"], f"{time_ratio:.3f}x",
             f"<= {TIME_RATIO_TARGET:.2f}x", _common.verdict(time_ratio <= TIME_RATIO_TARGET)],
            ["val accuracy", engine["val_accuracy"], recipe["val_accuracy"],
             f"{accuracy_gap:+.3f}", ">= +0.000", _common.verdict(accuracy_gap >= 0)],
            ["last-epoch val acc", "", recipe["last_val_accuracy"], "", "", ""],
        ],
    ) + (f"\n{len(split.train)} train / {len(split.val)} val photos; accuracy = the epoch with "
         "the lowest validation loss on both sides")
    _common.report(args, "tutorial recipe vs engine quick mode", text, {
        "images": {"train": len(split.train), "val": len(split.val)},
        "engine": engine, "recipe": recipe, "time_ratio": time_ratio,
        "time_ratio_target": TIME_RATIO_TARGET, "accuracy_gap": accuracy_gap,
        "pass": time_ratio <= TIME_RATIO_TARGET and accuracy_gap >= 0,
    })


if __name__ == "__main__":
    main()
