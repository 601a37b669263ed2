"""Multi-label figures pinned on hand-computed numbers (scikit-learn's definitions)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.fitting.multilabel_metrics import (
    average_precision,
    best_threshold,
    best_thresholds,
    build_report,
    exact_match,
)


def test_average_precision_is_scikit_learns_step_wise_area() -> None:
    # scikit-learn's own documented example: 0.8333...
    assert average_precision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(5 / 6)
    # tied scores are one step: (0.5 recall at precision 1/2) + (0.5 more at precision 2/3)
    assert average_precision([0.5, 0.5, 0.2], [1, 0, 1]) == pytest.approx(0.25 + 1 / 3)
    assert average_precision([0.9, 0.8, 0.1], [1, 1, 0]) == 1.0
    assert math.isnan(average_precision([0.3, 0.2], [0, 0]))


@pytest.mark.parametrize(("scores", "truth", "expected"), [
    ([0.9, 0.8, 0.3, 0.2], [1, 1, 0, 0], 0.5),    # any threshold in (0.3, 0.8]: 0.5 inside
    ([0.9, 0.8, 0.3, 0.2], [1, 1, 1, 0], 0.3),    # (0.2, 0.3]: the end nearest 0.5
    ([0.95, 0.9, 0.7, 0.6], [1, 0, 0, 0], 0.925),  # (0.9, 0.95]: its middle
    ([0.9, 0.6, 0.4, 0.1], [1, 0, 1, 0], 0.4),    # F1 0.8 beats 0.67 and 0.5
    ([0.9, 0.7, 0.3, 0.1], [1, 0, 0, 1], 0.8),    # F1 2/3 twice: 0.8 is nearer 0.5 than 0.1
    ([0.95, 0.9, 0.45, 0.1], [1, 0, 0, 1], 0.1),  # F1 2/3 twice: 0.1 is nearer than 0.925
    ([0.3, 0.2], [0, 0], 0.5),                    # no positives: 0.5
    ([1.0, 0.9], [1, 0], 0.95),                   # (0.9, 1.0]: a score of exactly 1 is kept
])
def test_best_threshold_has_the_best_f1_nearest_one_half(scores: list[float], truth: list[int],
                                                        expected: float) -> None:
    assert best_threshold(np.array(scores), np.array(truth)) == pytest.approx(expected)


def test_best_thresholds_per_column() -> None:
    probabilities = [[0.9, 0.1], [0.8, 0.7], [0.2, 0.6], [0.1, 0.05]]
    targets = [[1, 0], [1, 1], [0, 1], [0, 0]]
    assert best_thresholds(probabilities, targets) == pytest.approx((0.5, 0.5))


def test_report_figures_by_hand() -> None:
    names = ("beach", "people")
    probabilities = [[0.9, 0.2], [0.6, 0.8], [0.3, 0.7], [0.1, 0.4]]
    targets = [[1, 0], [1, 1], [0, 0], [0, 1]]
    report = build_report("val", names, ["a", "b", "c", "d"], probabilities, targets,
                          (0.5, 0.5))
    beach, people = report.per_label
    # beach: predicted a, b; both right → P 1, R 1, F1 1, AP 1
    assert (beach.true_positives, beach.false_positives, beach.false_negatives,
            beach.true_negatives) == (1 + 1, 0, 0, 2)
    assert (beach.precision, beach.recall, beach.f1, beach.average_precision) == (1, 1, 1, 1)
    # people: predicted b, c; truth b, d → TP 1, FP 1, FN 1: P 1/2, R 1/2, F1 1/2
    assert (people.true_positives, people.false_positives, people.false_negatives) == (1, 1, 1)
    assert people.f1 == pytest.approx(0.5)
    # AP: ranking b(1) c(0) d(1) a(0): 1/2·1 + 1/2·2/3
    assert people.average_precision == pytest.approx(0.5 + 1 / 3)
    assert report.macro_f1 == pytest.approx(0.75)
    assert report.micro_f1 == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))
    assert report.mean_average_precision == pytest.approx((1 + 0.5 + 1 / 3) / 2)
    assert report.exact_match == pytest.approx(2 / 4)  # a and b
    assert [o.path for o in report.mistakes] == ["c", "d"]
    assert report.mistakes[0].spurious == ("people",)
    assert report.mistakes[1].missed == ("people",)


def test_map_leaves_out_labels_without_positives() -> None:
    report = build_report("val", ("x", "y"), ["a", "b"], [[0.9, 0.9], [0.1, 0.1]],
                          [[1, 0], [0, 0]], (0.5, 0.5))
    assert report.mean_average_precision == 1.0
    assert report.macro_f1 == 0.5  # y: one false positive, F1 0 (scikit-learn's macro)


def test_exact_match_uses_each_labels_threshold() -> None:
    assert exact_match([[0.4, 0.4]], [[1, 0]], (0.3, 0.5)) == 1.0
    assert exact_match([[0.4, 0.4]], [[1, 0]], (0.5, 0.5)) == 0.0


def test_average_precision_matches_the_mean_precision_at_each_positive() -> None:
    """An independent form of the same AP: the mean, over the positives, of the precision
    among the photos scoring at least as high (ties included), on random tied scores."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        scores = rng.integers(0, 8, 30) / 8
        truth = rng.random(30) < 0.3
        if not truth.any():
            continue
        brute = np.mean([truth[scores >= s].mean() for s in scores[truth]])
        assert average_precision(scores, truth) == pytest.approx(brute)


def _f1(scores: np.ndarray, truth: np.ndarray, threshold: float) -> float:
    predicted = scores >= threshold
    return 2 * np.sum(predicted & truth) / (predicted.sum() + truth.sum())


def test_best_threshold_is_optimal_on_random_scores() -> None:
    rng = np.random.default_rng(1)
    grid = np.linspace(0, 1, 2001)
    for _ in range(30):
        scores = rng.random(25).round(2)
        truth = rng.random(25) < 0.25
        if not truth.any():
            continue
        best = max(_f1(scores, truth, t) for t in grid)
        assert _f1(scores, truth, best_threshold(scores, truth)) == pytest.approx(best)
