"""Which model a run kept, against the ImageNet start, and how to say so.

The choice itself (`training.fitting.never_worse`) scores blends of weights; what it chose is
plain data the run history stores and every front end words the same way.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kept:
    """The candidate chosen: its share of the trained weights (1: the trained weights as
    they are, 0: the start) and its validation scores, beside the start's."""

    trained_share: float
    val_loss: float
    val_accuracy: float
    start_loss: float
    start_accuracy: float


def mark(trained_share: float | None) -> str:
    """A few words after an accuracy: whether the kept model is a blend with ImageNet's own
    classifier, or that classifier itself ("" for the trained weights as they are)."""
    if trained_share is None or trained_share == 1.0:
        return ""
    return "(ImageNet's)" if trained_share == 0.0 else f"(blend {trained_share:.0%})"


def describe(trained_share: float | None, alone_accuracy: float | None = None) -> str | None:
    """What a person should know about the kept model, or None when it is simply the trained
    one; `alone_accuracy` is the trained weights' own validation accuracy, when known."""
    if trained_share is None or trained_share == 1.0:
        return None
    alone = (f" (trained alone: validation accuracy {alone_accuracy:.3f})"
             if alone_accuracy is not None else "")
    if trained_share == 0.0:
        return ("Kept ImageNet's own classifier for these classes: training made it worse on "
                f"validation{alone}. More photos per class usually help.")
    return (f"Kept a blend of {trained_share:.0%} trained and {1 - trained_share:.0%} "
            f"ImageNet's own classifier, the best on validation{alone}.")
