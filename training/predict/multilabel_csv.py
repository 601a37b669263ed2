"""A multi-label model's results as CSV: `path,labels`, then one probability column per
label, named by the label.

`labels` holds the labels at or above their thresholds joined by ";" (as in `labels.csv`,
so the file can be read back as one); a photo that could not be read has empty cells.
"""

from __future__ import annotations

import csv
import errno
import io
from collections.abc import Sequence
from pathlib import Path

from training.core.atomic import write_atomically
from training.predict.results_csv import ResultsFileError, check_results_target
from training.records.multilabel import LABEL_SEPARATOR, MultiLabelPrediction


def multilabel_csv(predictions: Sequence[MultiLabelPrediction], labels: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "labels", *labels])
    for prediction in predictions:
        if prediction.error is not None or not prediction.probabilities:
            writer.writerow([prediction.path, "", *[""] * len(labels)])
            continue
        writer.writerow([prediction.path, LABEL_SEPARATOR.join(prediction.labels),
                         *[f"{p:.6f}" for p in prediction.probabilities]])
    return buffer.getvalue()


def write_multilabel_csv(path: str | Path, predictions: Sequence[MultiLabelPrediction],
                         labels: Sequence[str]) -> Path:
    """Write the CSV atomically; a full disk or a folder in the way is one
    `ResultsFileError`, and whatever was at `path` stays as it was."""
    target = check_results_target(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, multilabel_csv(predictions, labels).encode("utf-8"))
    except OSError as error:
        advice = ("Free some space or choose another disk" if error.errno == errno.ENOSPC
                  else "Choose another file or folder")
        raise ResultsFileError(f"The results could not be written to {target} "
                               f"({error.strerror or error}); nothing was written there. "
                               f"{advice}.") from None
    return target
