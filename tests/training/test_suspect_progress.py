"""The finder's progress (`FinderMeter`): one fraction over both phases that never goes back,
each phase weighted by its share of the time."""

from __future__ import annotations

import pytest

from training.insight import suspect_progress
from training.insight.suspect_progress import (
    CHECK_SECONDS_PER_IMAGE,
    CHECK_SHARES,
    FinderMeter,
    FinderProgress,
)


class _Clock:
    """A stand-in for `time.perf_counter` that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(suspect_progress.time, "perf_counter", fake)
    return fake


def _search(meter: FinderMeter, clock: _Clock, batches: list[tuple[int, float]]) -> None:
    """Features in `batches` of (photos, seconds), then 1 block, 5 folds and judging."""
    for count, seconds in batches:
        clock.now += seconds
        meter.features(count)
    meter.start_check(1, 5)
    meter.compared(1000)
    for _fold in range(5):
        meter.fold_done(200)
    meter.judged(1000)


def test_the_fraction_runs_once_from_0_to_1_with_the_phases_named(clock: _Clock) -> None:
    events: list[FinderProgress] = []
    meter = FinderMeter(1000, events.append)
    _search(meter, clock, [(100, 10.0)] * 10)
    fractions = [event.fraction for event in events]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    assert [e.phase for e in events] == ["features"] * 11 + ["check"] * 8
    assert [(e.done, e.total) for e in events if e.phase == "check"] == \
        [(done, 7) for done in range(8)]
    # 100 s of features against ~13 s of checking: the features are most of the bar.
    check_start = next(e for e in events if e.phase == "check").fraction
    assert 0.8 < check_start < 0.95
    # The folds are most of the check phase; the distance block only a little of it.
    after_block = events[-7].fraction
    assert after_block - check_start == pytest.approx(CHECK_SHARES["compare"] * (1 - check_start))


def test_features_read_from_the_store_take_little_of_the_bar(clock: _Clock) -> None:
    """All 1000 photos stored: they arrive at once, and the checking is nearly all the bar."""
    events: list[FinderProgress] = []
    meter = FinderMeter(1000, events.append)
    _search(meter, clock, [(1000, 0.05)])
    check_start = next(e for e in events if e.phase == "check").fraction
    assert check_start < 0.01
    fractions = [event.fraction for event in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0



def test_a_slow_first_batch_does_not_hold_the_bar_back(clock: _Clock) -> None:
    """The first batch carries the start-up (8 s here, then 0.6 s a batch): from the second
    batch on, the bar stands where the elapsed share of the search does."""
    events: list[FinderProgress] = []
    meter = FinderMeter(320, events.append)
    batches = [(32, 8.0)] + [(32, 0.6)] * 9
    total = sum(seconds for _count, seconds in batches) + 320 * CHECK_SECONDS_PER_IMAGE
    elapsed = 0.0
    for number, (count, seconds) in enumerate(batches):
        clock.now += seconds
        elapsed += seconds
        meter.features(count)
        if number:
            assert events[-1].fraction == pytest.approx(elapsed / total, abs=0.02)
