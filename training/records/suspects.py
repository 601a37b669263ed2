"""What the likely-mislabelled finder found, as plain data: `SuspectReport` of `Suspect`s.

The finder (`training.insight.suspects`) scores photos with torch; what it found is shown,
filtered and remembered by front ends that must not load torch to read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FLAG_SCORE = 0.4
"""Scores at or above this are `flagged` (most likely in the wrong folder), up to the cap
(`FLAG_SHARE`).

Chosen on the 300 real cheetah/lion photos, 28 of which do not belong (looked at one by
one: 21 leopards, a jaguar, a tiger, a house cat and meerkats in `cheetah/`; two pumas and a
stone lion in `lion/`), with their real folder names and with neutral ones (`group_1/`,
`group_2/`), which score alike. 26 of them score 0.91 or more; then come a leopard cub the
ImageNet model half takes for a cheetah (0.50), a lion the held-out head doubts (0.35), a
cheetah hidden in grass (0.27) and a stretching leopard (0.25); every other photo scores
below 0.16. 0.4 sits in the gap between 0.35 and 0.50. On two re-mixes of those photos
(`benchmarks/_finder_sets.py`) any threshold from 0.4 to 0.6 flags the same photos
(precision 0.88 and 0.94, recall 1.0), and 0.3 lets in more false flags. On the synthetic
test folders clean images score below 0.2 and planted ones above 0.99."""

LOOK_SCORE = 0.2
"""Scores from this up to a flag are "also worth a look": shown below the flags, with the
same advice, for a user who has time. On the real photos this band holds a stretching
leopard the ImageNet model half takes for a cheetah (0.25), beside a cheetah hidden in
grass and a lion the held-out head doubts; every other ordinary photo scores below 0.16."""


@dataclass(frozen=True)
class Suspect:
    """One usable image and how likely its folder label is wrong."""

    path: Path
    relpath: str
    given: str
    """The class folder it sits in."""
    score: float
    """0..1: how likely the folder label is wrong (higher = worse)."""
    suggested: str | None
    """Another of the dataset's classes it more likely belongs to, or None when none fits."""
    reasons: tuple[str, ...]
    """Sentences for the user: where the photo is worth a look, first what to do ("probably
    a lion — move it to lion?"), then the evidence, strongest first."""
    headline: str
    """The first reason in a few words ("looks like tiger"), for a thumbnail's caption."""
    looks_like: tuple[tuple[str, float], ...]
    """The ImageNet model's top 3 categories (name, probability)."""
    content_hash: str
    """`ImageRecord.content_hash`, so a front end can remember "keep" decisions."""
    beyond_cap: bool = False
    """It scores as high as a flag, but more than `FLAG_SHARE` of the photos already do:
    it is "also worth a look" instead (`cap_flags`)."""

    @property
    def flagged(self) -> bool:
        """In the wrong folder, most likely: the list to review first."""
        return self.score >= FLAG_SCORE and not self.beyond_cap

    @property
    def worth_a_look(self) -> bool:
        """Not flagged, but doubtful enough to look at when the flags are done."""
        return not self.flagged and self.score >= LOOK_SCORE


@dataclass(frozen=True)
class SuspectReport:
    suspects: tuple[Suspect, ...]
    """Every usable image, most suspicious first."""
    classes: tuple[str, ...]
    signals: tuple[str, ...]
    """The signals used, of "held-out", "outlier", "imagenet", "kinds" and "copies" (a photo
    with a copy in another class folder). "imagenet": some class names match ImageNet;
    "kinds": some folders, whatever their names, are mostly one or two ImageNet categories
    (`suspect_signals.own_categories`). Both are missing when neither holds."""
    seconds: float

    @property
    def flagged(self) -> tuple[Suspect, ...]:
        return tuple(suspect for suspect in self.suspects if suspect.flagged)

    @property
    def worth_a_look(self) -> tuple[Suspect, ...]:
        """The photos ranked below the flags that are still worth a look."""
        return tuple(suspect for suspect in self.suspects if suspect.worth_a_look)
