"""The finder's report as a list model: the images most suspicious first, minus those moved
out, and those marked "keep" unless they are asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from cheetahlion_gui.widgets.thumbnail_rows import ThumbnailRows
from cheetahlion_gui.widgets.thumbnails import ThumbnailCache
from training.records.suspects import Suspect

Index = QModelIndex | QPersistentModelIndex
SuspectRole = Qt.ItemDataRole.UserRole + 1


class SuspectsModel(ThumbnailRows):
    """The report's images, most suspicious first, minus those moved or (unless shown) kept."""

    def __init__(self, thumbnails: ThumbnailCache, parent: QObject | None = None) -> None:
        super().__init__(thumbnails, thumbnails.size, parent)
        self.show_kept = False
        self._all: list[Suspect] = []
        self._kept: frozenset[str] = frozenset()
        self._moved: set[Path] = set()
        self._rows: list[Suspect] = []

    def set_report(self, suspects: list[Suspect], kept: frozenset[str]) -> None:
        self._all, self._kept, self._moved = list(suspects), kept, set()
        self._refilter()

    def set_kept(self, kept: frozenset[str]) -> None:
        self._kept = kept
        self._refilter()

    def set_show_kept(self, shown: bool) -> None:
        self.show_kept = shown
        self._refilter()

    def mark_moved(self, paths: list[Path]) -> None:
        self._moved |= set(paths)
        self._refilter()

    def mark_back(self, paths: list[Path]) -> None:
        self._moved -= set(paths)
        self._refilter()

    def suspects(self) -> list[Suspect]:
        return list(self._rows)

    @staticmethod
    def caption(suspect: Suspect, kept: bool) -> tuple[str, str]:
        """A tile's two lines: score and folder, then the finder's headline."""
        mark = " · kept" if kept else ""
        return f"{suspect.score:.2f} · in {suspect.given}{mark}", suspect.headline

    def caption_lines(self) -> set[str]:
        """Every distinct line a tile of the report can show (kept or not), to size the
        tiles: a few hundred to measure, however many photos the report holds."""
        return {line for suspect in self._all for line in self.caption(suspect, True)}

    def is_kept(self, suspect: Suspect) -> bool:
        return suspect.content_hash in self._kept

    def _refilter(self) -> None:
        self.beginResetModel()
        self._rows = [s for s in self._all if s.path not in self._moved
                      and (self.show_kept or s.content_hash not in self._kept)]
        self._index_paths(str(s.path) for s in self._rows)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        suspect = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return "\n".join(self.caption(suspect, self.is_kept(suspect)))
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail_icon(str(suspect.path))
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{suspect.relpath}\n" + "\n".join(suspect.reasons)
        if role == Qt.ItemDataRole.ForegroundRole and suspect.flagged:
            return QColor("#a33")
        if role == SuspectRole:
            return suspect
        return None

