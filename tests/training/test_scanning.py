"""Scanning a dataset folder and its health report.

Every bad input is built on disk: the scan must not crash, must name the file and say what to
do, must keep the rest of the dataset usable, and must never write into the folder.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.core.errors import DatasetError
from training.data.scanning import scan_dataset
from training.records.dataset import Dataset, Issue

Builder = Callable[[Path, Callable[..., Path], Callable[..., Path]], Path]


def issues_about(dataset: Dataset, path: Path) -> list[Issue]:
    return [issue for issue in dataset.report.issues if path in issue.paths]


def kinds(dataset: Dataset) -> set[str]:
    return {issue.kind for issue in dataset.report.issues}


def only(dataset: Dataset, kind: str) -> Issue:
    found = dataset.report.of_kind(kind)
    assert len(found) == 1, dataset.report.issues
    return found[0]


def relpaths(dataset: Dataset) -> list[str]:
    return [record.relpath for record in dataset.images]


@pytest.fixture
def two_classes(tmp_path, make_dataset) -> Path:
    """data/cheetah and data/lion with three distinct photos each (seeds 0-5)."""
    return make_dataset(tmp_path / "data", {"cheetah": 3, "lion": 3})


# --- bad files: each is skipped with a message naming it, and nothing is written ---------------


def _truncated_jpeg(folder, make_image, _header):
    path = make_image(folder / "truncated.jpg", (120, 90), seed=100, quality=95)
    path.write_bytes(path.read_bytes()[:1500])
    return path


def _zero_bytes(folder, _make_image, _header):
    path = folder / "zero.jpg"
    path.write_bytes(b"")
    return path


def _text_named_jpg(folder, _make_image, _header):
    path = folder / "readme.jpg"
    path.write_text("Photos of cheetahs, taken in 2021.\n")
    return path


def _decompression_bomb(folder, _make_image, make_png_header):
    return make_png_header(folder / "bomb.png", 50_000, 50_000)


def _one_pixel(folder, _make_image, _header):
    path = folder / "pixel.png"
    Image.new("RGB", (1, 1), (200, 100, 0)).save(path)
    return path


def _symlink_to_itself(folder, _make_image, _header):
    path = folder / "self.jpg"
    os.symlink("self.jpg", path)
    return path


UNUSABLE: dict[str, tuple[Builder, str, str]] = {
    "truncated JPEG": (_truncated_jpeg, "corrupt", "Re-copy or re-download it"),
    "zero-byte file": (_zero_bytes, "empty", "Delete it or replace it"),
    "text file named .jpg": (_text_named_jpg, "not_image", "save it as JPEG or PNG"),
    "decompression bomb": (_decompression_bomb, "too_large", "shrink it"),
    "1x1 image": (_one_pixel, "too_small", "use a larger copy"),
    "file symlink to itself": (_symlink_to_itself, "unreadable", "not a broken link"),
}


@pytest.mark.parametrize("case", list(UNUSABLE))
def test_unusable_file_is_skipped_and_named(case, two_classes, make_image, make_png_header,
                                            take_snapshot):
    build, problem, advice = UNUSABLE[case]
    bad = build(two_classes / "cheetah", make_image, make_png_header)
    before = take_snapshot(two_classes)

    dataset = scan_dataset(two_classes, workers=2)

    assert take_snapshot(two_classes) == before, "a scan must not write into the dataset"
    assert bad not in dataset.paths
    assert dataset.class_counts == {"cheetah": 3, "lion": 3}
    [issue] = issues_about(dataset, bad)
    assert (issue.severity, issue.kind) == ("warning", problem)
    assert str(bad) in issue.message
    assert advice in issue.message
    assert "skipped" in issue.message
    assert dataset.report.can_train


def _png_named_jpg(folder, make_image, _header):
    return make_image(folder / "really a png.jpg", fmt="PNG", seed=101)


def _cmyk_jpeg(folder, make_image, _header):
    return make_image(folder / "print.jpg", mode="CMYK", seed=102, quality=95)


def _png_16_bit(folder, make_image, _header):
    path = make_image(folder / "scan16.png", mode="L", seed=103)
    gray = np.asarray(Image.open(path), dtype=np.uint16) * 257
    Image.fromarray(gray).save(path)
    return path


def _palette_with_transparency(folder, make_image, _header):
    path = make_image(folder / "sticker.png", seed=104)
    Image.open(path).quantize(colors=32).save(path, transparency=0)
    return path


def _rgba(folder, make_image, _header):
    return make_image(folder / "cutout.png", mode="RGBA", seed=105)


def _grayscale(folder, make_image, _header):
    return make_image(folder / "mono.jpg", mode="L", seed=106)


def _exif_rotated(folder, make_image, _header):
    exif = Image.Exif()
    exif[0x0112] = 6
    return make_image(folder / "portrait.jpg", (120, 80), seed=107, exif=exif)


def _animated_gif(folder, make_image, _header):
    path = make_image(folder / "running.gif", seed=108)
    frames = [Image.open(path).convert("RGB")] + [
        Image.open(make_image(folder.parent / f"frame{i}.png", seed=109 + i)).convert("RGB")
        for i in range(2)
    ]
    for i in range(2):
        (folder.parent / f"frame{i}.png").unlink()
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=80, loop=0)
    return path


USABLE: dict[str, tuple[Builder, str]] = {
    "PNG named .jpg": (_png_named_jpg, "is a PNG file named .jpg"),
    "CMYK JPEG": (_cmyk_jpeg, "converted from CMYK to RGB"),
    "16-bit PNG": (_png_16_bit, "converted from I;16 to 8-bit RGB"),
    "palette PNG with transparency": (_palette_with_transparency,
                                      "converted from P (transparency shown on white) to RGB"),
    "RGBA": (_rgba, "converted from RGBA (transparency shown on white) to RGB"),
    "grayscale": (_grayscale, "converted from L to RGB"),
    "EXIF-rotated photo": (_exif_rotated, "EXIF orientation 6 applied"),
    "animated GIF": (_animated_gif, "animated (3 frames): the first frame is used"),
}


@pytest.mark.parametrize("case", list(USABLE))
def test_convertible_file_is_used_with_a_note(case, two_classes, make_image, make_png_header,
                                              take_snapshot):
    build, note = USABLE[case]
    odd = build(two_classes / "cheetah", make_image, make_png_header)
    before = take_snapshot(two_classes)

    dataset = scan_dataset(two_classes, workers=2)

    assert take_snapshot(two_classes) == before, "a scan must not write into the dataset"
    [record] = [record for record in dataset.images if record.path == odd]
    assert dataset.classes[record.label] == "cheetah"
    assert note in record.notes
    [issue] = issues_about(dataset, odd)
    assert (issue.severity, issue.kind) == ("info", "converted")
    assert str(odd) in issue.message and note in issue.message
    assert dataset.class_counts == {"cheetah": 4, "lion": 3}
    assert not dataset.report.warnings and dataset.report.can_train


def test_every_bad_input_at_once(two_classes, make_image, make_png_header, take_snapshot):
    folder = two_classes / "cheetah"
    bad = {build(folder, make_image, make_png_header): problem
           for build, problem, _ in UNUSABLE.values()}
    odd = [build(folder, make_image, make_png_header) for build, _ in USABLE.values()]
    before = take_snapshot(two_classes)

    dataset = scan_dataset(two_classes)

    assert take_snapshot(two_classes) == before
    assert set(odd) <= set(dataset.paths)
    for path, problem in bad.items():
        assert [issue.kind for issue in issues_about(dataset, path)] == [problem]
    assert dataset.class_counts == {"cheetah": 3 + len(odd), "lion": 3}
    assert not dataset.duplicate_groups
    assert dataset.report.can_train


# --- permissions and links -----------------------------------------------------------------------

_AS_NOBODY = """
import json, os, sys
from PIL import Image
Image.init()
from training.data.images import ImageProblem, read_bytes
from training.data.scanning import scan_dataset
if os.geteuid() == 0:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
root, locked = sys.argv[1:3]
try:
    read_bytes(locked)
    direct = None
except ImageProblem as problem:
    direct = [problem.problem, str(problem)]
dataset = scan_dataset(root, workers=1)
print(json.dumps({
    "uid": os.geteuid(),
    "direct": direct,
    "images": [record.relpath for record in dataset.images],
    "issues": [[i.kind, i.message, [str(p) for p in i.paths]] for i in dataset.report.issues],
}))
"""


def _open_path_to(path: Path) -> dict[Path, int]:
    """Let every user traverse the folders leading to `path`; return the modes to restore."""
    changed = {}
    for folder in [path, *path.parents]:
        mode = stat.S_IMODE(folder.stat().st_mode)
        if mode & 0o005 != 0o005:
            changed[folder] = mode
            folder.chmod(mode | 0o005)
    return changed


def test_file_without_read_permission_is_reported(two_classes, make_image, take_snapshot):
    """chmod 000 does not stop root, so as root the check runs as user 65534 (nobody).

    The child imports everything as root (the interpreter may live in root's home), then
    drops to uid/gid 65534 before reading a single dataset file.
    """
    locked = make_image(two_classes / "lion" / "locked photo é.png", seed=120)
    for current, dirs, files in os.walk(two_classes):
        for name in dirs:
            Path(current, name).chmod(0o755)
        for name in files:
            Path(current, name).chmod(0o644)
    two_classes.chmod(0o755)
    locked.chmod(0)
    before = take_snapshot(two_classes)
    restore = _open_path_to(two_classes.parent) if os.geteuid() == 0 else {}
    try:
        child = subprocess.run(
            [sys.executable, "-c", _AS_NOBODY, str(two_classes), str(locked)],
            capture_output=True, text=True, timeout=60, check=False,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
    finally:
        for folder, mode in restore.items():
            folder.chmod(mode)
        after = take_snapshot(two_classes)
        locked.chmod(0o644)
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout)
    assert result["uid"] != 0
    assert after == before
    problem, message = result["direct"]
    assert problem == "unreadable"
    assert "locked photo é.png" in message and "permission denied" in message
    assert "lion/locked photo é.png" not in result["images"]
    assert len(result["images"]) == 6
    [issue] = [issue for issue in result["issues"] if str(locked) in issue[2]]
    assert issue[0] == "unreadable"
    assert "locked photo é.png" in issue[1] and "Check the file's permissions" in issue[1]


def test_folder_symlink_loops_are_reported_not_followed(two_classes, make_image,
                                                        take_snapshot):
    cheetah = two_classes / "cheetah"
    make_image(cheetah / "sub" / "deeper.png", seed=130)
    os.symlink(".", cheetah / "itself")        # a folder link to the folder holding it
    os.symlink("..", cheetah / "sub" / "up")   # a folder link to its parent folder
    self_link = cheetah / "self.jpg"
    os.symlink("self.jpg", self_link)          # a file link to itself
    before = take_snapshot(two_classes)

    dataset = scan_dataset(two_classes)

    assert take_snapshot(two_classes) == before
    assert dataset.class_counts == {"cheetah": 4, "lion": 3}, "each photo counted once"
    assert len(set(dataset.paths)) == len(dataset.paths)
    loops = dataset.report.of_kind("symlink_loop")
    assert {path.name for issue in loops for path in issue.paths} == {"itself", "up"}
    assert all("loop" in issue.message and "skipped" in issue.message for issue in loops)
    [issue] = issues_about(dataset, self_link)
    assert issue.kind == "unreadable" and "self.jpg" in issue.message
    assert not dataset.duplicate_groups


def test_links_to_the_root_or_another_class_are_loops(two_classes):
    os.symlink("..", two_classes / "cheetah" / "whole-dataset")
    os.symlink("../lion", two_classes / "cheetah" / "the-lions")
    dataset = scan_dataset(two_classes)
    assert dataset.class_counts == {"cheetah": 3, "lion": 3}, "no lion is filed as a cheetah"
    loops = dataset.report.of_kind("symlink_loop")
    assert {p.name for issue in loops for p in issue.paths} == {"whole-dataset", "the-lions"}
    assert not dataset.report.of_kind("conflicting_labels")


def test_exif_rotated_photo_records_its_shown_size(two_classes, make_image):
    exif = Image.Exif()
    exif[0x0112] = 6
    make_image(two_classes / "lion" / "portrait.jpg", (120, 80), seed=140, exif=exif)
    dataset = scan_dataset(two_classes)
    [record] = [r for r in dataset.images if r.path.name == "portrait.jpg"]
    assert (record.width, record.height) == (80, 120)


def test_symlinked_class_folder_is_followed(two_classes, tmp_path, make_dataset):
    elsewhere = make_dataset(tmp_path / "elsewhere", {"leopard": 2}, first_seed=50)
    os.symlink(elsewhere / "leopard", two_classes / "leopard")
    dataset = scan_dataset(two_classes)
    assert dataset.class_counts == {"cheetah": 3, "leopard": 2, "lion": 3}


# --- classes -----------------------------------------------------------------------------------


def test_empty_class_folder_blocks_training(two_classes):
    (two_classes / "zebra").mkdir()
    dataset = scan_dataset(two_classes)
    assert dataset.classes == ("cheetah", "lion", "zebra")
    issue = only(dataset, "empty_class")
    assert issue.severity == "error" and "'zebra'" in issue.message
    assert issue.paths == (two_classes / "zebra",)
    assert not dataset.report.can_train
    assert dataset.report.issues[0].severity == "error", "errors come first"


def test_class_whose_files_are_all_broken_is_empty(two_classes):
    (two_classes / "zebra").mkdir()
    (two_classes / "zebra" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 nothing")
    dataset = scan_dataset(two_classes)
    assert "'zebra'" in only(dataset, "empty_class").message
    assert not dataset.report.can_train


def test_single_class_is_too_few(tmp_path, make_dataset):
    root = make_dataset(tmp_path / "data", {"cheetah": 4})
    dataset = scan_dataset(root)
    issue = only(dataset, "too_few_classes")
    assert issue.severity == "error"
    assert "'cheetah'" in issue.message and "at least two classes" in issue.message
    assert not dataset.report.can_train


def test_no_usable_image_at_all(tmp_path):
    for name in ("cheetah", "lion"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.png").write_text("not a png")
    dataset = scan_dataset(tmp_path)
    assert dataset.images == ()
    assert "found none" in only(dataset, "too_few_classes").message
    assert len(dataset.report.of_kind("empty_class")) == 2
    assert not dataset.report.can_train


def test_one_image_in_a_class_is_a_warning(tmp_path, make_dataset):
    root = make_dataset(tmp_path / "data", {"cheetah": 3, "lion": 1})
    dataset = scan_dataset(root)
    issue = only(dataset, "tiny_class")
    assert issue.severity == "warning" and "'lion'" in issue.message
    assert dataset.report.can_train


@pytest.mark.parametrize(("counts", "warned"), [((7, 2), True), ((6, 2), False)],
                         ids=["3.5x", "exactly-3x"])
def test_imbalance_above_three_to_one_is_warned(tmp_path, make_dataset, counts, warned):
    root = make_dataset(tmp_path / "data", dict(zip(("cheetah", "lion"), counts, strict=True)))
    dataset = scan_dataset(root)
    found = dataset.report.of_kind("imbalance")
    assert bool(found) is warned
    if warned:
        assert found[0].severity == "warning"
        assert "cheetah: 7" in found[0].message and "lion: 2" in found[0].message
    assert dataset.report.can_train


# --- folder layout -----------------------------------------------------------------------------


def test_nested_folders_count_for_their_top_class(two_classes, make_image):
    deep = make_image(two_classes / "cheetah" / "2021" / "summer trip" / "deep.png", seed=140)
    dataset = scan_dataset(two_classes)
    assert dataset.classes == ("cheetah", "lion")
    [record] = [record for record in dataset.images if record.path == deep]
    assert dataset.classes[record.label] == "cheetah"
    assert record.relpath == "cheetah/2021/summer trip/deep.png"


def test_hidden_files_and_folders_are_ignored(two_classes, make_image):
    hidden = [
        make_image(two_classes / "cheetah" / ".hidden.png", seed=150),
        make_image(two_classes / "cheetah" / ".thumbnails" / "t.png", seed=151),
        make_image(two_classes / ".git" / "objects" / "x.png", seed=152),
        make_image(two_classes / ".trash" / "old.png", seed=153),
    ]
    (two_classes / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (two_classes / "lion" / "._lion_0.png").write_bytes(b"\0\5\26\7 AppleDouble")
    dataset = scan_dataset(two_classes)
    assert dataset.classes == ("cheetah", "lion")
    assert len(dataset.images) == 6
    mentioned = {path for issue in dataset.report.issues for path in issue.paths}
    assert not any(part.startswith(".") for path in mentioned
                   for part in path.relative_to(two_classes).parts)
    assert not set(hidden) & set(dataset.paths)
    assert dataset.report.issues == ()


def test_unicode_and_spaces_in_folder_and_file_names(tmp_path, make_image, take_snapshot):
    root = tmp_path / "my photos ✓"
    make_image(root / "guépard 猫" / "photo été 1.png", seed=160)
    make_image(root / "guépard 猫" / "photo été 2.png", seed=161)
    make_image(root / "snow leopard" / "ñ 1.png", seed=162)
    make_image(root / "snow leopard" / "ñ 2.png", seed=163)
    bad = make_image(root / "snow leopard" / "cassé ü.jpg", seed=164)
    bad.write_bytes(bad.read_bytes()[:400])
    before = take_snapshot(root)
    dataset = scan_dataset(root)
    assert take_snapshot(root) == before
    assert dataset.classes == ("guépard 猫", "snow leopard")
    assert "guépard 猫/photo été 1.png" in relpaths(dataset)
    [issue] = issues_about(dataset, bad)
    assert issue.kind == "corrupt" and "snow leopard/cassé ü.jpg" in issue.message
    assert dataset.report.can_train


def test_unsupported_and_loose_files_are_noted(two_classes, make_image):
    (two_classes / "cheetah" / "notes.txt").write_text("shot in Kenya")
    loose = make_image(two_classes / "stray.png", seed=170)
    dataset = scan_dataset(two_classes)
    assert len(dataset.images) == 6
    assert only(dataset, "unsupported_files").paths == (two_classes / "cheetah" / "notes.txt",)
    assert only(dataset, "loose_files").paths == (loose,)
    assert "Move them into the folder of their class" in only(dataset, "loose_files").message
    assert not dataset.report.warnings


def _split_layout(root: Path, make_image, val_name: str = "valid", test: bool = True) -> Path:
    parts = {"train": 3, val_name: 2} | ({"test": 1} if test else {})
    seed = 200
    for part, count in parts.items():
        for name in ("cheetah", "lion"):
            for index in range(count):
                make_image(root / part / name / f"{index}.png", (64, 64), seed=seed)
                seed += 1
    return root


@pytest.mark.parametrize("val_name", ["val", "valid", "validation"])
def test_train_val_test_layout_is_honoured(tmp_path, make_image, val_name):
    root = _split_layout(tmp_path / "data", make_image, val_name)
    (tmp_path / "data" / "notes").mkdir()
    dataset = scan_dataset(root)
    assert dataset.has_own_split
    assert dataset.classes == ("cheetah", "lion")
    assert dataset.class_counts == {"cheetah": 6, "lion": 6}
    expected = {"train": "train", val_name: "val", "test": "test"}
    for record in dataset.images:
        assert record.own_split == expected[record.relpath.split("/")[0]]
    assert "notes" in only(dataset, "ignored_folder").message
    assert dataset.report.can_train


def test_train_without_val_is_an_ordinary_class_layout(tmp_path, make_dataset):
    root = make_dataset(tmp_path / "data", {"train": 2, "lion": 2})
    dataset = scan_dataset(root)
    assert not dataset.has_own_split
    assert dataset.classes == ("lion", "train")


def test_folder_without_class_folders_is_refused(tmp_path, make_image):
    make_image(tmp_path / "only.png")
    with pytest.raises(DatasetError, match="has no class folders"):
        scan_dataset(tmp_path)


def test_missing_dataset_folder_is_refused(tmp_path):
    missing = tmp_path / "no such folder"
    with pytest.raises(DatasetError) as caught:
        scan_dataset(missing)
    assert str(missing) in str(caught.value) and "does not exist" in str(caught.value)


def test_file_given_as_dataset_folder_is_refused(tmp_path, make_image):
    photo = make_image(tmp_path / "cheetah.png")
    with pytest.raises(DatasetError) as caught:
        scan_dataset(photo)
    assert str(photo) in str(caught.value) and "is a file, not a folder" in str(caught.value)


# --- duplicates, conflicts, leakage -----------------------------------------------------------


def test_exact_duplicate_within_a_class(two_classes):
    copy = two_classes / "cheetah" / "cheetah_0 copy.png"
    shutil.copyfile(two_classes / "cheetah" / "cheetah_0.png", copy)
    dataset = scan_dataset(two_classes)
    issue = only(dataset, "duplicate")
    assert issue.severity == "warning"
    assert "cheetah/cheetah_0.png" in issue.message
    assert "cheetah/cheetah_0 copy.png" in issue.message
    assert "identical files" in issue.message
    [group] = dataset.duplicate_groups
    assert {dataset.images[i].path.name for i in group} == {"cheetah_0.png", copy.name}
    assert dataset.report.can_train


def test_same_photo_in_two_classes_conflicts(two_classes):
    shutil.copyfile(two_classes / "cheetah" / "cheetah_1.png", two_classes / "lion" / "odd.png")
    dataset = scan_dataset(two_classes)
    issue = only(dataset, "conflicting_labels")
    assert "cheetah/cheetah_1.png" in issue.message and "lion/odd.png" in issue.message
    assert "(cheetah, lion)" in issue.message
    assert "duplicate" not in kinds(dataset)


def test_same_photo_in_train_and_val_leaks(tmp_path, make_image):
    root = _split_layout(tmp_path / "data", make_image, test=False)
    shutil.copyfile(root / "train" / "lion" / "0.png", root / "valid" / "lion" / "again.png")
    dataset = scan_dataset(root)
    issue = only(dataset, "leakage")
    assert "train/lion/0.png" in issue.message and "valid/lion/again.png" in issue.message
    assert "train and val" in issue.message
    assert "duplicate" not in kinds(dataset)


def test_duplicate_inside_one_part_of_a_folder_split_is_no_leak(tmp_path, make_image):
    root = _split_layout(tmp_path / "data", make_image, test=False)
    shutil.copyfile(root / "train" / "lion" / "0.png", root / "train" / "lion" / "again.png")
    dataset = scan_dataset(root)
    assert "leakage" not in kinds(dataset)
    only(dataset, "duplicate")


def test_reencoded_smaller_copy_is_a_near_duplicate(tmp_path, make_dataset, make_texture):
    root = make_dataset(tmp_path / "data", {"cheetah": 4, "lion": 4}, size=(128, 128))
    original = root / "cheetah" / "cheetah_2.png"
    smaller = root / "cheetah" / "cheetah_2 small.jpg"
    Image.open(original).resize((90, 90), Image.Resampling.LANCZOS).save(smaller, quality=30)
    dataset = scan_dataset(root)
    issue = only(dataset, "near_duplicate")
    assert issue.severity == "info"
    assert set(issue.paths) == {original, smaller}
    assert "near-duplicates" in issue.message
    [group] = dataset.duplicate_groups
    assert {dataset.images[i].path for i in group} == {original, smaller}


def test_distinct_images_are_not_grouped(tmp_path, make_dataset):
    root = make_dataset(tmp_path / "data", {"cheetah": 12, "lion": 12})
    dataset = scan_dataset(root)
    assert dataset.duplicate_groups == ()
    assert not kinds(dataset) & {"duplicate", "near_duplicate", "conflicting_labels"}
    assert dataset.report.issues == ()


# --- the scan itself ---------------------------------------------------------------------------


def test_records_describe_each_image(two_classes):
    dataset = scan_dataset(two_classes)
    assert dataset.root == two_classes.resolve()
    assert relpaths(dataset) == [f"{c}/{c}_{i}.png" for c in ("cheetah", "lion") for i in range(3)]
    assert dataset.labels == (0, 0, 0, 1, 1, 1)
    assert all((r.width, r.height) == (64, 64) and r.own_split is None for r in dataset.images)
    assert not dataset.has_own_split


def test_fingerprint_follows_content(two_classes, make_image):
    first = scan_dataset(two_classes, workers=1).fingerprint
    assert scan_dataset(two_classes, workers=4).fingerprint == first
    make_image(two_classes / "lion" / "lion_0.png", (64, 64), seed=999)
    assert scan_dataset(two_classes).fingerprint != first


def test_progress_is_reported_to_the_end(two_classes):
    seen = []
    scan_dataset(two_classes, progress=seen.append)
    assert (seen[0].done, seen[0].total) == (0, 6)
    assert (seen[-1].done, seen[-1].total) == (6, 6)


def test_cancelled_scan_stops_with_a_message(two_classes):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DatasetError, match="cancelled"):
        scan_dataset(two_classes, cancel=cancel)


# --- the folder's own split: every class must be learnable ------------------------------------


def test_class_only_in_val_blocks_training_and_says_what_to_do(tmp_path, make_image, capsys):
    from training.cli import main

    root = _split_layout(tmp_path / "data", make_image, val_name="val", test=False)
    for index in range(2):
        make_image(root / "val" / "tiger" / f"{index}.png", (64, 64), seed=300 + index)
    dataset = scan_dataset(root)
    issue = only(dataset, "untrained_class")
    assert issue.severity == "error" and not dataset.report.can_train
    assert "'tiger'" in issue.message
    assert "val/tiger/" in issue.message and "train/tiger/" in issue.message
    assert "Add photos" in issue.message and "remove" in issue.message
    real = root.resolve()
    assert set(issue.paths) == {real / "train" / "tiger", real / "val" / "tiger"}

    assert main(["scan", str(root), "--quiet"]) == 1
    assert "error: Class 'tiger'" in capsys.readouterr().out
    assert main(["train", str(root), "-o", str(tmp_path / "model.safetensors"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Class 'tiger'") and err.count("\n") == 1
    assert not (tmp_path / "model.safetensors").exists()


def test_class_whose_training_photos_are_all_broken_is_untrained(tmp_path, make_image):
    root = _split_layout(tmp_path / "data", make_image, val_name="valid", test=True)
    for path in (root / "train" / "lion").iterdir():
        path.write_bytes(b"")
    dataset = scan_dataset(root)
    issue = only(dataset, "untrained_class")
    assert "'lion'" in issue.message and "valid/lion/" in issue.message
    assert "test/lion/" in issue.message
    assert not dataset.report.can_train


def test_class_without_validation_photos_is_a_warning(tmp_path, make_image):
    root = _split_layout(tmp_path / "data", make_image, val_name="validation", test=False)
    make_image(root / "train" / "tiger" / "0.png", (64, 64), seed=300)
    make_image(root / "train" / "tiger" / "1.png", (64, 64), seed=301)
    dataset = scan_dataset(root)
    issue = only(dataset, "unvalidated_class")
    assert issue.severity == "warning" and dataset.report.can_train
    assert "'tiger'" in issue.message and "validation/tiger/" in issue.message
    assert "untrained_class" not in kinds(dataset)


def test_empty_val_folder_blocks_training(tmp_path, make_image):
    root = _split_layout(tmp_path / "data", make_image, val_name="val", test=False)
    for path in (root / "val").rglob("*.png"):
        path.unlink()
    dataset = scan_dataset(root)
    issue = only(dataset, "empty_val")
    assert issue.severity == "error" and "val/" in issue.message
    assert "unvalidated_class" not in kinds(dataset)


def test_an_empty_class_in_a_folders_own_split_names_its_split_folders(tmp_path,
                                                                        make_dataset):
    root = tmp_path / "data"
    make_dataset(root / "train", {"cheetah": 4, "lion": 4})
    make_dataset(root / "val", {"cheetah": 2, "lion": 2}, first_seed=50)
    (root / "train" / "zebra").mkdir()
    (root / "val" / "zebra").mkdir()
    dataset = scan_dataset(root)
    issue = only(dataset, "empty_class")
    assert issue.paths == (dataset.root / "train" / "zebra", dataset.root / "val" / "zebra")
    assert not dataset.report.can_train
