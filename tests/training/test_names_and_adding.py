"""Issue 21: names and files that broke the clean-up journal and `add` (real files, real
file-system limits: ext4 and tmpfs refuse names over 255 bytes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training.cli import main
from training.insight.adding import add_to_class, class_name_problem
from training.insight.cleanup import move_to_class
from training.records.journal import journal_file, read_journal

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def data(tmp_path: Path, make_dataset) -> Path:
    return make_dataset(tmp_path / "data", {"cheetah": 3, "lion": 3}).resolve()


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err: str) -> bool:
    return err.count("\n") == 1 and "Traceback" not in err


# --- item 6: a NUL in a journal path -----------------------------------------------------------

def test_a_nul_in_a_journal_path_is_one_line_and_the_rest_still_works(
        capsys, data: Path, tmp_path: Path, make_image) -> None:
    photo = make_image(tmp_path / "new" / "a.png", seed=50)
    added = add_to_class(data, photo, "lion")
    moved = move_to_class(data, [data / "cheetah" / "cheetah_0.png"], "lion").moves[0]
    file = journal_file(data)
    raw = json.loads(file.read_text(encoding="utf-8"))
    bad_add = {**raw["moves"][0], "move_id": 10, "state": "pending",
               "destination": str(data / "lion" / "x\u0000.png")}
    bad_move = {**raw["moves"][1], "move_id": 11, "source": str(data / "cheetah" / "y\u0000.png")}
    raw["moves"] += [bad_add, bad_move]
    raw["next_id"] = 12
    file.write_text(json.dumps(raw), encoding="utf-8")

    code, out, err = _cli(capsys, "moves", str(data))  # was: ValueError: embedded null byte
    assert code == 0 and "Traceback" not in err and out.count("in effect") == 3
    assert "\0" not in out and "x\\0.png" in out  # the NUL is shown, not printed
    code, _, err = _cli(capsys, "undo", str(data), "11")
    assert code == 1 and _one_line(err) and "NUL character" in err and "the other moves" in err
    assert (data / "lion" / "cheetah_0.png").exists()  # the damaged move touched nothing
    code, _, err = _cli(capsys, "undo", str(data), str(moved.move_id))
    assert code == 0 and (data / "cheetah" / "cheetah_0.png").exists()
    code, _, err = _cli(capsys, "undo", str(data), str(added.move_id))
    assert code == 0 and not added.destination.exists()
    code, _, err = _cli(capsys, "move", str(data), str(data / "lion" / "lion_1.png"),
                        "--to-class", "cheetah")
    assert code == 0 and (data / "cheetah" / "lion_1.png").exists()


# --- item 7: names counted in bytes ------------------------------------------------------------

def test_a_class_name_of_64_emoji_is_refused_for_its_bytes(capsys, data: Path, tmp_path: Path,
                                                           make_image) -> None:
    photo = make_image(tmp_path / "new" / "a.png", seed=51)
    name = "\U0001f981" * 64  # 64 characters, 256 bytes: was "OSError: File name too long"
    assert "bytes" in (class_name_problem(name) or "")
    code, _, err = _cli(capsys, "add", str(data), str(photo), "--to-class", name)
    assert code == 1 and _one_line(err) and "255 bytes" in err
    assert class_name_problem("\U0001f981" * 63) is None  # 252 bytes is a name


def test_a_255_byte_name_that_is_taken_gets_a_free_name_that_fits(data: Path, tmp_path: Path,
                                                                   make_image) -> None:
    name = "l" * 251 + ".png"
    photo = make_image(tmp_path / "new" / name, seed=52)
    make_image(data / "lion" / name, seed=53)  # the name is taken in the class
    move = add_to_class(data, photo, "lion")  # was: traceback in file_ops.free_name
    assert len(move.destination.name.encode()) <= 255
    assert move.destination.name.endswith(" (2).png")
    assert move.destination.read_bytes() == photo.read_bytes()


def test_a_244_byte_name_can_be_added_moved_and_sorted(data: Path, tmp_path: Path,
                                                       make_image) -> None:
    from training.predict.sorting import sort_into_folders

    name = "é" * 120 + ".png"  # 244 bytes: its hidden temporary name was over the limit
    photo = make_image(tmp_path / "new" / name, seed=54)
    move = add_to_class(data, photo, "lion")
    assert move.destination == data / "lion" / name
    summary = sort_into_folders([(photo, "cheetah")], tmp_path / "sorted")
    assert not summary.failed and (tmp_path / "sorted" / "cheetah" / name).exists()
    outcome = move_to_class(data, [move.destination], "cheetah")
    assert not outcome.failures and (data / "cheetah" / name).exists()
    assert not [p for p in (data / "lion").iterdir() if p.name.startswith(".")]


# --- item 8: a huge file is not read into memory ---------------------------------------------

ADD_UNDER_A_MEMORY_LIMIT = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))
from training.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_3_gib_sparse_jpg_is_refused_before_it_is_read(data: Path, tmp_path: Path) -> None:
    huge = tmp_path / "new" / "huge.jpg"
    huge.parent.mkdir()
    with huge.open("wb") as handle:  # sparse: 3 GiB long, no disk used
        handle.write(b"\xff\xd8\xff\xe0")
        handle.truncate(3 * 2**30)
    if os.stat(huge).st_blocks * 512 > 2**20:
        pytest.skip("this file system does not make sparse files")
    # The command runs in a process that cannot have 2 GiB of memory: reading the file
    # whole (as it did) fails with MemoryError; refusing it first does not.
    done = subprocess.run([sys.executable, "-c", ADD_UNDER_A_MEMORY_LIMIT, "add", str(data),
                           str(huge), "--to-class", "lion"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert _one_line(done.stderr) and "huge.jpg" in done.stderr and "GB" in done.stderr
    assert not (data / "lion" / "huge.jpg").exists()
    assert read_journal(data).moves == ()


def test_a_text_file_named_jpg_is_not_added(capsys, data: Path, tmp_path: Path) -> None:
    fake = tmp_path / "new" / "lion.jpg"
    fake.parent.mkdir()
    fake.write_text("not a photo at all\n" * 100)
    code, _, err = _cli(capsys, "add", str(data), str(fake), "--to-class", "lion")
    assert code == 1 and _one_line(err) and "lion.jpg" in err and "not an image" in err
    assert not (data / "lion" / "lion.jpg").exists() and read_journal(data).moves == ()


# --- item 11: names that deceive ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["lion\u202egnp.exe.png", "li\u200bon.png", "lion\u2066.png"])
def test_a_photo_name_with_invisible_or_reversing_characters_is_refused(
        capsys, data: Path, tmp_path: Path, make_image, name: str) -> None:
    photo = make_image(tmp_path / "new" / name, seed=56)
    code, _, err = _cli(capsys, "add", str(data), str(photo), "--to-class", "lion")
    assert code == 1 and _one_line(err) and "U+" in err and "rename" in err
    assert sorted(p.name for p in (data / "lion").iterdir()) == \
        ["lion_0.png", "lion_1.png", "lion_2.png"]


@pytest.mark.parametrize("name", ["li\u200bon", "lion\u202e", "\ufeffcheetah"])
def test_a_class_name_with_invisible_characters_is_refused(name: str) -> None:
    problem = class_name_problem(name) or ""
    assert "U+" in problem and "looks like" in problem


def test_a_class_that_links_outside_the_dataset_gets_no_photo(capsys, data: Path, tmp_path: Path,
                                                               make_image) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (data / "tiger").symlink_to(outside, target_is_directory=True)
    photo = make_image(tmp_path / "new" / "t.png", seed=57)
    code, _, err = _cli(capsys, "add", str(data), str(photo), "--to-class", "tiger")
    assert code == 1 and _one_line(err) and "outside the dataset" in err
    assert list(outside.iterdir()) == []  # it was copied here
    assert read_journal(data).moves == ()


# --- item 12: a move to another disk killed with kill -9 -----------------------------------------

MOVE_THAT_HANGS_AFTER_THE_COPY = """
import sys, time
import training.core.file_ops as file_ops
claim = file_ops._claim

def claim_then_hang(temporary, destination):
    claim(temporary, destination)
    print("copied", flush=True)
    time.sleep(600)

file_ops._claim = claim_then_hang
from training.insight.cleanup import move_to_quarantine
move_to_quarantine(sys.argv[1], [sys.argv[2]], sys.argv[3])
"""


def test_a_move_killed_after_its_copy_leaves_no_copy_and_no_temporary(
        data: Path, small_disk) -> None:
    quarantine = small_disk("usb", "8m")  # another disk: the move copies, then deletes
    photo = data / "lion" / "lion_0.png"
    original = photo.read_bytes()
    child = subprocess.Popen([sys.executable, "-c", MOVE_THAT_HANGS_AFTER_THE_COPY, str(data),
                              str(photo), str(quarantine)], cwd=REPO, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "copied\n"
        child.kill()  # SIGKILL: no clean-up runs
    finally:
        child.wait(timeout=60)
    left = [p for p in quarantine.rglob("*") if p.is_file()]
    assert len(left) == 2  # the copy under its name, and its hidden temporary

    code = main(["moves", str(data)])  # any read of the journal settles the killed move
    assert code == 0 and read_journal(data).applied == ()
    assert photo.read_bytes() == original
    # Was: the quarantine copy and its .tmp stayed there for good.
    assert [p for p in quarantine.rglob("*") if p.is_file()] == []
