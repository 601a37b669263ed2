"""What one training step costs at each cut of EfficientNet-Lite0 (issue 25's first measure).

Not a benchmark itself (`partial_finetune.py --costs` runs it). For the last k blocks
(k = 0: `conv_head` and the classifier only; "head only": the linear classifier on pooled
features, i.e. quick mode) it times a forward+backward+AdamW step from activations at the cut,
side by side with a full fine-tune step from pixels (channels last, as the engine runs it),
on the same random batch (the full step timed first and last, its mean the reference); and
it gives the size of one image's activations there (float32), and of 600 photos × (1 + 4
augmented views).
"""

from __future__ import annotations

import time
from typing import Any

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
