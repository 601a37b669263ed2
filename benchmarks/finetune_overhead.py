"""What the engine's fine-tune epoch costs over a bare PyTorch loop doing the same work.

Engine side: `fit(TrainConfig.finetune(epochs=1, augment=False, early_stopping_patience=0),
dataset)`. The time taken is the epoch's own `EpochEnded.seconds`: from the first training
batch to the end of validation, including what the engine does around the gradient steps
(progress events, per-step loss reads, accuracy counts, copying the best weights). Decoding
the photos, loading the network and saving the model happen outside that clock, once per run
(they are reported separately as "fit outside the epoch").

Bare side: a plain loop over the same pre-decoded uint8 tensors (decoded once, outside the
clock, like the engine's cache): the same network (a freshly loaded pretrained
`efficientnet_lite0` with a 2-class head), channels_last, batch 16, AdamW with the finetune
config's rate and weight decay, a per-batch cosine schedule, the same normalisation
(`training.data.tensors.normalize`), then a validation pass over the same validation images.

The two sides alternate (engine first in odd repeats, bare first in even ones) and the
medians are compared. Target: fit / bare <= 1.05.

    .venv/bin/python benchmarks/finetune_overhead.py            # full run (a few minutes)
    .venv/bin/python benchmarks/finetune_overhead.py --quick    # checks the script in seconds
"""

from __future__ import annotations

import gc
import math
import time
from pathlib import Path
from typing import Any

import _common
import torch
from torch import nn

from training.core.runtime import resolve_device
from training.data.preprocessing import load_pixels
from training.data.scanning import scan_dataset
from training.data.splitting import split_dataset
from training.data.tensors import normalize, to_uint8_batch
from training.fitting.trainer import fit
from training.models.networks import load_pretrained
from training.records.backbones import get_backbone
from training.records.config import TrainConfig
from training.records.dataset import Dataset
from training.records.preprocessing import Preprocessing

RATIO_TARGET = 1.05
TIMING: dict[str, Any] = {
    "engine": "EpochEnded.seconds: first training batch to end of validation, incl. best-copy",
    "bare": "same span: training batches then a validation pass, on pre-decoded pixels",
}


def engine_config() -> TrainConfig:
    return TrainConfig.finetune(epochs=1, augment=False, early_stopping_patience=0)


def run_engine(dataset: Dataset, output: Path) -> dict[str, float]:
    started = time.perf_counter()
    result = fit(engine_config(), dataset, output=output)
    total = time.perf_counter() - started
    epoch = result.history[0]
    return {"seconds": epoch.seconds, "fit_seconds": total,
            "outside_epoch_seconds": total - epoch.seconds, "val_accuracy": epoch.val_accuracy}


def decode(dataset: Dataset, indices: tuple[int, ...], prep: Preprocessing) -> torch.Tensor:
    return to_uint8_batch([load_pixels(dataset.images[i].path, prep) for i in indices])


def run_bare(train_pixels: torch.Tensor, train_labels: torch.Tensor, val_pixels: torch.Tensor,
             val_labels: torch.Tensor, classes: int, config: TrainConfig, seed: int
             ) -> dict[str, float]:
    device = resolve_device(config.device)
    backbone = get_backbone(config.backbone)
    prep = backbone.preprocessing
    torch.manual_seed(seed)
    model = load_pretrained(backbone)
    model.reset_classifier(classes)
    model = model.to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    batch = config.batch_size
    steps = math.ceil(len(train_pixels) / batch)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    loss_fn = nn.CrossEntropyLoss()
    val_labels = val_labels.to(device)

    def inputs(pixels: torch.Tensor) -> torch.Tensor:
        return normalize(pixels.to(device), prep).contiguous(memory_format=torch.channels_last)

    started = time.perf_counter()
    model.train()
    order = torch.randperm(len(train_pixels))
    for start in range(0, len(order), batch):
        chosen = order[start:start + batch]
        loss = loss_fn(model(inputs(train_pixels[chosen])), train_labels[chosen].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    with torch.no_grad():
        for start in range(0, len(val_pixels), batch):
            logits = model(inputs(val_pixels[start:start + batch]))
            correct += (logits.argmax(1) == val_labels[start:start + batch]).sum()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "val_accuracy": correct.item() / len(val_pixels)}


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs of each side (default 3; 2 with --quick)")
    _common.add_per_class_option(parser, quick_default=12)
    args = parser.parse_args()
    args.repeats = args.repeats or (2 if args.quick else 3)
    work, folder = _common.prepare_data(args, "finetune")

    config = engine_config()
    dataset = scan_dataset(folder)
    split = split_dataset(dataset, config.val_fraction, config.test_fraction, config.seed)
    prep = get_backbone(config.backbone).preprocessing
    train_pixels, val_pixels = decode(dataset, split.train, prep), decode(dataset, split.val, prep)
    labels = torch.tensor(dataset.labels)
    train_labels, val_labels = labels[list(split.train)], labels[list(split.val)]
    _common.progress(f"{len(split.train)} training and {len(split.val)} validation photos, "
                     f"batch {config.batch_size}, {args.repeats} repeats per side")

    engine: list[dict[str, float]] = []
    bare: list[dict[str, float]] = []
    for repeat in range(args.repeats):
        sides = ["engine", "bare"] if repeat % 2 == 0 else ["bare", "engine"]
        for side in sides:
            gc.collect()
            if side == "engine":
                engine.append(run_engine(dataset, work / f"engine-{repeat}.safetensors"))
                outcome = engine[-1]
            else:
                bare.append(run_bare(train_pixels, train_labels, val_pixels, val_labels,
                                     len(dataset.classes), config, seed=repeat))
                outcome = bare[-1]
            _common.progress(f"repeat {repeat + 1}/{args.repeats} {side}: "
                             f"{outcome['seconds']:.2f} s")

    engine_median = _common.median([run["seconds"] for run in engine])
    bare_median = _common.median([run["seconds"] for run in bare])
    ratio = engine_median / bare_median
    images = len(split.train) + len(split.val)

    def runs(side: list[dict[str, float]]) -> str:
        return " ".join(f"{run['seconds']:.2f}" for run in side)

    text = _common.table(
        ["", "engine fit", "bare loop", "fit / bare", "target", "result"],
        [
            ["epoch seconds (median)", engine_median, bare_median, f"{ratio:.3f}",
             f"<= {RATIO_TARGET:.2f}", _common.verdict(ratio <= RATIO_TARGET)],
            ["images/s (train+val)", images / engine_median, images / bare_median, "", "", ""],
            ["each run (s)", runs(engine), runs(bare), "", "", ""],
            ["fit outside the epoch (s)",
             _common.median([run["outside_epoch_seconds"] for run in engine]), "", "", "",
             ""],
        ],
    ) + (f"\none epoch over {len(split.train)} training + {len(split.val)} validation photos, "
         f"batch {config.batch_size}, pre-decoded pixels on both sides")
    _common.report(args, "fine-tune epoch: engine vs bare PyTorch loop", text, {
        "images": {"train": len(split.train), "val": len(split.val)},
        "batch_size": config.batch_size, "repeats": args.repeats,
        "engine_runs": engine, "bare_runs": bare, "engine_median_seconds": engine_median,
        "bare_median_seconds": bare_median, "ratio": ratio, "ratio_target": RATIO_TARGET,
        "pass": ratio <= RATIO_TARGET, "timing": TIMING,
    })


if __name__ == "__main__":
    main()
