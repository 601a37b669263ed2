"""Classification results as CSV: path, label, confidence, error, one column per class."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from training.atomic import write_atomically
from training.inference import Prediction

MAX_CLASS_COLUMNS = 50
"""Above this many classes (the 1000 ImageNet ones) per-class columns are left out."""


def results_csv(results: Sequence[Prediction], classes: Sequence[str]) -> str:
    columns = list(classes) if len(classes) <= MAX_CLASS_COLUMNS else []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "label", "confidence", "error", *columns])
    for result in results:
        probabilities = ([f"{v:.6f}" for v in result.probabilities]
                         if columns and result.error is None else [""] * len(columns))
        writer.writerow([result.path, result.label or "", f"{result.confidence:.6f}",
                         result.error or "", *probabilities])
    return buffer.getvalue()


def write_results_csv(path: str | Path, results: Sequence[Prediction],
                      classes: Sequence[str]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, results_csv(results, classes).encode("utf-8"))
    return target
