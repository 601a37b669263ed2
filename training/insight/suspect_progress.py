"""The finder's progress: one fraction over the whole search that never goes back.

The finder has two phases, "features" (each photo through the network, or read from the
feature store) and "check" (the neighbour distances, the held-out folds, then judging each
photo). A bar that runs 0-100 % once per phase jumps back between them (issue 20: 59 % to
16 %), so every event also carries `fraction`, where the whole search stands, with each
phase weighted by its share of the time:

- the features phase's time is measured as it runs (the time per photo since the first
  batch, which carries the start-up, times the photos left): a photo read from the store
  costs next to nothing, one decoded and run through the network a few hundredths of a
  second, so no fixed share fits both a first search and a repeat;
- the check phase's is estimated from the number of photos (`CHECK_SECONDS_PER_IMAGE`),
  and inside it each step is weighted by its measured share (`CHECK_SHARES`).

The fraction is elapsed / (elapsed + the time left): when a batch comes faster than the
ones before, the estimate of the time left drops and the bar jumps ahead; when one comes
slower, the estimate rises, and the bar holds where it was (it is clamped, never lowered).
In the check phase it grows by fixed steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from training.records.events import PhaseProgress

CHECK_SECONDS_PER_IMAGE = 0.013
"""The check phase's seconds per photo: 3.9-4.5 s for the 300 real photos on this 2-core
machine under load (its folds grow with the photos, its distances with their square, which
at 10,000 photos is still under a tenth of the phase). Only the split of the bar between
the two phases depends on it."""
CHECK_SHARES = {"compare": 0.05, "folds": 0.88, "judge": 0.07}
"""The check phase's time, measured on the 300 real photos: the neighbour distances 0.15 s,
five held-out folds 3.3-3.9 s, judging every photo 0.27-0.3 s, of 3.9-4.5 s."""


@dataclass(frozen=True)
class FinderProgress(PhaseProgress):
    """A `PhaseProgress` of the finder (`done` of `total` in the named phase), plus where the
    whole search stands."""

    fraction: float = 0.0
    """0..1 over both phases, never decreasing: what a progress bar should show."""


class FinderMeter:
    """Turns the finder's per-phase steps into `FinderProgress` events.

    `features(count)` is `embed_dataset`'s `advance`; `start_check` begins the check phase
    with its steps; `compared`, `fold_done` and `judged` are its steps.
    """

    def __init__(self, images: int, emit: Callable[[PhaseProgress], None],
                 *, features: bool = True) -> None:
        self.images, self.emit = images, emit
        self.fraction = 0.0
        self.started = time.perf_counter()
        self.done = 0
        self.first: tuple[float, int] | None = None
        """When the first features arrived, and how many photos had then."""
        self.check_start, self.check_done = 0.0, 0.0
        self.steps: dict[str, int] = {}
        self.phase_done = self.phase_total = 0
        self.phase_images = 0
        if features:
            self._send("features", 0, images, 0.0, 0.0)

    def features(self, count: int) -> None:
        now = time.perf_counter()
        elapsed = now - self.started
        if self.first is None:
            # The first batch carries the start-up (decoders, the first forward pass), or
            # every stored photo at once: the rate after it is the one that lasts.
            self.first = (now, self.done + count)
            per_image = elapsed / max(self.done + count, 1)
        else:
            per_image = (now - self.first[0]) / max(self.done + count - self.first[1], 1)
        self.done += count
        left = (self.images - self.done) * per_image + self.images * CHECK_SECONDS_PER_IMAGE
        self._send("features", self.done, self.images, self.done / max(elapsed, 1e-9),
                   elapsed / max(elapsed + left, 1e-9))

    def start_check(self, blocks: int, folds: int) -> None:
        """The check phase begins: `blocks` of distances, `folds` held-out heads, judging."""
        self.check_start = self.fraction
        self.steps = {"compare": blocks, "folds": folds, "judge": 1}
        self.phase_done, self.phase_total = 0, blocks + folds + 1
        self.phase_images, self.started = 0, time.perf_counter()
        self._send("check", 0, self.phase_total, 0.0, self.check_start)

    def compared(self, images: int) -> None:
        self._check_step("compare", images)

    def fold_done(self, images: int) -> None:
        self._check_step("folds", images)

    def judged(self, images: int) -> None:
        self._check_step("judge", images)

    def _check_step(self, kind: str, images: int) -> None:
        self.check_done += CHECK_SHARES[kind] / max(self.steps.get(kind, 1), 1)
        self.phase_done += 1
        self.phase_images += images
        rate = self.phase_images / max(time.perf_counter() - self.started, 1e-9)
        fraction = self.check_start + (1 - self.check_start) * min(self.check_done, 1.0)
        if self.phase_done == self.phase_total:
            fraction = 1.0
        self._send("check", self.phase_done, self.phase_total, rate, fraction)

    def _send(self, phase: str, done: int, total: int, rate: float, fraction: float) -> None:
        self.fraction = max(self.fraction, min(fraction, 1.0))
        self.emit(FinderProgress(phase, done, total, rate, self.fraction))
