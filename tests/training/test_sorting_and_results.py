"""Issue 21: `predict --sort-into` run again, labels that would share a folder, a failed sort,
and `--csv` into a folder or onto a full disk (real tmpfs disks, as in test_full_disk)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from synthetic import make_dataset as make_colour_dataset
from test_full_disk import fill, hidden_leftovers

from training.cli import main
from training.predict.sorting import sort_into_folders


@pytest.fixture
def gallery(tmp_path: Path) -> Path:
    """Twelve red and blue photos in one folder, as a camera leaves them."""
    data = make_colour_dataset(tmp_path / "made", per_class=6)
    folder = tmp_path / "gallery"
    folder.mkdir()
    for index, photo in enumerate(sorted(data.rglob("*.png"))):
        shutil.copy(photo, folder / f"c{100 + index}.png")
    return folder


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _predict(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["predict", *args, "--quiet"])
    out, err = capsys.readouterr()
    return code, out, err


# --- item 10 -----------------------------------------------------------------------------------

def test_copying_into_the_same_folder_again_copies_nothing_again(
        capsys, colours_model: Path, gallery: Path, tmp_path: Path) -> None:
    out = tmp_path / "sorted"
    code, _, err = _predict(capsys, str(colours_model), str(gallery), "--sort-into", str(out))
    first = _files(out)
    assert code == 0 and len(first) == 12
    for _ in range(2):  # was 12 → 24 → 36 files: c100 (2).png, (3) …
        code, _, err = _predict(capsys, str(colours_model), str(gallery), "--sort-into",
                                str(out))
        assert code == 0 and _files(out) == first
    assert "0 file(s) copied" in err and "12 not copied again" in err


def test_sorting_a_folder_into_itself_does_not_resort_its_output(
        capsys, colours_model: Path, gallery: Path) -> None:
    originals = _files(gallery)
    for _ in range(3):  # was 12 → 24 → 36 …: its sorted copies were sorted again
        code, _, _ = _predict(capsys, str(colours_model), str(gallery), "--sort-into",
                              str(gallery))
        assert code == 0
        files = _files(gallery)
        assert len(files) == 24 and set(originals) <= set(files)
        assert not any("(2)" in name for name in files)


# --- item 11 (sorting) -------------------------------------------------------------------------

def test_labels_that_would_share_a_folder_get_their_own(tmp_path: Path) -> None:
    photos = []
    for index in range(4):
        photo = tmp_path / "in" / f"p{index}.jpg"
        photo.parent.mkdir(exist_ok=True)
        photo.write_bytes(bytes([index]) * 10)
        photos.append(photo)
    labels = [".", "..", "cheetah", "CHEETAH"]
    summary = sort_into_folders(zip(photos, labels, strict=True), tmp_path / "out")
    folders = {source.name: destination.parent.name for source, destination in summary.done}
    assert folders == {"p0.jpg": "unnamed", "p1.jpg": "unnamed (2)", "p2.jpg": "cheetah",
                       "p3.jpg": "CHEETAH (2)"}  # '.' and '..' both went to 'unnamed'
    text = summary.describe("copied")
    assert "'.' and '..' would share the folder 'unnamed'" in text
    assert "'cheetah' and 'CHEETAH'" in text and "'CHEETAH (2)'" in text


# --- item 12: a failed sort leaves no empty label folders ---------------------------------------

def test_a_sort_that_fails_leaves_no_empty_label_folders(
        gallery: Path, small_disk: Callable[[str, str], Path]) -> None:
    disk = small_disk("usb", "1m")
    filler = fill(disk)
    photos = sorted(gallery.iterdir())
    summary = sort_into_folders([(p, "red" if i % 2 else "blue") for i, p in enumerate(photos)],
                                disk / "sorted")
    assert summary.done == [] and summary.disk_full
    assert sorted(p.name for p in disk.iterdir()) == [filler.name]  # was: sorted/red, blue
    assert hidden_leftovers(disk) == []


# --- item 9 (CSV) ------------------------------------------------------------------------------

def test_csv_into_a_folder_is_one_line_before_any_work(capsys, colours_model: Path,
                                                       gallery: Path, tmp_path: Path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    code, out, err = _predict(capsys, str(colours_model), str(gallery), "--csv", str(folder))
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "is a folder" in err and list(folder.iterdir()) == [] and out == ""


def test_csv_onto_a_full_disk_is_one_line_and_leaves_nothing(
        capsys, colours_model: Path, gallery: Path,
        small_disk: Callable[[str, str], Path]) -> None:
    disk = small_disk("usb", "1m")
    old = disk / "results.csv"
    old.write_text("path,label\nold,row\n")
    filler = fill(disk)
    code, _, err = _predict(capsys, str(colours_model), str(gallery), "--csv", str(old))
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "No space left on device" in err and "nothing was written there" in err
    assert old.read_text() == "path,label\nold,row\n"
    assert sorted(p.name for p in disk.iterdir()) == sorted([filler.name, old.name])
