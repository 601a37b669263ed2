"""The dataset health report: what to fix before training, in words a user can act on.

Per file: images that could not be used (and why), what was converted on the way in, and
pictures that are blank or nearly one colour (a web page's "image not found" placeholder
saved in place of the photo, a black frame).
Per dataset: classes without images, too few classes, imbalance, exact and near-duplicate
photos, the same photo under two labels, and the same photo on both sides of a folder's own
train/validation split (leakage). With a folder's own split, also classes that cannot be
learned (no training images) or checked (no validation images).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from training.data.images import ImageProblem
from training.records.dataset import HealthReport, ImageRecord, Issue, SplitName

NEAR_DUPLICATE_MAX_BITS = 8
"""pHash bits two photos may differ in and still count as the same picture.

On the cheetah/lion photos, re-encoded or slightly cropped copies differ in 0-4 bits and the
closest distinct photos in 12 or more; 8 sits in that gap.
"""
IMBALANCE_RATIO = 3.0
ONE_COLOUR_SHARE = 0.85
"""A picture with at least this share of its pixels near its most common colour is reported
as blank or nearly one colour.

Measured with `one_colour_share` on the 300 cheetah/lion photos: at most 0.65 (a cheetah in
dark grass); placeholder pictures ("This photo is no longer available", "Image not found"
on white) reach 0.92 and a blank or black frame 1.0.
"""
_NEAR_LEVELS = 12
"""How far (in 0-255 levels, on every channel) a pixel may be from the most common colour
and still count as that colour: JPEG noise and a placeholder's soft gradient stay inside."""
_LOOK_SIZE = (32, 32)
_NAMED_AT_MOST = 10


def build_report(
    root: Path,
    class_names: Sequence[str],
    images: Sequence[ImageRecord],
    problems: Sequence[ImageProblem],
    layout_issues: Sequence[Issue],
    split_folders: Mapping[SplitName, Path],
    one_colour: Sequence[ImageRecord] = (),
) -> tuple[HealthReport, tuple[tuple[int, ...], ...]]:
    """Return the report and the groups of image indices that show the same photo.

    `split_folders` holds the folder's own train/val(/test) folders; empty when the dataset
    has none and a split will be drawn. `one_colour`: the images the scan found blank or
    nearly one colour (`is_one_colour`).
    """
    issues: list[Issue] = list(layout_issues)
    folders_of = {name: tuple(folder / name for folder in split_folders.values())
                  or (root / name,) for name in class_names}
    issues += _class_issues(class_names, images, folders_of)
    if split_folders:
        issues += _own_split_issues(class_names, images, split_folders)
    groups = duplicate_groups(images)
    issues += _duplicate_issues(class_names, images, groups, bool(split_folders))
    if one_colour:
        issues.append(_one_colour_issue(one_colour))
    issues += [
        Issue("warning", problem.problem, f"{problem} It was skipped.", (problem.path,))
        for problem in problems
    ]
    issues += [
        Issue("info", "converted", f"{record.path}: " + "; ".join(record.notes) + ".",
              (record.path,))
        for record in images if record.notes
    ]
    order = {"error": 0, "warning": 1, "info": 2}
    issues.sort(key=lambda issue: order[issue.severity])
    return HealthReport(tuple(issues)), groups


def one_colour_share(image: Image.Image) -> float:
    """The share of `image`'s pixels within `_NEAR_LEVELS` of its most common colour.

    Computed on a 32×32 reduction of the small picture the scan already decoded (a JPEG at
    1/8 scale): about 0.06 ms per photo. The most common colour is taken on a 32-level grid
    per channel, and pixels are compared with that cell's centre.
    """
    pixels = np.asarray(image.convert("RGB").resize(_LOOK_SIZE, Image.Resampling.BOX),
                        dtype=np.int16).reshape(-1, 3)
    cells = pixels >> 3
    common = int(np.bincount((cells[:, 0] << 10) | (cells[:, 1] << 5) | cells[:, 2]).argmax())
    near = np.ones(len(pixels), dtype=bool)
    for channel, cell in enumerate((common >> 10, (common >> 5) & 31, common & 31)):
        near &= np.abs(pixels[:, channel] - (cell * 8 + 4)) <= _NEAR_LEVELS
    return float(near.mean())


def is_one_colour(image: Image.Image) -> bool:
    """Blank or nearly one colour: a placeholder or an empty frame, not a photo."""
    return one_colour_share(image) >= ONE_COLOUR_SHARE


def _one_colour_issue(records: Sequence[ImageRecord]) -> Issue:
    """One finding for all of them, naming the files: there is nothing to learn from them, and
    they teach the model that a grey page belongs to a class."""
    names = [record.relpath for record in records[:_NAMED_AT_MOST]]
    more = len(records) - len(names)
    listing = ", ".join(names) + (f" and {more} more" if more else "")
    count = len(records)
    what = ("1 photo is blank or nearly one colour (a placeholder?)" if count == 1 else
            f"{count} photos are blank or nearly one colour (placeholders?)")
    return Issue(
        "warning", "one_colour",
        f"{what} — look at {'it' if count == 1 else 'them'} and remove "
        f"{'it' if count == 1 else 'them'}: {listing}.",
        tuple(record.path for record in records),
    )


def _class_issues(
    class_names: Sequence[str], images: Sequence[ImageRecord],
    folders_of: Mapping[str, tuple[Path, ...]],
) -> list[Issue]:
    """`folders_of` names each class's folders: `root/<class>`, or one per split folder."""
    counts = [0] * len(class_names)
    for record in images:
        counts[record.label] += 1
    issues: list[Issue] = []
    for name, count in zip(class_names, counts, strict=True):
        if count == 0:
            issues.append(Issue(
                "error", "empty_class",
                f"Class '{name}' has no usable images. Add photos to its folder, or remove "
                "the folder if the class is not wanted.",
                folders_of[name],
            ))
        elif count == 1:
            issues.append(Issue(
                "warning", "tiny_class",
                f"Class '{name}' has only one image, so it cannot be both learned and checked. "
                "Add more photos (at least 10 per class is a good start).",
                folders_of[name],
            ))
    populated = [count for count in counts if count > 0]
    if len(populated) < 2:
        found = ", ".join(f"'{n}'" for n, c in zip(class_names, counts, strict=True) if c) or "none"
        issues.insert(0, Issue(
            "error", "too_few_classes",
            f"A classifier needs at least two classes with images; found {found}. Make one "
            "sub-folder per class inside the dataset folder and put each class's photos in it.",
        ))
    elif max(populated) / min(populated) > IMBALANCE_RATIO:
        detail = ", ".join(f"{n}: {c}" for n, c in zip(class_names, counts, strict=True) if c)
        issues.append(Issue(
            "warning", "imbalance",
            f"The classes are imbalanced ({detail}); the largest has more than "
            f"{IMBALANCE_RATIO:g}× the images of the smallest. The model may favour the large "
            "class: add photos to the small ones if you can.",
        ))
    return issues


def _own_split_issues(
    class_names: Sequence[str],
    images: Sequence[ImageRecord],
    split_folders: Mapping[SplitName, Path],
) -> list[Issue]:
    """Check that the folder's own split can train and check every class.

    The classes are the union of the class folders in train/, val/ and test/, and the model
    gets one output per class. A class with no training images would get an output it never
    learned (and validation would count its photos as certain mistakes), so that blocks
    training. A class with no validation images can be learned but never checked: a warning.
    """
    counts = Counter((record.label, record.own_split) for record in images)
    train, val = split_folders["train"], split_folders["val"]
    if not any(split == "val" for _, split in counts):
        return [Issue(
            "error", "empty_val",
            f"{val.name}/ has no usable images, so nothing can check the model while it trains. "
            f"Put some photos of each class in {val.name}/<class>/, or remove the "
            f"{train.name}/ and {val.name}/ folders (keeping one folder per class) to let "
            "CheetahLion draw a split.",
            (val,),
        )]
    issues: list[Issue] = []
    for label, name in enumerate(class_names):
        if counts[label, "train"] == 0:
            found = [folder / name for split, folder in split_folders.items()
                     if counts[label, split]]
            if not found:
                continue  # no images anywhere: `_class_issues` reports the empty class
            where = " and ".join(_shown(folder) for folder in found)
            issues.append(Issue(
                "error", "untrained_class",
                f"Class '{name}' has photos in {where} but none usable in "
                f"{_shown(train / name)}, so the model could not learn it. Add photos of "
                f"'{name}' to {_shown(train / name)}, or remove {where} if the class is not "
                "wanted.",
                (train / name, *found),
            ))
        elif counts[label, "val"] == 0:
            issues.append(Issue(
                "warning", "unvalidated_class",
                f"Class '{name}' has no usable photos in {_shown(val / name)}, so validation "
                f"cannot tell how well the model recognises it. Move a few of its photos (about "
                f"one in five) from {_shown(train / name)} to {_shown(val / name)}.",
                (train / name, val / name),
            ))
    return issues


def _shown(folder: Path) -> str:
    """`val/tiger/`: a class folder as the user sees it inside the dataset."""
    return f"{folder.parent.name}/{folder.name}/"


def duplicate_groups(images: Sequence[ImageRecord]) -> tuple[tuple[int, ...], ...]:
    """Groups (of two or more) of images that are the same photo, exactly or nearly."""
    parent = list(range(len(images)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            parent[max(root_a, root_b)] = min(root_a, root_b)

    first_with_hash: dict[str, int] = {}
    for index, record in enumerate(images):
        union(index, first_with_hash.setdefault(record.content_hash, index))
    hashes = np.array([record.phash for record in images], dtype=np.uint64)
    for index in range(len(images) - 1):
        distances = np.bitwise_count(hashes[index + 1:] ^ hashes[index])
        for offset in np.flatnonzero(distances <= NEAR_DUPLICATE_MAX_BITS):
            union(index, index + 1 + int(offset))

    members: dict[int, list[int]] = defaultdict(list)
    for index in range(len(images)):
        members[find(index)].append(index)
    return tuple(tuple(group) for group in members.values() if len(group) > 1)


def _duplicate_issues(
    class_names: Sequence[str],
    images: Sequence[ImageRecord],
    groups: Sequence[Sequence[int]],
    has_own_split: bool,
) -> list[Issue]:
    issues: list[Issue] = []
    for group in groups:
        records = [images[i] for i in group]
        paths = tuple(record.path for record in records)
        listing = ", ".join(record.relpath for record in records)
        exact = len({record.content_hash for record in records}) == 1
        what = "identical files" if exact else "the same photo (near-duplicates)"
        labels = sorted({class_names[record.label] for record in records})
        splits = {record.own_split for record in records}
        if len(labels) > 1:
            issues.append(Issue(
                "warning", "conflicting_labels",
                f"{listing} are {what} but sit in different classes ({', '.join(labels)}). "
                "Keep the copy in the right class and delete the others.",
                paths,
            ))
        elif has_own_split and len(splits) > 1:
            issues.append(Issue(
                "warning", "leakage",
                f"{listing} are {what} split across {' and '.join(sorted(splits))}: validation "
                "would score a photo the model trained on. Keep one copy, or move all copies "
                "into the same split.",
                paths,
            ))
        else:
            issues.append(Issue(
                "warning" if exact else "info",
                "duplicate" if exact else "near_duplicate",
                f"{listing} are {what} in class '{labels[0]}'. They are kept on the same side "
                "of the split; delete the extra copies if you did not mean to weight this photo.",
                paths,
            ))
    return issues
