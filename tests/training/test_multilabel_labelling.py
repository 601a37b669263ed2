"""The labelling order of a multi-label gallery (training/insight/multilabel_labelling.py) on
points and probabilities whose answer is known: the photo most in doubt over its labels
first, a near-copy of a picked photo behind a different one, reasons naming the unsure
labels; and from files (labelling_queue.order_for_review with thresholds)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from synthetic import make_dataset, make_near_copy_gallery

from training.insight.labelling_queue import order_for_review
from training.insight.multilabel_labelling import (
    label_uncertainty,
    multilabel_labelling_order,
    multilabel_uncertainty,
)

LABELS = ("leopard", "night", "close-up")
THRESHOLDS = (0.5, 0.55, 0.2)


def _axis(i: int, jitter: float = 0.0, dims: int = 8) -> np.ndarray:
    point = np.zeros(dims, dtype=np.float32)
    point[i] = 1.0
    point[(i + 1) % dims] = jitter
    return point


def test_each_label_is_measured_from_its_own_threshold_in_log_odds() -> None:
    """On its threshold a label is a coin toss (1); at the edge of the "unsure" band (odds
    7/3 of the threshold's) 0.6, like a single-label 70 % / 30 %; a rare label's 0.2
    threshold makes 0.5 as sure as 0.8 is at a 0.5 threshold."""
    per_label = label_uncertainty(np.array([[0.5, 0.55, 0.2], [0.7, 0.55, 0.5]]), THRESHOLDS)
    assert np.allclose(per_label[0], [1, 1, 1])
    assert np.isclose(per_label[1, 0], 0.6)
    assert np.isclose(per_label[1, 2], label_uncertainty(np.array([[0.8]]), [0.5])[0, 0])
    assert np.allclose(multilabel_uncertainty(np.array([[0.5, 0.55, 0.2]]), THRESHOLDS), [1])


def test_the_photo_most_in_doubt_over_its_labels_comes_first() -> None:
    """Four photos, none labelled like another: sure of every label; unsure of one label;
    unsure of two; and, listed first, sure of all but a little doubt on one. The one
    unsure of two labels comes first, then the one unsure of one."""
    features = np.stack([_axis(0), _axis(1), _axis(2), _axis(3)])
    probabilities = np.array([
        [0.8, 0.9, 0.6],     # a little doubt on leopard
        [0.02, 0.97, 0.01],  # sure of everything
        [0.48, 0.99, 0.02],  # unsure of leopard
        [0.48, 0.61, 0.02],  # unsure of leopard and night
    ])
    order = multilabel_labelling_order(features, probabilities, THRESHOLDS, _axis(6)[None],
                                       LABELS)
    assert [pick.index for pick in order] == [3, 2, 0, 1]
    assert order[0].reason == ("unsure whether it shows leopard (48%, threshold 50%) and "
                               "night (61%, threshold 55%); unlike the photos labelled so far")
    assert order[1].reason.startswith("unsure whether it shows leopard (48%, threshold 50%);")
    assert order[3].reason.startswith("fairly sure of every label; nearest its threshold: ")
    assert 0 <= order[3].uncertainty < order[0].uncertainty <= 1


def test_a_near_copy_of_a_picked_photo_falls_back() -> None:
    """Three near-copies of the most doubtful photo, then a slightly less doubtful other
    one: it comes second, the copies after it, with a photo like one labelled already."""
    doubtful, other = [0.5, 0.55, 0.2], [0.45, 0.6, 0.25]
    features = np.stack([_axis(0), _axis(0, 0.01), _axis(0, 0.02), _axis(3), _axis(5, 0.01)])
    order = multilabel_labelling_order(features, np.array([doubtful] * 3 + [other, doubtful]),
                                       THRESHOLDS, _axis(5)[None], LABELS)
    assert [pick.index for pick in order][:2] == [0, 3]
    assert {pick.index for pick in order[2:]} == {1, 2, 4}
    assert all(pick.distance < 0.01 for pick in order[2:])
    assert all(pick.reason.endswith("; nearly the same as a photo labelled or ranked before "
                                    "it") for pick in order[2:])


def test_reasons_count_the_unsure_labels_past_three() -> None:
    names = ("a", "b", "c", "d", "e")
    order = multilabel_labelling_order(_axis(0)[None], np.array([[0.5, 0.45, 0.4, 0.35, 0.67]]),
                                       [0.5] * 5, None, names)
    assert order[0].reason.startswith(
        "unsure whether it shows a (50%, threshold 50%), b (45%, threshold 50%), "
        "c (40%, threshold 50%) and 2 more;")
    assert multilabel_labelling_order(np.zeros((0, 4)), np.zeros((0, 5)), [0.5] * 5) == ()
    assert math.isclose(order[0].uncertainty, float(multilabel_uncertainty(
        np.array([[0.5, 0.45, 0.4, 0.35, 0.67]]), [0.5] * 5)[0]))


def test_from_files_with_thresholds_the_order_is_the_multilabel_one(tmp_path: Path) -> None:
    """order_for_review with a multi-label model's thresholds: the near-copy of the first
    pick falls back behind the other photo though its labels are as doubtful; the reasons
    name the labels."""
    paths = make_near_copy_gallery(tmp_path / "gallery")  # a-red, b-red-again, c-blue
    labelled = make_dataset(tmp_path / "data", classes=("green", "yellow"), per_class=2)
    order = order_for_review(paths, [(0.5, 0.9), (0.5, 0.9), (0.3, 0.9)], [False] * 3,
                             sorted(labelled.rglob("*.png")), ("red", "blue"),
                             thresholds=(0.5, 0.5))
    assert [pick.index for pick in order] == [0, 2, 1]
    assert order[0].reason == ("unsure whether it shows red (50%, threshold 50%); unlike "
                               "the photos labelled so far")
    assert order[1].reason.startswith("unsure whether it shows red (30%, threshold 50%);")
