"""Classification results as CSV: path, label, confidence, error, novelty, none_of_these,
unsure, then one column per class.

`novelty` is the "unlike the training data" score and `none_of_these` is 1 when it is above
the chosen threshold (0 when not); both are empty for models without a novelty reference
and for unreadable files. `unsure` is 1 when the photo is below its class's threshold in
the model file (`training.records.operating_points`): it is not given that class. `label`
stays the closest class either way.
"""

from __future__ import annotations

import csv
import errno
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from training.core.atomic import write_atomically
from training.core.errors import CheetahLionError

MAX_CLASS_COLUMNS = 50
"""Above this many classes (the 1000 ImageNet ones) per-class columns are left out."""


class Result(Protocol):
    """What a row needs: `training.Prediction` has it, and so does a gallery item."""

    @property
    def path(self) -> str: ...
    @property
    def label(self) -> str | None: ...
    @property
    def confidence(self) -> float | None: ...
    @property
    def probabilities(self) -> tuple[float, ...]: ...
    @property
    def error(self) -> str | None: ...
    @property
    def novelty(self) -> float | None: ...
    @property
    def unfamiliar(self) -> bool: ...
    @property
    def below_threshold(self) -> bool: ...


def results_csv(results: Sequence[Result], classes: Sequence[str]) -> str:
    columns = list(classes) if len(classes) <= MAX_CLASS_COLUMNS else []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "label", "confidence", "error", "novelty", "none_of_these",
                     "unsure", *columns])
    for result in results:
        probabilities = ([f"{v:.6f}" for v in result.probabilities]
                         if columns and result.probabilities and result.error is None
                         else [""] * len(columns))
        confidence = "" if result.confidence is None or result.error is not None \
            else f"{result.confidence:.6f}"
        scored = result.novelty is not None and result.error is None
        novelty = f"{result.novelty:.6f}" if scored else ""
        flag = ("1" if result.unfamiliar else "0") if scored else ""
        unsure = "" if result.error is not None or result.label is None \
            else "1" if result.below_threshold else "0"
        writer.writerow([result.path, result.label or "", confidence,
                         result.error or "", novelty, flag, unsure, *probabilities])
    return buffer.getvalue()


class ResultsFileError(CheetahLionError):
    """The results file cannot be written where asked; nothing was written there."""


def check_results_target(path: str | Path) -> Path:
    """`path`, refused at once when it is a folder (before minutes of classifying)."""
    target = Path(path)
    if target.is_dir():
        raise ResultsFileError(f"{target} is a folder; give a file name for the results, such "
                               f"as {target / 'results.csv'}.")
    return target


def write_results_csv(path: str | Path, results: Sequence[Result],
                      classes: Sequence[str]) -> Path:
    """Write the CSV atomically: a full disk or a folder in the way is one `ResultsFileError`
    and leaves whatever was at `path` as it was, with no temporary file beside it."""
    target = check_results_target(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, results_csv(results, classes).encode("utf-8"))
    except OSError as error:
        reason = error.strerror or str(error)
        advice = ("Free some space or choose another disk" if error.errno == errno.ENOSPC
                  else "Choose another file or folder")
        raise ResultsFileError(f"The results could not be written to {target} ({reason}); "
                               f"nothing was written there. {advice}.") from None
    return target
