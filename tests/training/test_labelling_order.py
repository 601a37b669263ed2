"""The labelling order (training/insight/labelling_order.py) on points whose answer is known."""

from __future__ import annotations

import numpy as np

from training.insight.labelling_order import labelling_order, margin_uncertainty

UNSURE = [0.5, 0.5]
SURE = [0.95, 0.05]


def _axis(i: int, jitter: float = 0.0, dims: int = 8) -> np.ndarray:
    point = np.zeros(dims, dtype=np.float32)
    point[i] = 1.0
    point[(i + 1) % dims] = jitter
    return point


def test_margin_uncertainty() -> None:
    assert np.allclose(margin_uncertainty(np.array([[0.5, 0.5], [0.9, 0.1], [1.0, 0.0]])),
                       [1.0, 0.2, 0.0])
    assert np.allclose(margin_uncertainty(np.array([[0.5, 0.3, 0.2]])), [0.8])


def test_near_copies_fall_back_behind_a_different_unsure_photo() -> None:
    """Five near-copies of one confusing photo, then one other confusing photo: listing
    order would spend five labels on the copies first; here the other photo comes second."""
    features = np.stack([_axis(0, 0.01 * k) for k in range(5)] + [_axis(3)])
    order = labelling_order(features, np.array([UNSURE] * 6), _axis(6)[None, :])
    assert order[0].index in range(5)
    assert order[1].index == 5
    assert sorted(p.index for p in order) == list(range(6))


def test_an_uncertain_photo_before_a_sure_one_and_far_before_near() -> None:
    labelled = np.stack([_axis(0)])
    features = np.stack([_axis(0, 0.05), _axis(2), _axis(4)])  # near-labelled, far, far
    probabilities = np.array([UNSURE, SURE, UNSURE])
    order = labelling_order(features, probabilities, labelled, ("cheetah", "lion"))
    assert [p.index for p in order] == [2, 1, 0]
    assert order[0].reason == ("unsure between cheetah (50%) and lion (50%); unlike the "
                               "photos labelled so far")
    assert order[0].uncertainty == 1.0 and order[0].distance > 0.9


def test_none_of_these_is_ordered_like_the_others_and_limit_is_kept() -> None:
    """A "none of these" photo the model is sure about does not jump the queue (it was
    once counted as a coin toss, and all of them came first); its reason says what it is."""
    features = np.stack([_axis(1), _axis(2), _axis(3)])
    probabilities = np.array([SURE, SURE, UNSURE])
    order = labelling_order(features, probabilities, None, ("a", "b"),
                            unfamiliar=[False, True, False], limit=2)
    assert [pick.index for pick in order] == [2, 0]
    order = labelling_order(features, probabilities, None, ("a", "b"),
                            unfamiliar=[False, True, False])
    assert order[2].index == 1
    assert order[2].reason.startswith("unlike every class the model knows")


def test_the_order_is_deterministic_and_empty_is_empty() -> None:
    rng = np.random.default_rng(0)
    features, probabilities = rng.normal(size=(40, 16)), rng.dirichlet([1, 1, 1], size=40)
    labelled = rng.normal(size=(3000, 16))  # more than one chunk of labelled photos
    first = labelling_order(features, probabilities, labelled)
    assert first == labelling_order(features, probabilities, labelled)
    assert labelling_order(np.zeros((0, 4)), np.zeros((0, 2))) == ()


def test_being_odd_is_not_rewarded_only_near_copies_are_held_back() -> None:
    """A more uncertain photo comes before a slightly less uncertain one that is merely
    farther from what is labelled (farthest-first diversity put the odd one first, and on
    the benchmark that cost labels); a near-copy of a pick falls back all the same."""
    labelled = _axis(0)[None, :]
    nearer = np.cos(np.pi / 3) * _axis(0) + np.sin(np.pi / 3) * _axis(1)  # distance 0.5
    features = np.stack([_axis(2), nearer, nearer + 0.001 * _axis(3)])
    probabilities = np.array([[0.6, 0.4], [0.55, 0.45], [0.55, 0.45]])  # u 0.8, 0.9, 0.9
    order = labelling_order(features, probabilities, labelled)
    assert [pick.index for pick in order] == [1, 0, 2]
