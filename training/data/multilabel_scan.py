"""Scan a multi-label dataset folder into a `MultiLabelDataset`.

Two layouts (issue 23):

* the folder holds `labels.csv` (`training.data.labels_csv`): the listed photos, each with
  the labels of its row; photos in the folder but not in the file are left out (and named);
* class folders where the same photo sits in every folder of its labels (copies or hard
  links), read only when the caller says the dataset is multi-label (`from_folders`): photos
  are matched by content, so a copy under another name is the same photo too.

Either way the same photo (same bytes) is one `LabelledImage` with the labels of all its
copies, and the first path in sort order stands for it: a split can never put a copy of a
training photo into validation. Each file is probed as the single-label scan probes it
(`training.data.scanning.probe_all`), so an unreadable photo is left out and named in the
report in the same words.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from training.core.errors import DatasetError
from training.data.images import is_supported
from training.data.labels_csv import read_labels_csv
from training.data.multilabel_health import Copies, multilabel_report
from training.data.scanning import Candidate, ImageProbe, discover, probe_all
from training.records.dataset import Dataset, ImageRecord, Issue
from training.records.events import ScanProgress
from training.records.multilabel import LABELS_FILE, LabelledImage, MultiLabelDataset

_NAMED_AT_MOST = 10


def scan_multilabel(
    root: str | os.PathLike[str],
    *,
    from_folders: bool = False,
    progress: Callable[[ScanProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> MultiLabelDataset:
    """Scan `root` as a multi-label dataset: its `labels.csv` when it has one, else (with
    `from_folders`) its class folders.

    Raises `DatasetError` when the folder cannot be a multi-label dataset at all (missing, no
    labels.csv and no class folders, a bad labels.csv) or the scan is cancelled; findings
    about photos and labels go into the report.
    """
    root_path = _checked_root(Path(root))
    if (root_path / LABELS_FILE).exists():
        return _from_csv(root_path, progress, cancel)
    if from_folders:
        return _from_folders(root_path, progress, cancel)
    raise DatasetError(
        f"{root_path} has no {LABELS_FILE}. For photos with several labels, add a "
        f"{LABELS_FILE} with the columns path,labels (e.g. beach/1.jpg,beach;sunset), or put "
        "each photo into the folder of every label it has and scan the folders as multi-label "
        "(--multi-label)."
    )


def _checked_root(root: Path) -> Path:
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is a file, not a folder"
        raise DatasetError(
            f"{root} {what}. Choose the folder that holds {LABELS_FILE} or the label folders."
        )
    return root.resolve()


def _from_csv(
    root: Path, progress: Callable[[ScanProgress], None] | None,
    cancel: threading.Event | None,
) -> MultiLabelDataset:
    table = read_labels_csv(root)
    candidates = [Candidate(root / relpath, "", None) for relpath, _ in table.rows]
    probes = probe_all(root, candidates, {"": 0}, progress, cancel, None)
    issues: list[Issue] = []
    if table.ignored_columns:
        issues.append(Issue(
            "info", "ignored_columns",
            f"{LABELS_FILE}: the columns {', '.join(table.ignored_columns)} were ignored; only "
            "path and labels are read.",
            (table.file,),
        ))
    issues += _unlisted(root, {relpath for relpath, _ in table.rows})
    labelled = [(probe.record, labels) for probe, (_, labels) in
                zip(probes, table.rows, strict=True) if probe.record is not None]
    return _assembled(root, table.labels, labelled, probes, issues, "labels.csv")


def _from_folders(
    root: Path, progress: Callable[[ScanProgress], None] | None,
    cancel: threading.Event | None,
) -> MultiLabelDataset:
    issues: list[Issue] = []
    candidates, class_names, split_folders = discover(root, issues)
    if not class_names:
        raise DatasetError(
            f"{root} has no label folders and no {LABELS_FILE}. Make one sub-folder per label "
            "and put each photo into the folder of every label it has (copies or hard links), "
            f"or add a {LABELS_FILE}."
        )
    probes = probe_all(root, candidates, dict.fromkeys(class_names, 0), progress, cancel, None)
    if split_folders:
        issues.append(Issue(
            "info", "own_split_ignored",
            f"The photos of {', '.join(f'{d.name}/' for d in split_folders.values())} were "
            "read as one set: a multi-label split is drawn so that every label is in both "
            "training and validation.",
            tuple(split_folders.values()),
        ))
    labelled = [(probe.record, (probe.candidate.class_name,)) for probe in probes
                if probe.record is not None]
    return _assembled(root, tuple(class_names), labelled, probes, issues, "folders")


def _unlisted(root: Path, listed: set[str]) -> list[Issue]:
    """An info issue naming the photos in the folder that labels.csv does not list."""
    found: list[Path] = []
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(current) / name
            if not name.startswith(".") and is_supported(path) and \
                    path.relative_to(root).as_posix() not in listed:
                found.append(path)
    if not found:
        return []
    named = ", ".join(path.relative_to(root).as_posix() for path in found[:_NAMED_AT_MOST])
    more = f" and {len(found) - _NAMED_AT_MOST} more" if len(found) > _NAMED_AT_MOST else ""
    return [Issue(
        "info", "unlisted_images",
        f"{len(found)} photo(s) in the folder are not in {LABELS_FILE} and were left out: "
        f"{named}{more}. Add a row for each one to use it (an empty labels cell if it has none "
        "of the labels).",
        tuple(found),
    )]


def _assembled(
    root: Path,
    labels: tuple[str, ...],
    labelled: Sequence[tuple[ImageRecord, tuple[str, ...]]],
    probes: Sequence[ImageProbe],
    issues: list[Issue],
    source: str,
) -> MultiLabelDataset:
    """One `LabelledImage` per distinct photo, sorted by path, with the report."""
    by_hash: dict[str, list[tuple[ImageRecord, tuple[str, ...]]]] = {}
    for record, names in sorted(labelled, key=lambda pair: pair[0].relpath):
        by_hash.setdefault(record.content_hash, []).append((record, names))
    index = {name: position for position, name in enumerate(labels)}
    images = tuple(
        LabelledImage(
            path=group[0][0].path, relpath=group[0][0].relpath,
            labels=tuple(sorted({index[name] for _, names in group for name in names})),
            width=group[0][0].width, height=group[0][0].height,
            content_hash=group[0][0].content_hash,
        )
        for group in by_hash.values()
    )
    copies: list[Copies] = [tuple(group) for group in by_hash.values() if len(group) > 1]
    report = multilabel_report(
        labels, images, [probe.problem for probe in probes if probe.problem is not None],
        [record for record, _ in labelled if record.notes], copies, issues,
        from_folders=source == "folders", root=root,
    )
    return MultiLabelDataset(
        root=root, labels=labels, images=images, report=report,
        fingerprint=multilabel_fingerprint(labels, images),
        source="folders" if source == "folders" else "labels.csv",
    )


def cross_folder_copies(dataset: Dataset) -> int:
    """How many photos of a single-label scan sit, as identical files, in more than one class
    folder. A few are mistakes (the report's `conflicting_labels`); many suggest the folders
    are a multi-label dataset, so a front end can offer to scan them as one."""
    classes_of: dict[str, set[int]] = {}
    for record in dataset.images:
        classes_of.setdefault(record.content_hash, set()).add(record.label)
    return sum(len(classes) > 1 for classes in classes_of.values())


def multilabel_fingerprint(labels: Sequence[str], images: Sequence[LabelledImage]) -> str:
    """Identity of the dataset's content: the same photos with the same labels give the same
    value anywhere, and never the value of a single-label scan of the same folder."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(("multi-label\0" + "\0".join(labels)).encode())
    for image in images:
        names = ";".join(labels[index] for index in image.labels)
        digest.update(f"\0{image.relpath}\0{names}\0{image.content_hash}".encode())
    return digest.hexdigest()
