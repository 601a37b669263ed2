"""A map of the dataset: every photo placed in two dimensions so that look-alikes sit together.

What users of FiftyOne like most: a whole folder at a glance, where a cluster of leopards
inside the cheetahs, a stray drawing far from everything, or two classes that overlap show
at once. Each photo's features are the pretrained ImageNet network's, the same the
likely-mislabelled finder computes (`pretrained_frozen`), so after the finder they all come
from the feature store and the map costs only the projection.

The projection is PCA: the two directions along which the photos' unit-length, centred
features vary most. It is deterministic (the same folder gives the same map every time: a
seeded start, fixed signs), takes a fraction of a second for 10,000 photos on two cores
(docs/benchmarks.md), and its distances mean something (closer is more alike, along the two
main directions). t-SNE or UMAP separate clusters more sharply, but are random, slow on
10,000 photos without heavy dependencies, and place clusters arbitrarily; PCA is the honest
first map.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

import torch
import torch.nn.functional as F

from training.models.embedding import default_store, embed_dataset
from training.models.features import FeatureCounter
from training.models.frozen import pretrained_frozen
from training.records.backbones import DEFAULT_BACKBONE
from training.records.dataset import Dataset
from training.records.dataset_map import DatasetMap, duplicate_links
from training.records.events import PhaseProgress, ignore_event
from training.records.suspects import SuspectReport

__all__ = ["DatasetMap", "dataset_map", "project"]


def dataset_map(
    dataset: Dataset,
    callback: Callable[[PhaseProgress], None] | None = None,
    cancel: threading.Event | None = None,
    *,
    report: SuspectReport | None = None,
    backbone: str = DEFAULT_BACKBONE,
) -> DatasetMap:
    """Every usable photo of `dataset` as a point of the map, in the dataset's order.

    Features come through the feature store (computed and kept for photos it lacks), with
    "features" `PhaseProgress` events; setting `cancel` raises `Cancelled` at the next
    batch. Copies are linked (`Dataset.duplicate_groups`); with the finder's `report`, its
    flagged photos carry their headline.
    """
    started = time.perf_counter()
    emit = callback or ignore_event
    paths = dataset.paths
    if paths:
        frozen = pretrained_frozen(backbone)
        counter = FeatureCounter(len(paths), emit)
        features = embed_dataset(paths, frozen, default_store(), cancel, counter.advance)
    else:
        features = torch.empty((0, 1))
    places, explained = project(features)
    records = dataset.images
    drawn = DatasetMap(
        root=dataset.root, classes=dataset.classes, paths=paths,
        content_hashes=tuple(r.content_hash for r in records),
        labels=dataset.labels,
        x=tuple(places[:, 0].tolist()), y=tuple(places[:, 1].tolist()),
        links=duplicate_links(dataset.duplicate_groups), explained=explained)
    return replace(drawn.with_report(report), seconds=time.perf_counter() - started)


def project(features: torch.Tensor) -> tuple[torch.Tensor, float]:
    """(N, 2) coordinates of `features` (N, D) on their two principal axes, and the share
    of the variance those axes show.

    Rows are scaled to unit length first (what counts is the direction of a photo's
    features, as in the finder's distances), then centred. The axes (`_top_axes`) are each
    turned so that their largest component is positive: the same features give the same
    map, whatever their order.
    """
    if len(features) == 0:
        return torch.zeros((0, 2)), 0.0
    unit = F.normalize(features.float(), dim=1)
    centred = unit - unit.mean(0)
    values, axes = _top_axes(centred)
    if axes.shape[1] < 2:  # one-dimensional features: the second axis is flat
        axes = torch.cat([axes, torch.zeros_like(axes)], 1)
    signs = torch.sign(axes.gather(0, axes.abs().argmax(0, keepdim=True)))
    axes = axes * torch.where(signs == 0, 1.0, signs)
    total = float(torch.linalg.vector_norm(centred, dtype=torch.float64)) ** 2
    explained = min(float(values.sum()) / total, 1.0) if total > 1e-12 else 0.0
    return centred @ axes, explained


def _top_axes(centred: torch.Tensor, count: int = 2, width: int = 10,
              power: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """The `count` main axes of the rows of `centred` (D, count) and the variance along
    each: a randomized PCA (Halko, Martinsson and Tropp, 2011) from a fixed start.

    A sketch of `width` random combinations of the columns, sharpened by `power` passes of
    the data, spans the main directions; the exact singular vectors within that span are
    the axes. Ten passes over the data instead of its 1280 x 1280 covariance: 2.6 instead of
    16 GFLOP for 10,000 photos, and a fixed number of steps (a full eigendecomposition took
    0.6 to 13 s on two busy cores). The start is seeded, so the same features give the same
    axes; any order of the rows gives them too (the span, not its basis, decides).
    """
    size = centred.shape[1]
    start = torch.randn(size, min(width, size), generator=torch.Generator().manual_seed(0))
    sketch = centred @ start
    for _ in range(power):  # (Q^T C)^T, not C^T Q: LAPACK's Q is column-major, 15x slower
        sketch = centred @ (torch.linalg.qr(sketch).Q.T @ centred).T
    basis = torch.linalg.qr(sketch).Q
    _, values, rows = torch.linalg.svd((basis.T @ centred).double(), full_matrices=False)
    return values[:count].square(), rows[:count].T.float()
