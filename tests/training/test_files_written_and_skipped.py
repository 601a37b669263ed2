"""Files the app writes and files it leaves out.

* Every file a command leaves out of a gallery is counted and named, in text, JSON and CSV.
* Sorting a folder into itself changes nothing, however often it runs.
* Written files get the user's umask, and a killed writer's temporary files are cleaned up.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from heif_files import write_heic
from synthetic import textured_image

from training.cli import main
from training.core.atomic import write_atomically
from training.predict.results_csv import write_results_csv
from training.predict.sorting import sort_into_folders


@pytest.fixture
def gallery(make_image: Callable[..., Path], tmp_path: Path) -> Path:
    """Two photos, an iPhone photo, a video, a text file, a broken link and a hidden file."""
    folder = tmp_path / "gallery"
    make_image(folder / "a.png", seed=1)
    make_image(folder / "sub" / "b.jpg", seed=2)
    write_heic(folder / "IMG_0001.HEIC", textured_image((200, 40, 40), 3, size=96))
    (folder / "IMG_0001.MOV").write_bytes(b"\0\0\0\x14ftypqt  ")
    (folder / "notes.txt").write_text("shopping list")
    (folder / "gone.jpg").symlink_to(folder / "nowhere.jpg")
    (folder / ".DS_Store").write_bytes(b"\0")
    return folder


SKIPPED_NAMES = {"IMG_0001.MOV", "notes.txt", "gone.jpg"}
READ_NAMES = {"a.png", "b.jpg", "IMG_0001.HEIC"}


@pytest.mark.slow
def test_predict_names_every_skipped_file_in_text_json_and_csv(
        gallery: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "results.csv"
    assert main(["predict", "imagenet", str(gallery), "--csv", str(table), "--quiet"]) == 0
    out, err = capsys.readouterr()
    skipped_lines = [line for line in out.splitlines() if "\tSKIPPED\t" in line]
    assert {Path(line.split("\t")[0]).name for line in skipped_lines} == SKIPPED_NAMES
    video = next(line for line in skipped_lines if "MOV" in line)
    assert "is not an image this version reads ('.mov' files; it reads JPEG," in video
    assert "HEIC/HEIF and AVIF" in video
    assert "broken link" in next(line for line in skipped_lines if "gone.jpg" in line)
    assert "3 classified, 0 could not be read, 3 skipped (not images)" in err

    with table.open(newline="") as handle:
        rows = {Path(row["path"]).name: row for row in csv.DictReader(handle)}
    assert set(rows) == READ_NAMES | SKIPPED_NAMES
    assert rows["IMG_0001.HEIC"]["label"] and rows["IMG_0001.HEIC"]["error"] == ""
    assert all(rows[name]["error"].startswith("skipped: ") and rows[name]["label"] == ""
               and rows[name]["confidence"] == "" for name in SKIPPED_NAMES)

    assert main(["predict", "imagenet", str(gallery), "--json", "--quiet"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert {Path(e["path"]).name for e in entries if e["skipped"]} == SKIPPED_NAMES
    assert all(e["label"] for e in entries if not e["skipped"])


def test_scan_text_names_the_files_it_skipped_and_reads_heic(make_dataset: Callable[..., Path],
                                              capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", {"red": 3, "blue": 3})
    write_heic(data / "red" / "IMG_0002.heic", textured_image((200, 40, 40), 9, size=96))
    (data / "blue" / "clip.mov").write_bytes(b"\0")
    main(["scan", str(data)])
    out = capsys.readouterr().out
    assert "1 file(s) are not of a supported image type" in out
    assert f"    {data / 'blue' / 'clip.mov'}" in out.splitlines()
    assert "IMG_0002.heic" not in out, "an iPhone photo is read, not skipped"
    assert "7 usable images in 2 classes" in out


def test_sorting_a_folder_into_itself_changes_nothing(make_image: Callable[..., Path],
                                                       tmp_path: Path) -> None:
    folder = tmp_path / "sorted"
    cats = [make_image(folder / "cat" / f"{i}.png", seed=i) for i in range(2)]
    stray = make_image(folder / "cat" / "really a dog.png", seed=9)
    for _ in range(3):
        labels = [(path, "cat") for path in cats]
        if stray.exists():
            labels.append((stray, "dog"))
        else:
            labels.append((folder / "dog" / "really a dog.png", "dog"))
        summary = sort_into_folders(labels, folder, move=True)
        assert summary.renamed == 0 and summary.failed == []
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png")) == [
        "cat/0.png", "cat/1.png", "dog/really a dog.png"]
    assert "3 already in the right folder" in summary.describe("moved")


def test_cli_sort_into_the_sorted_folder_twice_renames_nothing(
        make_image: Callable[..., Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "photos"
    make_image(folder / "x.png", seed=3)
    for _ in range(2):
        assert main(["predict", "imagenet", str(folder), "--sort-into", str(folder),
                     "--move", "--quiet"]) == 0
    capsys.readouterr()
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    assert len(files) == 1 and files[0].endswith("/x.png"), files


@pytest.fixture
def umask() -> Iterator[Callable[[int], int]]:
    """Set the process's umask for one test; the previous one comes back afterwards."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_follow_the_umask(tmp_path: Path, umask: Callable[[int], int],
                                        mask: int, mode: int) -> None:
    umask(mask)
    plain = tmp_path / "plain.json"
    write_atomically(plain, b"{}")
    table = write_results_csv(tmp_path / "results.csv", [], ("a", "b"))
    assert (plain.stat().st_mode & 0o777, table.stat().st_mode & 0o777) == (mode, mode)


def test_a_killed_writers_temporary_files_are_removed_on_the_next_write(tmp_path: Path
                                                                        ) -> None:
    target = tmp_path / "model.safetensors"
    dead = tmp_path / f".model.safetensors.{_dead_pid()}.0a1b2c3d.tmp"
    running = tmp_path / f".model.safetensors.{os.getppid()}.0a1b2c3d.tmp"
    old = tmp_path / ".model.safetensors.abcdefgh.tmp"  # an earlier version's name
    recent = tmp_path / ".model.safetensors.ijklmnop.tmp"
    other = tmp_path / ".other.safetensors.1.0a1b2c3d.tmp"
    for path in (dead, running, old, recent, other):
        path.write_bytes(b"half a model")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    write_atomically(target, b"whole model")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([target.name, running.name, recent.name, other.name])


def _dead_pid() -> int:
    """A process id that no process has now."""
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except OSError:
            pass
        pid -= 1
