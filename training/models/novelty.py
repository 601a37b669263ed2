"""The "none of these" score: how unlike the training images an image looks to the model.

A classifier's softmax always picks one of its classes, even for a tiger shown to a
cheetah/lion model, and is often confident while doing so. The model's own pooled features
say more: an image like the training images lands near some of them. Following deep
k-nearest-neighbour out-of-distribution detection (Sun et al., ICML 2022), features are
L2-normalised and the score is the Euclidean distance to the k-th nearest training image's
features: 0 for an image identical to k training images, up to 2 for one pointing the
opposite way. No class labels are needed at prediction time, and the cost is one matrix
product per batch on top of the forward pass the prediction makes anyway.

The model file keeps a seeded, class-stratified subset of the training features (float16,
at most `MAX_REFERENCE` rows, so files stay small) and the calibration
(`NoveltyCalibration`: percentiles of the validation images' scores).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from training.records.novelty_calibration import NoveltyCalibration

DEFAULT_K = 5
"""Small datasets (a few hundred images) need a small k; 5 also rides over a near-duplicate
or two in the training set, which k = 1 would not."""
MAX_REFERENCE = 2000
"""Training images kept in the model file: 2000 × 1280 float16 features is about 5 MB."""
MAX_CALIBRATION = 5000
"""Validation images scored for the calibration; more changes its percentiles very little."""
TENSOR_NAME = "novelty.reference"
"""Name of the reference features in the model file, outside the network's state dict."""


@dataclass(frozen=True)
class NoveltyReference:
    """What a model needs to score novelty: training features and their calibration."""

    features: torch.Tensor
    """(M, D) float16 L2-normalised pooled features of training images."""
    calibration: NoveltyCalibration


def normalized(features: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit length (float32), as the distances below assume."""
    return torch.nn.functional.normalize(features.float(), dim=1)


def novelty_scores(features: torch.Tensor, reference: torch.Tensor, k: int) -> torch.Tensor:
    """Distance of each row of raw pooled `features` to its k-th nearest `reference` row.

    `reference` must already be normalised; it may be float16 (it is compared in float32).
    """
    if len(features) == 0:
        return torch.empty(0)
    queries = normalized(features)
    similarity = queries @ reference.to(queries.device, torch.float32).T
    kth = similarity.topk(min(k, reference.shape[0]), dim=1).values[:, -1]
    return (2.0 - 2.0 * kth).clamp_min(0.0).sqrt().cpu()


def stratified_subset(labels: torch.Tensor, limit: int, seed: int) -> torch.Tensor:
    """Indices of at most `limit` rows, each class in proportion (at least one each), seeded.

    All indices, in order, when there are no more than `limit` rows.
    """
    count = len(labels)
    if count <= limit:
        return torch.arange(count)
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for label in labels.unique().tolist():
        rows = (labels == label).nonzero().flatten()
        take = max(1, limit * len(rows) // count)
        chosen.append(rows[torch.randperm(len(rows), generator=generator)[:take]])
    return torch.cat(chosen).sort().values


def build_reference(train_features: torch.Tensor, val_features: torch.Tensor,
                    k: int = DEFAULT_K) -> NoveltyReference:
    """The reference from training features (already subset) and the validation calibration.

    Validation is scored against the float16 reference exactly as a `Predictor` will score
    new images, so "about 5 % of validation above the 95th percentile" holds for predictions.
    """
    reference = normalized(train_features).half()
    k = min(k, len(reference))
    scores = novelty_scores(val_features, reference, k)
    calibration = NoveltyCalibration.from_scores(scores.tolist(), k, len(reference))
    return NoveltyReference(reference, calibration)
