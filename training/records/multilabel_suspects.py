"""What the multi-label finder found, as plain data: per photo, the labels it likely lacks
and the labels it likely should not have.

The finder (`training.insight.multilabel_suspects`) computes held-out probabilities with
torch; a front end shows, filters and acts on them without loading torch. An edit of a
photo's labels (`training.insight.label_edits`) takes what a `LabelDoubt` names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DoubtKind = Literal["missing", "wrong"]

LABEL_FLAG_SCORE = 0.85
"""A doubt scoring at least this is flagged (up to the cap, `LABEL_FLAG_SHARE`): a label the
photo lacks whose held-out probability is 0.85 or more, or one it has at 0.15 or less.
Chosen on four composed sets of 300 images with 15 planted errors each
(`benchmarks/multilabel_finder.py`, docs/benchmarks.md), counting doubts: 0.8 let in 20-24
doubts to find 12-14 errors, 0.85 13-19 for 10-13, 0.9 9-14 for 7-12. On the synthetic
patches (`tests/multilabel_synthetic.py`) planted errors score 0.90-0.99, one clean photo
0.89 and every other below 0.62."""
LABEL_LOOK_SCORE = 0.6
"""From this up to a flag a doubt is "also worth a look", shown below the flags."""
LABEL_FLAG_SHARE = 0.15
"""At most this share of the photos is flagged, as the single-label finder's `FLAG_SHARE`:
the first screen stays a list a person can review."""
LABEL_FLAG_MIN = 10
"""A small dataset may have this many flagged photos whatever the share says."""


@dataclass(frozen=True)
class LabelDoubt:
    """One label of one photo that looks wrong: missing from the photo, or wrongly on it."""

    label: str
    kind: DoubtKind
    """"missing": the photo lacks the label but probably shows it (add it?); "wrong": the
    photo has the label but probably does not show it (remove it?)."""
    held_out: float
    """The label's probability from heads trained without this photo."""
    score: float
    """0..1, how likely the labelling is wrong: `held_out` for a missing label,
    1 - `held_out` for a wrong one."""
    reason: str
    """A sentence for the user, starting with what to do."""


@dataclass(frozen=True)
class LabelSuspect:
    """One usable photo, its labels and the doubts about them, strongest first."""

    path: Path
    relpath: str
    labels: tuple[str, ...]
    """The labels the photo has now (labels.csv's row, or the folders it sits in)."""
    doubts: tuple[LabelDoubt, ...]
    content_hash: str
    beyond_cap: bool = False
    """Its doubts score as high as a flag, but `LABEL_FLAG_SHARE` of the photos are
    flagged already: "also worth a look" instead."""

    @property
    def score(self) -> float:
        """The strongest doubt's score; 0 without doubts."""
        return max((doubt.score for doubt in self.doubts), default=0.0)

    @property
    def missing(self) -> tuple[LabelDoubt, ...]:
        return tuple(doubt for doubt in self.doubts if doubt.kind == "missing")

    @property
    def wrong(self) -> tuple[LabelDoubt, ...]:
        return tuple(doubt for doubt in self.doubts if doubt.kind == "wrong")

    @property
    def flagged(self) -> bool:
        return self.score >= LABEL_FLAG_SCORE and not self.beyond_cap

    @property
    def worth_a_look(self) -> bool:
        return not self.flagged and self.score >= LABEL_LOOK_SCORE

    @property
    def headline(self) -> str:
        """The strongest doubt in a few words ("+sunset", "-people"), for a caption."""
        return " ".join(("+" if d.kind == "missing" else "-") + d.label
                        for d in self.doubts if d.score >= LABEL_LOOK_SCORE)


@dataclass(frozen=True)
class LabelSuspectReport:
    suspects: tuple[LabelSuspect, ...]
    """Every usable photo, most suspicious first."""
    labels: tuple[str, ...]
    folds: int
    seconds: float
    source: Literal["labels.csv", "folders"]
    labels_file_hash: str | None = None
    """The content hash of labels.csv as the finder saw it (None for the folders layout):
    an edit made from this report is refused when the file has changed since."""
    unjudged_labels: tuple[str, ...] = ()
    """Labels with too few photos (or too few without them) for held-out heads: no doubt
    names them."""

    @property
    def flagged(self) -> tuple[LabelSuspect, ...]:
        return tuple(suspect for suspect in self.suspects if suspect.flagged)

    @property
    def worth_a_look(self) -> tuple[LabelSuspect, ...]:
        return tuple(suspect for suspect in self.suspects if suspect.worth_a_look)
