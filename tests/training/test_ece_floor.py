"""The ECE is read against what chance alone gives on as many photos (issue 24).

A small validation part of a calibrated model shows an ECE of 0.05 by sampling alone; the
report carries that floor, and the words say when a measured ECE cannot be told from
calibrated, so nobody "fixes" noise.
"""

import numpy as np

from training.records.calibration import reliability


def test_a_calibrated_model_on_few_photos_reads_within_chance() -> None:
    rng = np.random.default_rng(3)
    confidence = rng.uniform(0.6, 1.0, 60)
    correct = rng.uniform(size=60) < confidence  # calibrated by construction
    measured = reliability(confidence, correct)
    assert 0.02 < measured.floor < 0.15
    assert measured.ece > 0.0
    assert measured.within_chance()
    assert measured.chance_words("photos").endswith(
        "on 60 photos: no sign of miscalibration")


def test_an_overconfident_model_on_many_photos_reads_above_chance() -> None:
    confidence = np.full(2000, 0.99)
    correct = np.arange(2000) % 2 == 0  # right half the time, says 99 %
    measured = reliability(confidence, correct)
    assert measured.ece > 0.45
    assert measured.floor < 0.01
    assert not measured.within_chance()
    assert "no sign" not in measured.chance_words("photos")


def test_the_floor_shrinks_with_the_photos() -> None:
    rng = np.random.default_rng(0)
    small = reliability(rng.uniform(0.5, 1, 50), np.ones(50, bool)).floor
    large = reliability(rng.uniform(0.5, 1, 5000), np.ones(5000, bool)).floor
    assert large < small / 4
