"""The multi-label finder's doubts as a list model: a row per doubted label of a photo ("add
'blue'?", "remove 'red'?"), strongest first, minus those already fixed.

A row is one label of one photo, not one photo, so that "Add label" and "Remove label" act
on exactly the rows selected: a photo that probably lacks one label and wrongly has another
shows twice, and each fix is its own choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt, Slot
from PySide6.QtGui import QColor

from cheetahlion_gui.widgets.thumbnail_rows import ThumbnailRows
from cheetahlion_gui.widgets.thumbnails import ThumbnailCache
from training.records.multilabel_suspects import (
    LABEL_FLAG_SCORE,
    LABEL_LOOK_SCORE,
    LabelDoubt,
    LabelSuspect,
    LabelSuspectReport,
)

Index = QModelIndex | QPersistentModelIndex
DoubtRole = Qt.ItemDataRole.UserRole + 1
Key = tuple[str, str]
"""A row's identity: (the photo's relpath, the doubted label)."""


@dataclass(frozen=True)
class DoubtRow:
    """One doubted label of one photo."""

    suspect: LabelSuspect
    doubt: LabelDoubt

    @property
    def key(self) -> Key:
        return self.suspect.relpath, self.doubt.label

    @property
    def flagged(self) -> bool:
        """Strong enough to be flagged (and the photo within the flag cap): drawn in red."""
        return self.suspect.flagged and self.doubt.score >= LABEL_FLAG_SCORE

    @property
    def question(self) -> str:
        """"add 'blue'?" or "remove 'red'?": what the row asks the user to do."""
        verb = "add" if self.doubt.kind == "missing" else "remove"
        return f"{verb} '{self.doubt.label}'?"

    def caption(self) -> tuple[str, str, str]:
        """A tile's lines: the photo, the question with its score, the labels it has now."""
        return (self.suspect.relpath, f"{self.question} {self.doubt.score:.2f}",
                "has: " + (", ".join(self.suspect.labels) or "no label"))


def doubt_rows(report: LabelSuspectReport) -> list[DoubtRow]:
    """Every doubt worth a look (`LABEL_LOOK_SCORE`) of the report, strongest first."""
    rows = [DoubtRow(suspect, doubt) for suspect in report.suspects
            for doubt in suspect.doubts if doubt.score >= LABEL_LOOK_SCORE]
    rows.sort(key=lambda row: (not row.flagged, -row.doubt.score, row.key))
    return rows


class LabelDoubtsModel(ThumbnailRows):
    """The report's doubts worth a look, strongest first, minus those fixed."""

    def __init__(self, thumbnails: ThumbnailCache, parent: QObject | None = None) -> None:
        super().__init__(thumbnails, thumbnails.size, parent)
        self._all: list[DoubtRow] = []
        self._fixed: set[Key] = set()
        self._rows: list[DoubtRow] = []
        self._rows_of: dict[str, list[int]] = {}

    def set_report(self, report: LabelSuspectReport | None) -> None:
        self._all, self._fixed = (doubt_rows(report) if report is not None else []), set()
        self._refilter()

    def mark_fixed(self, keys: list[Key]) -> None:
        self._fixed |= set(keys)
        self._refilter()

    def mark_back(self, keys: list[Key]) -> None:
        self._fixed -= set(keys)
        self._refilter()

    def rows(self) -> list[DoubtRow]:
        return list(self._rows)

    def caption_lines(self) -> set[str]:
        """The lines that must show whole on a tile (not the photo's path, which a tile may
        shorten in its middle: the tooltip has it whole)."""
        return {line for row in self._all for line in row.caption()[1:]}

    def _refilter(self) -> None:
        self.beginResetModel()
        self._rows = [row for row in self._all if row.key not in self._fixed]
        self._rows_of = {}
        for number, row in enumerate(self._rows):
            self._rows_of.setdefault(str(row.suspect.path), []).append(number)
        self.endResetModel()

    @Slot(str)
    def _thumbnail_changed(self, path: str) -> None:
        """Every row of the photo: one with two doubts has two rows."""
        for row in self._rows_of.get(path, ()):
            index = self.index(row)
            self.dataChanged.emit(index, index, list(self.thumbnail_roles))

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return "\n".join(row.caption())
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail_icon(str(row.suspect.path))
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{row.suspect.relpath}\n{row.doubt.reason}"
        if role == Qt.ItemDataRole.ForegroundRole and row.flagged:
            return QColor("#a33")
        if role == DoubtRole:
            return row
        return None
