"""The photos behind one count of the per-label table: a label's true positives, false
positives, false negatives or true negatives, as plain Python over the report in memory.

A cell is decided by each outcome's label sets (what the labels say, what the model gave at
the label's own threshold), so its photos are exactly the ones the engine counted. They are
ordered so the telling ones come first: in the cells where the model was wrong (FP, FN) the
most confidently wrong; in those where it was right (TP, TN) the nearest to being wrong —
either way by the label's probability, highest first for FP and TN, lowest first for TP and FN.
"""

from __future__ import annotations

from dataclasses import dataclass

from training.records.multilabel import MultiLabelOutcome, MultiLabelReport


@dataclass(frozen=True)
class Cell:
    """One of the four counts of a label's row."""

    column: str
    """Its column header: "TP", "FP", "FN" or "TN"."""
    name: str
    """In words, plural: "false positives"."""
    labelled: bool
    """Whether its photos carry the label."""
    predicted: bool
    """Whether the model gave its photos the label."""
    meaning: str
    """What its photos have in common, "{}" standing for the label."""

    def holds(self, outcome: MultiLabelOutcome, label: str) -> bool:
        return ((label in outcome.true_labels) == self.labelled
                and (label in outcome.predicted_labels) == self.predicted)

    def title(self, label: str, count: int) -> str:
        """"lion — false positives (7): the model said lion, the labels do not"."""
        return f"{label} — {self.name} ({count}): {self.meaning.format(label)}"


CELLS = (
    Cell("TP", "true positives", True, True, "labelled {0}, and the model said {0}"),
    Cell("FP", "false positives", False, True, "the model said {}, the labels do not"),
    Cell("FN", "false negatives", True, False, "labelled {}, the model did not say so"),
    Cell("TN", "true negatives", False, False, "neither the labels nor the model say {}"),
)
CELL_OF = {cell.column: cell for cell in CELLS}


def probability(report: MultiLabelReport, outcome: MultiLabelOutcome, label: str) -> float:
    """The model's probability for `label` on the outcome's photo (0 when it has none, as
    for a photo whose probabilities are missing)."""
    index = report.labels.index(label)
    return outcome.probabilities[index] if index < len(outcome.probabilities) else 0.0


def cell_outcomes(report: MultiLabelReport, label: str, cell: Cell) -> list[MultiLabelOutcome]:
    """The photos of `label`'s `cell`, the telling ones first (see the module's docstring);
    ties in file-name order, so the order never depends on the evaluation's."""
    chosen = [o for o in report.outcomes if cell.holds(o, label)]
    sign = 1.0 if cell.labelled else -1.0  # FP and TN: highest first; TP and FN: lowest
    return sorted(chosen, key=lambda o: (sign * probability(report, o, label), o.path))
