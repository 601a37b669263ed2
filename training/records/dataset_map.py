"""The map of a dataset as plain data: where each photo sits, what links and flags it.

`training.insight.dataset_map` computes it (features, then a projection to two dimensions);
this module only holds it and keeps it in step with the folder. It imports no torch, so a
front end can carry a map across a rescan on its GUI thread: after a clean-up move the photos
keep their places (a map that re-projected after every move would jump under the user's
eyes), moved-out photos leave it, a photo moved to another class takes that class's colour,
and a photo whose move is undone comes back to its old place, found by its content.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from training.records.dataset import Dataset
    from training.records.suspects import SuspectReport


@dataclass(frozen=True)
class DatasetMap:
    """Every photo of a dataset as a point: one entry per photo in each per-photo column."""

    root: Path
    classes: tuple[str, ...]
    paths: tuple[Path, ...]
    content_hashes: tuple[str, ...]
    labels: tuple[int, ...]
    """Index into `classes` of the folder each photo sits in."""
    x: tuple[float, ...]
    y: tuple[float, ...]
    links: tuple[tuple[int, int], ...] = ()
    """Index pairs of photos that are copies or near-copies of each other."""
    flags: tuple[str, ...] = ()
    """Per photo: why the finder thinks it is in the wrong folder, or "" (empty: no report)."""
    explained: float = 0.0
    """The share of the features' variance the two axes show (0..1)."""
    seconds: float = 0.0
    unplaced: int = 0
    """Photos of the dataset the map has no place for (added since it was computed)."""

    def __len__(self) -> int:
        return len(self.paths)

    def flag(self, index: int) -> str:
        return self.flags[index] if self.flags else ""

    def with_report(self, report: SuspectReport | None) -> DatasetMap:
        """The map with the finder's flags: its flagged photos' headlines, by content."""
        if report is None:
            return replace(self, flags=())
        headline = {s.content_hash: s.headline for s in report.flagged}
        return replace(self, flags=tuple(headline.get(c, "") for c in self.content_hashes))

    def for_dataset(self, dataset: Dataset) -> DatasetMap:
        """The same places for the photos of `dataset` (the folder scanned again).

        A photo is found by its path, else by its content (moved to another class, or back
        from quarantine). A photo that changed class loses its flag: the user has acted on
        it. Links are the rescanned dataset's duplicate groups.
        """
        by_path = {path: index for index, path in enumerate(self.paths)}
        by_content: dict[str, list[int]] = {}
        for index, content in enumerate(self.content_hashes):
            by_content.setdefault(content, []).append(index)
        found = {index: by_path[record.path] for index, record in enumerate(dataset.images)
                 if record.path in by_path}
        taken = set(found.values())
        for index, record in enumerate(dataset.images):
            spare = [i for i in by_content.get(record.content_hash, ()) if i not in taken]
            if index not in found and spare:
                found[index] = spare[0]
                taken.add(spare[0])
        placed = sorted(found.items())
        return self._placed(dataset, placed)

    def _placed(self, dataset: Dataset, placed: list[tuple[int, int]]) -> DatasetMap:
        records = [dataset.images[index] for index, _ in placed]
        old = [found for _, found in placed]
        moved = [self.classes[self.labels[i]] != dataset.classes[r.label]
                 for i, r in zip(old, records, strict=True)]
        position = {index: row for row, (index, _) in enumerate(placed)}
        return DatasetMap(
            root=dataset.root, classes=dataset.classes,
            paths=tuple(r.path for r in records),
            content_hashes=tuple(r.content_hash for r in records),
            labels=tuple(r.label for r in records),
            x=tuple(self.x[i] for i in old), y=tuple(self.y[i] for i in old),
            links=duplicate_links(dataset.duplicate_groups, position),
            flags=tuple("" if m else self.flag(i) for i, m in zip(old, moved, strict=True))
            if self.flags else (),
            explained=self.explained, seconds=self.seconds,
            unplaced=len(dataset.images) - len(placed))


def duplicate_links(groups: Iterable[tuple[int, ...]],
                    position: dict[int, int] | None = None) -> tuple[tuple[int, int], ...]:
    """A star per group of copies: its first photo linked to each other one. `position`
    maps dataset indices to map indices (photos missing from it are left out)."""
    links: list[tuple[int, int]] = []
    for group in groups:
        members = [i if position is None else position.get(i) for i in group]
        shown = [i for i in members if i is not None]
        links.extend((shown[0], other) for other in shown[1:])
    return tuple(links)
