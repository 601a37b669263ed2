"""What one training step costs at each cut of EfficientNet-Lite0 (issue 25's first measure).

Not a benchmark itself (`partial_finetune.py --costs` runs it). For the last k blocks
(k = 0: `conv_head` and the classifier only; "head only": the linear classifier on pooled
features, i.e. quick mode) it times a forward+backward+AdamW step from activations at the cut,
side by side with a full fine-tune step from pixels (channels last, as the engine runs it),
on the same random batch (the full step timed first and last, its mean the reference); and
it gives the size of one image's activations there (float32), and of 600 photos × (1 + 4
augmented views).

`bottom_speed` (`partial_finetune.py --bottom-speed`): the bottom pass that computes those
activations, PyTorch eager against its onnxruntime graph (`training.models.onnx_cut`).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import torch

from training.models.cut import bottom, cut_shape, freeze_below, top
from training.models.networks import load_pretrained
from training.records.backbones import get_backbone

VIEWS = 5
PHOTOS = 600


def _step_seconds(step: Any, repeats: int) -> float:
    step()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def _full_step(network: torch.nn.Module, pixels: torch.Tensor, labels: torch.Tensor) -> Any:
    for parameter in network.parameters():
        parameter.requires_grad_(True)
    optimizer = torch.optim.AdamW([p for p in network.parameters() if p.requires_grad], 1e-4)

    def step() -> None:
        network.train()
        loss = torch.nn.functional.cross_entropy(network(pixels), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def _cut_step(network: torch.nn.Module, activations: torch.Tensor, labels: torch.Tensor,
              k: int) -> Any:
    freeze_below(network, k)
    optimizer = torch.optim.AdamW([p for p in network.parameters() if p.requires_grad], 1e-4)

    def step() -> None:
        network.train()
        loss = torch.nn.functional.cross_entropy(top(network, activations, k), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def _head_step(features: torch.Tensor, labels: torch.Tensor) -> Any:
    head = torch.nn.Linear(features.shape[1], 2)
    optimizer = torch.optim.AdamW(head.parameters(), 1e-3)

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(head(features), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def measure(cuts: tuple[int, ...], batch: int, crop: int, repeats: int) -> list[dict[str, Any]]:
    """One row per cut (and "full", "head only"): median step seconds, ratio to the full
    step, activation floats and MB per image, MB for 600 photos × 5 views."""
    torch.manual_seed(0)
    network = load_pretrained(get_backbone("efficientnet_lite0"))
    network.reset_classifier(2)
    network = network.to(memory_format=torch.channels_last)
    pixels = torch.randn(batch, 3, crop, crop).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 2, (batch,))
    full = _step_seconds(_full_step(network, pixels, labels), repeats)
    rows: list[dict[str, Any]] = [{"cut": "full fine-tune", "step_s": full, "ratio": 1.0,
                                   "floats": 3 * crop * crop}]
    for k in cuts:
        with torch.no_grad():
            network.eval()
            activations = bottom(network, pixels, k).contiguous(
                memory_format=torch.channels_last)
        seconds = _step_seconds(_cut_step(network, activations, labels, k), repeats)
        channels, height, width = cut_shape(network, crop, k)
        rows.append({"cut": f"top {k} blocks", "step_s": seconds, "ratio": seconds / full,
                     "floats": channels * height * width, "shape": [channels, height, width]})
    # the full step again at the end: the machine's load drifts; the ratios use both
    again = _step_seconds(_full_step(network, pixels, labels), repeats)
    full = (full + again) / 2
    rows[0]["step_s"] = full
    for row in rows[1:]:
        row["ratio"] = row["step_s"] / full
    features = torch.randn(batch, network.num_features)
    head = _step_seconds(_head_step(features, labels), repeats)
    rows.append({"cut": "head only (quick)", "step_s": head, "ratio": head / full,
                 "floats": network.num_features})
    for row in rows:
        row["mb_per_image"] = row["floats"] * 4 / 1e6
        row["mb_600x5"] = row["mb_per_image"] * PHOTOS * VIEWS
    return rows


def decoded(paths: list[Any], prep: Any) -> tuple[np.ndarray, float]:
    """uint8 (N, 3, crop, crop) centre crops of `paths` as the embedding decodes them, and
    the median seconds of one photo's read, decode and crop."""
    from training.data.images import decode_image, read_bytes
    from training.data.preprocessing import resize_and_crop

    crops, seconds = [], []
    for path in paths:
        started = time.perf_counter()
        image = decode_image(path, read_bytes(path), draft_size=prep.resize).image
        crops.append(resize_and_crop(image, prep).transpose(2, 0, 1))
        seconds.append(time.perf_counter() - started)
    return np.ascontiguousarray(np.stack(crops)), statistics.median(seconds)


def bottom_speed(paths: list[Any], top_blocks: int, rounds: int, batch: int = 32
                 ) -> dict[str, Any]:
    """Images per second of the bottom pass (what `CutActivations` runs per photo and view)
    on PyTorch eager and on its checked onnxruntime graph, on the same decoded photos, in
    `rounds` interleaved rounds (eager first in even rounds, the graph first in odd ones);
    medians, their ratio, the graph's export + check seconds and its largest difference
    from eager on these photos (absolute, and over the activations' largest magnitude)."""
    from training.models.activations import CutActivations

    chosen = get_backbone("efficientnet_lite0")
    network = load_pretrained(chosen).eval().to(memory_format=torch.channels_last)
    prep = chosen.preprocessing
    pixels, decode_s = decoded(paths, prep)
    eager = CutActivations(network, prep, torch.device("cpu"), top_blocks)
    graph = CutActivations(network, prep, torch.device("cpu"), top_blocks)
    started = time.perf_counter()
    runtime = graph.prepare(10_000)
    prepare_s = time.perf_counter() - started
    if runtime != "onnxruntime":
        raise SystemExit("error: the bottom's graph was not used (onnxruntime missing or off?)")
    runners = {"eager": eager._torch_cut, "onnxruntime": graph._runner}
    rates: dict[str, list[float]] = {name: [] for name in runners}
    for number in range(rounds):
        for name in (runners if number % 2 == 0 else reversed(list(runners))):
            started = time.perf_counter()
            for first in range(0, len(pixels), batch):
                runners[name](pixels[first:first + batch])
            rates[name].append(len(pixels) / (time.perf_counter() - started))
    difference = np.abs(runners["onnxruntime"](pixels) - runners["eager"](pixels))
    scale = max(float(np.abs(runners["eager"](pixels)).max()), 1.0)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    return {"images": len(pixels), "top_blocks": top_blocks, "rounds": rounds,
            "eager_images_s": medians["eager"], "onnx_images_s": medians["onnxruntime"],
            "speed_up": medians["onnxruntime"] / medians["eager"], "rates": rates,
            "export_and_check_s": prepare_s, "decode_ms": decode_s * 1e3,
            "max_abs_difference": float(difference.max()),
            "max_relative_difference": float(difference.max()) / scale}
