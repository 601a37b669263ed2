"""The unsure photos of a gallery in the order worth labelling them, from files and a dataset.

`labelling_order` ranks feature vectors; a front end has file paths, the model's class
probabilities for them and the dataset the labels go into. This is the glue both the app
(Classify's Review unsure) and the command line (`next-to-label`) call: the candidates' and
the dataset's photos through the pretrained backbone the model was built on, by way of the
feature store (quick training stored the dataset's, classifying the gallery with a
quick-mode model stored the candidates'; a photo the store lacks is computed once and kept),
then the greedy order. A multi-label model's photos (`thresholds` given) are scored by
how close each label is to its threshold (`multilabel_labelling`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from training.core.errors import CheetahLionError
from training.insight.labelling_order import LabellingPick, labelling_order
from training.insight.multilabel_labelling import multilabel_labelling_order
from training.models.embedding import default_store, embed_files
from training.models.features import FeatureCounter
from training.models.frozen import FrozenFeatures, pretrained_frozen
from training.records.backbones import DEFAULT_BACKBONE
from training.records.events import PhaseProgress, ignore_event

__all__ = ["LabellingPick", "backbone_of", "order_for_review"]


def backbone_of(model: str | Path | None) -> str:
    """The backbone a model file was built on (its header); the default one for None (the
    built-in ImageNet classifier)."""
    from training.fitting.modelfile import read_metadata

    if model is None:
        return DEFAULT_BACKBONE
    return str(read_metadata(model).get("backbone") or DEFAULT_BACKBONE)


def order_for_review(
    paths: Sequence[str | Path],
    probabilities: Sequence[Sequence[float]],
    unfamiliar: Sequence[bool],
    dataset_paths: Sequence[str | Path],
    class_names: Sequence[str] = (),
    backbone: str = DEFAULT_BACKBONE,
    cancel: threading.Event | None = None,
    progress: Callable[[PhaseProgress], None] | None = None,
    limit: int | None = None,
    thresholds: Sequence[float] | None = None,
) -> tuple[LabellingPick, ...]:
    """The photos at `paths` (with the model's `probabilities` over `class_names`, and
    `unfamiliar` marking "none of these") in the order to label them, at most `limit`;
    `dataset_paths` are the photos labelled already. Each pick's `index` is a row of
    `paths`. With `thresholds` (one per name) the model is multi-label: `probabilities`
    are each label's, and `unfamiliar` is not used.

    "features" `PhaseProgress` events count both sets of photos; setting `cancel` raises
    `Cancelled` at the next batch. A photo that cannot be read is a `CheetahLionError`
    naming it.
    """
    if not paths:
        return ()
    frozen = pretrained_frozen(backbone)
    counter = FeatureCounter(len(paths) + len(dataset_paths), progress or ignore_event)
    features = _features(paths, frozen, cancel, counter.advance)
    labelled = _features(dataset_paths, frozen, cancel, counter.advance) \
        if dataset_paths else None
    rows = np.asarray([list(row) for row in probabilities], dtype=np.float64)
    if thresholds is not None:
        return multilabel_labelling_order(features, rows, thresholds, labelled, class_names,
                                          limit)
    return labelling_order(features, rows, labelled, class_names, list(unfamiliar), limit)


def _features(paths: Sequence[str | Path], frozen: FrozenFeatures, cancel: threading.Event | None,
              advance: Callable[[int], None]) -> np.ndarray:
    """(N, D) float32 features of `paths` through the feature store."""
    rows: list[np.ndarray] = []
    for batch in embed_files([Path(p) for p in paths], frozen, default_store(), cancel,
                             advance):
        for item in batch:
            if isinstance(item, str):
                raise CheetahLionError(f"{item} It cannot be ordered for labelling; take it "
                                       "out of the folder or fix it.")
            rows.append(item)
    return np.stack(rows).astype(np.float32)
