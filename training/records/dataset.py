"""What a scanned dataset folder is: classes, usable images, and what is wrong with it.

These are plain frozen records so they can cross threads, be shown by any front end and be
written to JSON. `training.data.scanning` builds them; nothing here touches the disk.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning", "info"]
SplitName = Literal["train", "val", "test"]


@dataclass(frozen=True)
class ImageRecord:
    """One usable image of the dataset."""

    path: Path
    relpath: str
    label: int
    own_split: SplitName | None
    width: int
    height: int
    content_hash: str
    phash: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Issue:
    """One finding of the health report.

    `kind` is a stable code a front end can group or filter by; `message` is the sentence
    shown to the user, naming files and saying what to do.
    """

    severity: Severity
    kind: str
    message: str
    paths: tuple[Path, ...] = ()


@dataclass(frozen=True)
class HealthReport:
    issues: tuple[Issue, ...] = ()

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(issue for issue in self.issues if issue.severity == "error")

    @property
    def warnings(self) -> tuple[Issue, ...]:
        return tuple(issue for issue in self.issues if issue.severity == "warning")

    def of_kind(self, kind: str) -> tuple[Issue, ...]:
        return tuple(issue for issue in self.issues if issue.kind == kind)

    @property
    def can_train(self) -> bool:
        """Errors block training; warnings and notes do not."""
        return not self.errors


@dataclass(frozen=True)
class Dataset:
    """A scanned dataset folder: the usable images and the health report."""

    root: Path
    classes: tuple[str, ...]
    images: tuple[ImageRecord, ...]
    report: HealthReport
    has_own_split: bool
    fingerprint: str
    duplicate_groups: tuple[tuple[int, ...], ...] = field(default=())
    """Indices into `images` of files that are the same photo (exact or near-duplicate)."""

    @property
    def class_counts(self) -> dict[str, int]:
        counts = Counter(record.label for record in self.images)
        return {name: counts.get(index, 0) for index, name in enumerate(self.classes)}

    @property
    def labels(self) -> tuple[int, ...]:
        return tuple(record.label for record in self.images)

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(record.path for record in self.images)


@dataclass(frozen=True)
class Split:
    """Indices into `Dataset.images` for each part of a train/validation/test split."""

    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...] = ()
    seed: int | None = None
    source: Literal["folder", "seeded"] = "seeded"

    def part(self, name: SplitName) -> tuple[int, ...]:
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}
