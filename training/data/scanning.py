"""Scan a dataset folder into a `Dataset`: find the images, check each one, report problems.

Two layouts are understood:

* one sub-folder per class (`cheetah/`, `lion/`, …), any number of classes;
* `train/`, `val/` (or `valid/`, `validation/`) and optionally `test/`, each holding the class
  folders; that split is then honoured instead of drawing one.

Files in nested folders of a class belong to that class. Hidden files and folders are
ignored; symlinked folders are followed once (a loop is reported, not followed forever).
Nothing is written anywhere.

Each image is read once and decoded at reduced size (JPEG draft mode): enough to prove it
decodes to the end, to read its size, to compute its perceptual hash and to tell a blank or
one-colour placeholder from a photo, without paying for full-resolution pixels nobody will
look at during a scan.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from training.core.errors import DatasetError
from training.data.health import build_report, is_one_colour
from training.data.images import (
    READABLE_FORMATS,
    ImageProblem,
    content_hash,
    decode_image,
    is_supported,
    perceptual_hash,
    read_bytes,
)
from training.records.dataset import Dataset, ImageRecord, Issue, SplitName
from training.records.events import ScanProgress

SPLIT_FOLDERS: dict[str, SplitName] = {
    "train": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
}
HASH_DRAFT_SIZE = 64
_PROGRESS_EVERY = 25


@dataclass(frozen=True)
class Candidate:
    """A file the scan will probe, and the class folder (and split folder) it was found in."""

    path: Path
    class_name: str
    own_split: SplitName | None


@dataclass(frozen=True)
class ImageProbe:
    """What probing one candidate found: its record when usable, else the problem (which the
    health report names); `one_colour` for a blank or placeholder picture."""

    candidate: Candidate
    record: ImageRecord | None
    problem: ImageProblem | None
    one_colour: bool = False


def scan_dataset(
    root: str | os.PathLike[str],
    progress: Callable[[ScanProgress], None] | None = None,
    cancel: threading.Event | None = None,
    workers: int | None = None,
) -> Dataset:
    """Scan `root` and return its usable images with a health report.

    Raises `DatasetError` only when the folder itself cannot be a dataset (missing, not a
    folder, no class folders); everything about individual files or classes goes into the
    report, so a front end can show all of it at once.
    """
    root_path = _check_root(Path(root))
    layout_issues: list[Issue] = []
    candidates, class_names, split_folders = discover(root_path, layout_issues)
    if not class_names:
        raise DatasetError(
            f"{root_path} has no class folders. Put the photos of each class in a sub-folder "
            "named after the class, e.g. cheetah/ and lion/, then scan again."
        )
    label_of = {name: index for index, name in enumerate(class_names)}
    probes = probe_all(root_path, candidates, label_of, progress, cancel, workers)

    images = tuple(probe.record for probe in probes if probe.record is not None)
    problems = [probe.problem for probe in probes if probe.problem is not None]
    one_colour = [probe.record for probe in probes if probe.record and probe.one_colour]
    report, groups = build_report(
        root_path, class_names, images, problems, layout_issues, split_folders, one_colour
    )
    return Dataset(
        root=root_path,
        classes=tuple(class_names),
        images=images,
        report=report,
        has_own_split=bool(split_folders),
        fingerprint=_fingerprint(class_names, images),
        duplicate_groups=groups,
    )


def _check_root(root: Path) -> Path:
    if not root.exists():
        raise DatasetError(
            f"{root} does not exist. Choose the folder that holds your class folders."
        )
    if not root.is_dir():
        raise DatasetError(
            f"{root} is a file, not a folder. Choose the folder that holds your class folders."
        )
    try:
        next(iter(os.scandir(root)), None)
    except PermissionError:
        raise DatasetError(f"{root} cannot be read (permission denied).") from None
    return root.resolve()


def _visible_subdirs(folder: Path) -> list[Path]:
    with os.scandir(folder) as entries:
        return sorted(
            (Path(entry.path) for entry in entries
             if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=True)),
            key=lambda path: path.name,
        )


def discover(
    root: Path, issues: list[Issue]
) -> tuple[list[Candidate], list[str], dict[SplitName, Path]]:
    """The image files, the class names, and the folder's own split folders (empty when it
    has none), so the report can name the real `valid/` or `Train/` folder.

    Public for the multi-label scan of class folders (`training.data.multilabel_scan`), which
    finds its files the same way; layout findings are appended to `issues`."""
    class_folders, splits = _class_folders(root, issues)
    class_names = sorted({folder.name for folder, _ in class_folders})
    candidates, unsupported = _collect_files(root, class_folders, issues)
    _report_left_out(root, unsupported, issues)
    candidates.sort(
        key=lambda c: (c.own_split or "", c.class_name, c.path.relative_to(root).as_posix())
    )
    return candidates, class_names, splits


def _class_folders(
    root: Path, issues: list[Issue]
) -> tuple[list[tuple[Path, SplitName | None]], dict[SplitName, Path]]:
    """Each class folder with the split it belongs to, and the split folders by name.

    With `train/` and `val/` at the top the classes are inside them and the other top-level
    folders are ignored (an info issue names them); otherwise every top-level folder is a
    class and there are no split folders.
    """
    top = _visible_subdirs(root)
    splits = {SPLIT_FOLDERS[d.name.lower()]: d for d in top if d.name.lower() in SPLIT_FOLDERS}
    if not ("train" in splits and "val" in splits):
        return [(class_dir, None) for class_dir in top], {}
    class_folders = [
        (class_dir, split) for split, split_dir in splits.items()
        for class_dir in _visible_subdirs(split_dir)
    ]
    ignored = [d for d in top if d not in splits.values()]
    if ignored:
        issues.append(Issue(
            "info", "ignored_folder",
            "These folders are not train/val/test and were ignored: "
            + ", ".join(d.name for d in ignored),
            tuple(ignored),
        ))
    return class_folders, splits


def _collect_files(
    root: Path, class_folders: list[tuple[Path, SplitName | None]], issues: list[Issue]
) -> tuple[list[Candidate], list[Path]]:
    """The files of every class folder: candidates of a supported type, and the others."""
    candidates: list[Candidate] = []
    unsupported: list[Path] = []
    for folder, split in class_folders:
        others = {os.path.realpath(f) for f, _ in class_folders if f != folder}
        for path in _walk_files(folder, issues, blocked=others | {os.path.realpath(root)}):
            if is_supported(path):
                candidates.append(Candidate(path, folder.name, split))
            else:
                unsupported.append(path)
    return candidates, unsupported


def _report_left_out(root: Path, unsupported: list[Path], issues: list[Issue]) -> None:
    """Issues for the files a scan leaves out: images outside any class folder and files of
    other types."""
    loose = [p for p in _files_in(root) if is_supported(p)]
    if loose:
        issues.append(Issue(
            "info", "loose_files",
            f"{len(loose)} image(s) lie directly in {root.name}/, outside any class folder, "
            "and were ignored. Move them into the folder of their class.",
            tuple(loose),
        ))
    if unsupported:
        issues.append(Issue(
            "info", "unsupported_files",
            f"{len(unsupported)} file(s) are not of a supported image type "
            f"({READABLE_FORMATS}) and were skipped.",
            tuple(unsupported),
        ))


def _files_in(folder: Path) -> list[Path]:
    with os.scandir(folder) as entries:
        return [
            Path(entry.path) for entry in entries
            if not entry.name.startswith(".") and not entry.is_dir(follow_symlinks=True)
        ]


def _walk_files(folder: Path, issues: list[Issue], blocked: set[str]) -> Iterator[Path]:
    """Every visible file under `folder`, following symlinked folders but never in a loop.

    A link back to the dataset root, to one of its ancestors or to another class's folder is
    a loop too: following it would file other classes' photos under this one.
    """
    seen: set[str] = set()

    def on_error(error: OSError) -> None:
        issues.append(Issue(
            "warning", "unreadable_folder",
            f"{error.filename}: cannot be read ({error.strerror}); its files were skipped.",
            (Path(error.filename),) if error.filename else (),
        ))

    for current, dirs, files in os.walk(folder, followlinks=True, onerror=on_error):
        real = os.path.realpath(current)
        if real in seen or real in blocked or any(
            other.startswith(real + os.sep) for other in blocked
        ):
            issues.append(Issue(
                "warning", "symlink_loop",
                f"{current}: this folder link points back into the dataset (a loop, or "
                "another class's folder); it was skipped.",
                (Path(current),),
            ))
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(current) / name


def probe_all(
    root: Path,
    candidates: list[Candidate],
    label_of: dict[str, int],
    progress: Callable[[ScanProgress], None] | None,
    cancel: threading.Event | None,
    workers: int | None,
) -> list[ImageProbe]:
    """Probe every candidate on a few threads, in order; `label_of` gives each class folder's
    label for its records. Raises `DatasetError` when `cancel` is set.

    Public for the multi-label scan, so unreadable files are found and named the same way."""
    total = len(candidates)
    if progress:
        progress(ScanProgress(done=0, total=total))
    results: list[ImageProbe] = []
    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scan") as pool:
        try:
            # Pillow releases the GIL while decoding, so threads overlap reading and decoding.
            for done, probe in enumerate(
                pool.map(lambda c: _probe(root, c, label_of[c.class_name]), candidates), start=1
            ):
                results.append(probe)
                if cancel is not None and cancel.is_set():
                    raise DatasetError("The scan was cancelled.")
                if progress and (done % _PROGRESS_EVERY == 0 or done == total):
                    progress(ScanProgress(done=done, total=total))
        except BaseException:  # cancelled, or Ctrl+C: drop the files not yet probed
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return results


def _probe(root: Path, candidate: Candidate, label: int) -> ImageProbe:
    try:
        data = read_bytes(candidate.path)
        decoded = decode_image(candidate.path, data, draft_size=HASH_DRAFT_SIZE)
    except ImageProblem as problem:
        return ImageProbe(candidate, None, problem)
    width, height = decoded.original_size
    record = ImageRecord(
        path=candidate.path,
        relpath=candidate.path.relative_to(root).as_posix(),
        label=label,
        own_split=candidate.own_split,
        width=width,
        height=height,
        content_hash=content_hash(data),
        phash=perceptual_hash(decoded.image),
        notes=decoded.notes,
    )
    return ImageProbe(candidate, record, None, is_one_colour(decoded.image))


def _fingerprint(class_names: list[str], images: tuple[ImageRecord, ...]) -> str:
    """Identity of the dataset's content: same files and labels give the same value anywhere."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update("\0".join(class_names).encode())
    for record in images:
        digest.update(f"\0{record.relpath}\0{record.label}\0{record.content_hash}".encode())
    return digest.hexdigest()
