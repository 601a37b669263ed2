"""The health report of a multi-label dataset: what to fix before training, per label.

A label is learned from its positives and checked on validation's positives, so a label on
fewer than two photos cannot be both (an error), and one on few photos will be learned
poorly (a warning). A label on (nearly) every photo has nothing to be told apart from, and
two labels on exactly the same photos cannot be told apart from each other. Photos with no
label are fine (they show what none of the labels looks like) and are counted. Which labels
come together most, and how many photos each label has, are noted for the user to check.
Unreadable files are reported in the single-label scan's words
(`training.data.health.build_report`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path

from training.data.images import ImageProblem
from training.records.dataset import HealthReport, ImageRecord, Issue
from training.records.multilabel import LABELS_FILE, LabelledImage

MIN_IMAGES = 5
"""Fewer usable photos cannot train and check a model: one in five goes to validation."""
MIN_POSITIVES = 2
"""A label needs a photo in training and one in validation."""
FEW_POSITIVES = 10
"""Below this many photos a label gets a warning (the single-label advice: 10 a class)."""
TOP_PAIRS = 5
_NAMED_AT_MOST = 10

Copies = tuple[tuple[ImageRecord, tuple[str, ...]], ...]
"""Files with the same bytes (the first in path order stands for them), each with the labels
its row or folder gave it."""


def multilabel_report(
    labels: Sequence[str],
    images: Sequence[LabelledImage],
    problems: Sequence[ImageProblem],
    converted: Sequence[ImageRecord],
    copies: Sequence[Copies],
    layout_issues: Sequence[Issue],
    *,
    from_folders: bool,
    root: Path,
) -> HealthReport:
    """The report: `layout_issues` first found by the scan, then the dataset's and labels'."""
    issues: list[Issue] = list(layout_issues)
    issues += _size_issues(labels, images)
    issues += _label_issues(labels, images, from_folders, root)
    issues += _pair_issues(labels, images)
    issues += _copy_issues(copies, from_folders)
    issues += [
        Issue("warning", problem.problem, f"{problem} It was skipped.", (problem.path,))
        for problem in problems
    ]
    issues += [
        Issue("info", "converted", f"{record.path}: " + "; ".join(record.notes) + ".",
              (record.path,))
        for record in converted
    ]
    order = {"error": 0, "warning": 1, "info": 2}
    issues.sort(key=lambda issue: order[issue.severity])
    return HealthReport(tuple(issues))


def _size_issues(labels: Sequence[str], images: Sequence[LabelledImage]) -> list[Issue]:
    issues: list[Issue] = []
    if len(images) < MIN_IMAGES:
        issues.append(Issue(
            "error", "too_few_images",
            f"Only {len(images)} usable photo(s); training and checking a model needs at least "
            f"{MIN_IMAGES} (one in five is kept for validation). Add photos.",
        ))
    if not labels or not any(image.labels for image in images):
        issues.append(Issue(
            "error", "no_labels",
            "No usable photo has a label, so there is nothing to learn. Give the photos their "
            f"labels in {LABELS_FILE} (separated by ';'), or put them in label folders.",
        ))
    unlabelled = [image for image in images if not image.labels]
    if unlabelled and len(unlabelled) < len(images):
        issues.append(Issue(
            "info", "unlabelled_images",
            f"{len(unlabelled)} photo(s) have none of the labels; they show the model what none "
            "of the labels looks like.",
            tuple(image.path for image in unlabelled),
        ))
    return issues


def positives_problem(name: str, positives: int) -> str:
    """Why a label with fewer than `MIN_POSITIVES` photos cannot be trained, in words (the
    report and `split_multilabel` say the same)."""
    on = "no usable photo" if positives == 0 else "only 1 photo"
    return (f"Label '{name}' is on {on}, so it cannot be both learned (training) and checked "
            f"(validation). Give it to at least {MIN_POSITIVES} photos ({FEW_POSITIVES} or more "
            "is a good start), or remove the label.")


def _label_issues(labels: Sequence[str], images: Sequence[LabelledImage],
                  from_folders: bool, root: Path) -> list[Issue]:
    """Per label: too few positives (error below 2, warning below 10), too few negatives,
    and one info line with every label's count."""
    members: list[list[Path]] = [[] for _ in labels]
    for image in images:
        for label in image.labels:
            members[label].append(image.path)
    issues: list[Issue] = []
    for name, paths in zip(labels, members, strict=True):
        count, negatives = len(paths), len(images) - len(paths)
        where = tuple(paths) or ((root / name,) if from_folders else ())
        if count < MIN_POSITIVES:
            issues.append(Issue("error", "empty_label" if count == 0 else "too_few_positives",
                                positives_problem(name, count), where))
        elif count < FEW_POSITIVES:
            issues.append(Issue(
                "warning", "few_positives",
                f"Label '{name}' is on only {count} photos: the model will learn it poorly and "
                f"validation can hardly check it. Add photos with it ({FEW_POSITIVES} or more "
                "is a good start).",
                where,
            ))
        if count >= MIN_POSITIVES and negatives < MIN_POSITIVES:
            issues.append(Issue(
                "warning", "too_few_negatives",
                f"Label '{name}' is on {count} of the {len(images)} photos, so the model cannot "
                f"learn what is not '{name}'. Add photos without it, or remove the label.",
                where,
            ))
    if labels:
        counts = ", ".join(f"{name} {len(paths)}" for name, paths in
                           zip(labels, members, strict=True))
        issues.append(Issue("info", "label_counts", f"Photos per label: {counts}."))
    return issues


def _pair_issues(labels: Sequence[str], images: Sequence[LabelledImage]) -> list[Issue]:
    """Labels on exactly the same photos (a warning), and the pairs that come together most."""
    pairs: Counter[tuple[int, int]] = Counter()
    photos_of: dict[int, list[int]] = {}
    for position, image in enumerate(images):
        pairs.update(combinations(image.labels, 2))
        for label in image.labels:
            photos_of.setdefault(label, []).append(position)
    issues: list[Issue] = []
    same: dict[tuple[int, ...], list[int]] = {}
    for label, photos in sorted(photos_of.items()):
        if len(photos) >= MIN_POSITIVES:
            same.setdefault(tuple(photos), []).append(label)
    for photos, group in same.items():
        if len(group) > 1:
            names = " and ".join(f"'{labels[label]}'" for label in group)
            issues.append(Issue(
                "warning", "same_photos",
                f"Labels {names} are on exactly the same {len(photos)} photos, so the model "
                "cannot tell them apart. Add photos that have one but not the other, or merge "
                "them into one label.",
                tuple(images[position].path for position in photos),
            ))
    if pairs:
        top = sorted(pairs.items(), key=lambda item: (-item[1], item[0]))[:TOP_PAIRS]
        listing = ", ".join(f"{labels[a]} + {labels[b]} ({count} photo{'s' * (count != 1)})"
                            for (a, b), count in top)
        issues.append(Issue("info", "co_occurrence",
                            f"Labels that come together most: {listing}."))
    return issues


def _copy_issues(copies: Sequence[Copies], from_folders: bool) -> list[Issue]:
    """Identical files counted once. In label folders that is the layout itself (a note);
    copies inside one folder, or listed twice in labels.csv, are worth a look (a warning)."""
    spanning = [group for group in copies if len({names for _, names in group}) > 1]
    extra = [group for group in copies if group not in spanning] if from_folders else \
        list(copies)
    issues: list[Issue] = []
    if from_folders and spanning:
        issues.append(Issue(
            "info", "merged_copies",
            f"{len(spanning)} photo(s) sit in more than one label folder; each counts once, "
            f"with the labels of all its folders (e.g. {_listing(spanning[0])}).",
            tuple(record.path for group in spanning for record, _ in group),
        ))
    if extra:
        shown = "; ".join(_listing(group) for group in extra[:_NAMED_AT_MOST])
        more = f"; and {len(extra) - _NAMED_AT_MOST} more" if len(extra) > _NAMED_AT_MOST else ""
        advice = ("Delete the extra copies in the same folder." if from_folders else
                  f"Delete the extra copies, and list each photo once in {LABELS_FILE} with all "
                  "its labels.")
        issues.append(Issue(
            "warning", "identical_copies",
            f"{len(extra)} photo(s) are in the dataset more than once as identical files "
            f"({shown}{more}); each counts once, with the labels of all its copies. {advice}",
            tuple(record.path for group in extra for record, _ in group),
        ))
    return issues


def _listing(group: Copies) -> str:
    return " = ".join(record.relpath for record, _ in group)
