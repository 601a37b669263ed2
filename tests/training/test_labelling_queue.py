"""The unsure photos of a gallery ordered for labelling from files (training/insight/
labelling_queue.py): features through the pretrained backbone and the feature store, then
the greedy order, on synthetic photos whose answer is known."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from synthetic import make_dataset, make_near_copy_gallery

from training.core.errors import CheetahLionError
from training.insight.labelling_queue import backbone_of, order_for_review
from training.records.backbones import DEFAULT_BACKBONE
from training.records.events import Cancelled

UNSURE = (0.5, 0.5)


def test_a_near_copy_of_a_picked_photo_falls_back(tmp_path: Path) -> None:
    paths = make_near_copy_gallery(tmp_path / "gallery")
    labelled = make_dataset(tmp_path / "data", classes=("green", "yellow"), per_class=2)
    events = []
    order = order_for_review(paths, [UNSURE] * 3, [False] * 3,
                             sorted(labelled.rglob("*.png")), ("red", "blue"),
                             progress=events.append)
    assert [pick.index for pick in order] == [0, 2, 1]
    assert order[2].distance < 0.05 < order[1].distance, "the near-copy is next to a pick"
    assert order[2].reason.endswith("; nearly the same as a photo labelled or ranked before it")
    assert order[0].reason == ("unsure between red (50%) and blue (50%); unlike the photos "
                               "labelled so far")
    assert events[-1].done == events[-1].total == 3 + 4


def test_the_limit_kept_without_a_dataset_and_none_of_these_named(tmp_path: Path) -> None:
    paths = make_near_copy_gallery(tmp_path / "gallery")
    order = order_for_review(paths, [(0.9, 0.1), (0.9, 0.1), (0.5, 0.5)],
                             [True, False, False], [], ("red", "blue"), limit=2)
    assert [pick.index for pick in order] == [2, 0]
    assert order[1].reason.startswith("unlike every class the model knows")


def test_an_unreadable_photo_is_named_and_cancel_stops(tmp_path: Path) -> None:
    paths = make_near_copy_gallery(tmp_path / "gallery")
    Path(paths[1]).write_bytes(b"not an image")
    with pytest.raises(CheetahLionError, match=r"b-red-again\.png"):
        order_for_review(paths, [UNSURE] * 3, [False] * 3, [])
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        order_for_review(paths[:1], [UNSURE], [False], [], cancel=cancel)
    assert order_for_review([], np.zeros((0, 2)), [], []) == ()


def test_the_backbone_of_a_model_file(colours_model: Path) -> None:
    assert backbone_of(None) == DEFAULT_BACKBONE
    assert backbone_of(colours_model) == DEFAULT_BACKBONE  # quick mode's default network
