"""What a run gained and why it ended, in the words the app and the CLI show.

A user who trained for minutes must learn two things without reading curves: whether the
model is better than what they started with (ImageNet's own answer, when the class names are
ImageNet's), and why training ended (it ran all its epochs, stopped early, or was stopped).
Torch-free and built from plain numbers, so the GUI can say the same of a live result and of
a run in the history.
"""

from __future__ import annotations

STOP_REASONS = ("completed", "early_stopping", "cancelled", "interrupted")


def why_it_ended(stopped: str, epochs_run: int, epochs: int, patience: int) -> str:
    """Why a run ended, as one lower-case phrase, e.g. "stopped early: validation loss did
    not improve for 3 epochs"."""
    if stopped == "completed":
        return f"finished all {epochs} epoch{'s' * (epochs != 1)}"
    if stopped == "early_stopping":
        return (f"stopped early after epoch {epochs_run} of {epochs}: validation loss did not "
                f"improve for {patience} epoch{'s' * (patience != 1)}")
    if stopped == "cancelled":
        return f"you pressed Stop after {_epochs(epochs_run)} of {epochs}"
    if stopped == "interrupted":
        return f"the training process ended after {_epochs(epochs_run)} of {epochs}"
    return stopped.replace("_", " ")


def short_reason(stopped: str) -> str:
    """A column's few words for `why_it_ended` ("finished", "early stop", …)."""
    return {"completed": "finished", "early_stopping": "early stop", "cancelled": "stopped",
            "interrupted": "interrupted"}.get(stopped, stopped.replace("_", " "))


def what_it_gained(val_accuracy: float, baseline: float | None,
                   trained_share: float | None) -> str:
    """The kept model's validation accuracy against ImageNet's own answer, e.g.
    "validation accuracy 0.933, +0.067 over ImageNet's own answer (0.867)"; without a
    baseline (class names that are not ImageNet's), the accuracy alone."""
    if trained_share == 0.0:
        return ("training did not beat the start: kept ImageNet's own classifier "
                f"(validation accuracy {val_accuracy:.3f})")
    text = f"validation accuracy {val_accuracy:.3f}"
    if baseline is None:
        return text
    gain = round(val_accuracy - baseline, 3)
    if gain > 0:
        return f"{text}, {gain:+.3f} over ImageNet's own answer ({baseline:.3f})"
    if gain < 0:
        return f"{text}, {-gain:.3f} below ImageNet's own answer ({baseline:.3f})"
    return f"{text}, the same as ImageNet's own answer"


def _epochs(count: int) -> str:
    return "no finished epoch" if count == 0 else f"epoch {count}"


def points(gain: float) -> str:
    """"+1.2 points" (percentage points of validation accuracy), or "no change"."""
    rounded = round(gain * 100, 1)
    return "no change" if rounded == 0 else f"{rounded:+.1f} points".replace("-", "−")


def against_quick_mode(val_accuracy: float, trained_share: float | None,
                       quick_accuracy: float | None) -> str | None:
    """A partial fine-tune's result against quick mode's model on the same split, e.g.
    "Fine-tuning the top: 0.912 on validation, quick mode 0.900 (+1.2 points)."; None when
    quick mode's figure is unknown (a run stopped during quick mode). It keeps the better of
    the two on validation, so the comparison is with quick mode, never with ImageNet's own
    classifier."""
    if quick_accuracy is None or trained_share is None:
        return None
    if trained_share == 0.0:
        return ("Kept quick mode's model: the fine-tuned top was no better on validation "
                f"(quick mode {quick_accuracy:.3f}).")
    blend = "" if trained_share == 1.0 else f" (a blend, {trained_share:.0%} fine-tuned)"
    return (f"Fine-tuning the top: {val_accuracy:.3f} on validation{blend}, quick mode "
            f"{quick_accuracy:.3f} ({points(val_accuracy - quick_accuracy)}).")
