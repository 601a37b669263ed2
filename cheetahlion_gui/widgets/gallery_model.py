"""The item model of the gallery of classified files (its sort/filter proxy: `gallery_proxy`).

`GalleryModel` holds one row per file. Thumbnails are asked for lazily: `data()` for the
decoration role of a visible row asks the `ThumbnailCache`, which queues the file and shows
a placeholder until it arrives. Predictions arrive in batches and update rows with one
`dataChanged` per batch.

"None of these": a row whose novelty score is above the threshold of the model's
calibration at the chosen percentile is flagged. The flag is recomputed from the stored
scores when the percentile changes (plain arithmetic, no model run), so the threshold
control re-flags the whole gallery instantly.

A multi-label model's results (`apply_multilabel`) give each row a set of labels, possibly
empty ("no label"), each at or above its own threshold. Such a row is "unsure" when some
label's probability is close to that label's threshold (`training.records.multilabel.
is_unsure`, the one rule); "none of these" is a single-label idea and stays off for them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap

from cheetahlion_gui.widgets.thumbnail_rows import ThumbnailRows, placeholder_pixmap
from cheetahlion_gui.widgets.thumbnails import ThumbnailCache
from training.records.multilabel import MultiLabelPrediction, is_unsure, label_doubt
from training.records.novelty_calibration import DEFAULT_PERCENTILE, NoveltyCalibration
from training.records.predictions import Prediction, below_threshold, none_of_these

PathRole = Qt.ItemDataRole.UserRole + 1
LabelRole = Qt.ItemDataRole.UserRole + 2
ConfidenceRole = Qt.ItemDataRole.UserRole + 3
ErrorRole = Qt.ItemDataRole.UserRole + 4
UnsureRole = Qt.ItemDataRole.UserRole + 5
ProbabilitiesRole = Qt.ItemDataRole.UserRole + 6
CaptionRole = Qt.ItemDataRole.UserRole + 7
NoveltyRole = Qt.ItemDataRole.UserRole + 8
UnfamiliarRole = Qt.ItemDataRole.UserRole + 9
LabelsRole = Qt.ItemDataRole.UserRole + 10
DoubtRole = Qt.ItemDataRole.UserRole + 11
"""A multi-label row's distance from the nearest threshold (`label_doubt`); None otherwise."""
NO_LABEL_TEXT = "no label"
"""A multi-label tile whose photo passes no label's threshold."""
UNFAMILIAR_COLOUR = "#7b3fb5"

Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class GalleryItem:
    path: str
    label: str | None = None
    confidence: float | None = None
    probabilities: tuple[float, ...] = ()
    error: str | None = None
    caption: str | None = None
    """Extra text under the tile, e.g. "true: lion" in the mistakes view."""
    novelty: float | None = None
    """The model's "unlike the training data" score; None when the model has none."""
    unfamiliar: bool = False
    """"None of these" at the gallery's current percentile (kept up to date by the model)."""
    labels: tuple[str, ...] | None = None
    """A multi-label model's labels for the photo (empty: none passed its threshold); None
    for a single-label result or an unclassified row."""
    threshold: float | None = None
    """The model file's threshold for `label` (None: the class has none)."""

    @property
    def below_threshold(self) -> bool:
        """Unsure because below its class's threshold (after "none of these", kept current)."""
        return below_threshold(self.confidence, self.threshold, self.unfamiliar)


def broken_pixmap(size: int) -> QPixmap:
    pixmap = placeholder_pixmap(size, "#f3d6d6")
    painter = QPainter(pixmap)
    painter.setPen(QColor("#a33"))
    font = painter.font()
    font.setPointSize(max(8, size // 6))
    painter.setFont(font)
    painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, "✕\nbroken")
    painter.end()
    return pixmap


class GalleryModel(ThumbnailRows):
    thumbnail_roles = ()  # a photo that fails to decode turns its row "broken": every role

    def __init__(self, thumbnails: ThumbnailCache, parent: QObject | None = None) -> None:
        super().__init__(thumbnails, thumbnails.size, parent)
        self.classes: tuple[str, ...] = ()
        self.multilabel = False
        """Whether the results are a multi-label model's (`classes` are then its labels)."""
        self.unsure_threshold = 0.7
        self.thresholds: tuple[float, ...] = ()
        """A multi-label model's threshold per label, in `classes` order."""
        self.calibration: NoveltyCalibration | None = None
        self.unfamiliar_percentile = DEFAULT_PERCENTILE
        self._items: list[GalleryItem] = []
        self._broken_icon = QIcon(broken_pixmap(thumbnails.size))

    # --- contents ---------------------------------------------------------------------------

    def set_items(self, items: list[GalleryItem]) -> None:
        """Replace every row; pending thumbnails of the old rows are dropped."""
        self.beginResetModel()
        self.thumbnails.reset()
        self._items = list(items)
        self._index_paths(item.path for item in self._items)
        self.endResetModel()

    def set_paths(self, paths: list[str] | tuple[str, ...]) -> None:
        self.set_items([GalleryItem(path) for path in paths])

    def items(self) -> list[GalleryItem]:
        return list(self._items)

    def item(self, row: int) -> GalleryItem:
        return self._items[row]

    def apply_predictions(self, predictions: Sequence[Prediction], classes: tuple[str, ...],
                          calibration: NoveltyCalibration | None = None) -> None:
        """Fill in results for rows that are present; one dataChanged for the whole batch.

        `calibration` is the model's novelty calibration (None when it has none): the rows'
        "none of these" flags follow the one rule (`none_of_these`) at the gallery's percentile.
        """
        self.classes = classes
        self.calibration = calibration
        self.multilabel = False
        rows = []
        for prediction in predictions:
            row = self._row_of.get(prediction.path)
            if row is None:
                continue
            self._items[row] = replace(
                self._items[row], label=prediction.label,
                confidence=None if prediction.error else prediction.confidence,
                probabilities=prediction.probabilities, error=prediction.error,
                novelty=prediction.novelty,
                unfamiliar=self._flagged(prediction.novelty), threshold=prediction.threshold,
            )
            rows.append(row)
        if rows:
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)))

    def apply_multilabel(self, predictions: Sequence[MultiLabelPrediction],
                         labels: tuple[str, ...], thresholds: tuple[float, ...] = ()) -> None:
        """Fill in a multi-label model's results; a row's confidence is its highest label
        probability (what "sort by confidence" orders by); `thresholds`, one per label,
        decide which rows are unsure."""
        self.classes = labels
        self.thresholds = thresholds
        self.calibration = None
        self.multilabel = True
        rows = []
        for prediction in predictions:
            row = self._row_of.get(prediction.path)
            if row is None:
                continue
            broken = prediction.error is not None or not prediction.probabilities
            self._items[row] = replace(
                self._items[row], labels=None if broken else prediction.labels,
                confidence=None if broken else max(prediction.probabilities),
                probabilities=prediction.probabilities, error=prediction.error)
            rows.append(row)
        if rows:
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)))

    def labels_text(self, item: GalleryItem) -> str:
        """"red 92% · blue 71%" (most probable first), or "no label"."""
        if not item.labels:
            return NO_LABEL_TEXT
        chances = dict(zip(self.classes, item.probabilities, strict=False))
        ranked = sorted(item.labels, key=lambda name: -chances.get(name, 0.0))
        return " · ".join(f"{name} {chances.get(name, 0.0):.0%}" for name in ranked)

    def replace_paths(self, moved: dict[str, str]) -> None:
        """Follow files that were moved, keeping their results."""
        for old, new in moved.items():
            row = self._row_of.pop(old, None)
            if row is not None:
                self._items[row] = replace(self._items[row], path=new)
                self._row_of[new] = row
        if moved and self._items:
            self.dataChanged.emit(self.index(0), self.index(len(self._items) - 1))

    def set_unsure_threshold(self, threshold: float) -> None:
        self.unsure_threshold = threshold
        if self._items:
            self.dataChanged.emit(self.index(0), self.index(len(self._items) - 1))

    def set_unfamiliar_percentile(self, percentile: float) -> None:
        """Flag rows stranger than `percentile` % of the validation images, from stored scores."""
        self.unfamiliar_percentile = percentile
        changed = False
        for row, item in enumerate(self._items):
            flagged = self._flagged(item.novelty)
            if flagged != item.unfamiliar:
                self._items[row] = replace(item, unfamiliar=flagged)
                changed = True
        if changed:
            self.dataChanged.emit(self.index(0), self.index(len(self._items) - 1))

    def _flagged(self, novelty: float | None) -> bool:
        return none_of_these(novelty, self.calibration, self.unfamiliar_percentile)

    def strangeness(self, item: GalleryItem) -> float | None:
        """The share (0-100) of validation images less strange than this one, if known."""
        if self.calibration is None or item.novelty is None:
            return None
        return self.calibration.percentile(item.novelty)

    def novelty_text(self, item: GalleryItem) -> str | None:
        """How unlike the training photos the image is, in words; None without a score."""
        strangeness = self.strangeness(item)
        if strangeness is None:
            return None
        verdict = "none of these: " if item.unfamiliar else ""
        return (f"{verdict}stranger than {strangeness:.0f}% of the model's validation photos "
                f"(novelty {item.novelty:.2f})")

    def threshold_text(self, item: GalleryItem) -> str | None:
        """Why a photo below its class's threshold is unsure, in words; else None."""
        if not item.below_threshold or item.threshold is None:
            return None
        return (f"unsure (below {item.label}'s threshold, {round(item.threshold * 100, 1):g}%):"
                f" not given {item.label}")

    def is_unsure(self, item: GalleryItem) -> bool:
        """Below the confidence threshold or its class's threshold in the model file, and
        not "none of these": a photo is one or the other, so the page's counts of each add
        up to what a review walks through. A multi-label row: some label close to its
        threshold."""
        if item.labels is not None:
            return is_unsure(item.probabilities, self.thresholds)
        if item.unfamiliar or item.confidence is None:
            return False
        return item.confidence < self.unsure_threshold or item.below_threshold

    def doubt(self, item: GalleryItem) -> float | None:
        """A multi-label row's distance from its nearest threshold (smaller: less sure)."""
        return None if item.labels is None else label_doubt(item.probabilities, self.thresholds)

    # --- Qt model interface -----------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(item)
        if role == Qt.ItemDataRole.DecorationRole:
            return self._decoration(item)
        if role == Qt.ItemDataRole.ToolTipRole:
            reason = item.error or self.thumbnails.broken_reason(item.path)
            if reason:
                return f"{item.path}\n{reason}"
            # The tile's lines whole (a tile shortens a long one), then the strangeness.
            lines = [item.path, *self._text(item).split("\n")[1:], self.novelty_text(item),
                     self.threshold_text(item)]
            return "\n".join(line for line in lines if line)
        if role == Qt.ItemDataRole.ForegroundRole:
            if item.error or self.thumbnails.broken_reason(item.path):
                return QColor("#a33")
            if item.unfamiliar:
                return QColor(UNFAMILIAR_COLOUR)
            return QColor("#b36b00") if self.is_unsure(item) else None
        if role == Qt.ItemDataRole.FontRole and item.unfamiliar:
            font = QFont()
            font.setItalic(True)
            return font
        return {
            PathRole: item.path,
            LabelRole: item.label if item.labels is None else "; ".join(item.labels) or None,
            LabelsRole: item.labels,
            ConfidenceRole: item.confidence,
            ErrorRole: item.error or self.thumbnails.broken_reason(item.path),
            UnsureRole: self.is_unsure(item),
            ProbabilitiesRole: item.probabilities,
            CaptionRole: item.caption,
            NoveltyRole: item.novelty,
            UnfamiliarRole: item.unfamiliar,
            DoubtRole: self.doubt(item),
        }.get(role)

    def _text(self, item: GalleryItem) -> str:
        name = Path(item.path).name
        if item.error:
            return f"{name}\nbroken"
        lines = [name]
        if item.labels is not None:
            lines.append(self.labels_text(item))
        elif item.label is not None and item.confidence is not None and item.unfamiliar:
            # Two short lines, so a portrait thumbnail's tile still shows them whole; the
            # closest class's softmax share says little here (the preview lists it).
            lines += ["none of these", f"closest: {item.label}"]
        elif item.label is not None and item.confidence is not None:
            mark = "  · unsure" if self.is_unsure(item) else ""
            # below a threshold of 99.6 %, 0.9958 reads "99%", not a rounded-up "100%"
            shown = f"{math.floor(item.confidence * 100)}%" if item.below_threshold \
                else f"{item.confidence:.0%}"
            lines.append(f"{item.label} {shown}{mark}")
        if item.caption:
            lines.append(item.caption)
        return "\n".join(lines)

    def _decoration(self, item: GalleryItem) -> QIcon:
        if item.error or self.thumbnails.broken_reason(item.path):
            return self._broken_icon
        return self._thumbnail_icon(item.path)
