"""Clean-up moves are real, never overwrite, survive a restart or a crash, undo in any order."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from synthetic import CLASS_COLOURS, textured_image
from synthetic import make_dataset as make_colour_dataset

from training.cli import main
from training.core import paths
from training.data.images import content_hash
from training.data.scanning import scan_dataset
from training.insight import cleanup
from training.insight.cleanup import (
    forget_kept,
    keep_images,
    move_to_class,
    move_to_quarantine,
    undo_move,
)
from training.records import journal, runs
from training.records.config import TrainConfig
from training.records.dataset import Split
from training.records.journal import CleanupError, journal_file, read_journal
from training.records.run_record import RunRecord


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def data(tmp_path: Path, make_dataset) -> Path:
    return make_dataset(tmp_path / "data", {"cheetah": 3, "lion": 3}).resolve()


def test_move_to_class_is_journalled_and_undone(data: Path) -> None:
    before = _files(data)
    outcome = move_to_class(data, [data / "cheetah" / "cheetah_0.png"], "lion")
    assert not outcome.failures
    (move,) = outcome.moves
    assert not (data / "cheetah" / "cheetah_0.png").exists()
    assert (data / "lion" / "cheetah_0.png").read_bytes() == before["cheetah/cheetah_0.png"]
    assert (move.kind, move.class_before, move.class_after) == ("class", "cheetah", "lion")
    assert move.content_hash == content_hash(before["cheetah/cheetah_0.png"])
    assert journal_file(data).is_relative_to(paths.data_dir())
    assert [m.move_id for m in read_journal(data).applied] == [move.move_id]

    result = undo_move(data)
    assert result.note is None and result.restored_to == data / "cheetah" / "cheetah_0.png"
    assert _files(data) == before
    journal = read_journal(data)
    assert journal.applied == () and journal.moves[0].state == "undone"


def test_a_taken_name_is_never_overwritten(data: Path) -> None:
    (data / "lion" / "cheetah_0.png").write_bytes(b"someone else's")
    outcome = move_to_class(data, [data / "cheetah" / "cheetah_0.png"], "lion")
    assert outcome.moves[0].destination.name == "cheetah_0 (2).png"
    assert (data / "lion" / "cheetah_0.png").read_bytes() == b"someone else's"
    assert "1 renamed" in outcome.describe()


def test_quarantine_keeps_the_class_and_refuses_a_folder_inside_the_dataset(
        data: Path, tmp_path: Path) -> None:
    quarantine = tmp_path / "quarantine"
    outcome = move_to_quarantine(data, [data / "lion" / "lion_1.png"], quarantine)
    assert (quarantine / "lion" / "lion_1.png").is_file()
    assert outcome.moves[0].class_after is None
    assert outcome.moves[0].describe() == \
        "lion_1.png: 'lion' → quarantine (…/quarantine/lion/lion_1.png)"
    with pytest.raises(CleanupError, match="inside the dataset"):
        move_to_quarantine(data, [data / "lion" / "lion_2.png"], data / "lion" / "bad")
    with pytest.raises(CleanupError, match="inside the dataset"):
        move_to_quarantine(data, [data / "lion" / "lion_2.png"], data)
    assert (data / "lion" / "lion_2.png").exists()


def test_bad_requests_name_the_file_or_class(data: Path) -> None:
    with pytest.raises(CleanupError, match="'tiger' is not a class"):
        move_to_class(data, [data / "lion" / "lion_0.png"], "tiger")
    outcome = move_to_class(data, [data / "lion" / "gone.png", data / "lion" / "lion_0.png",
                                   data / "cheetah" / "cheetah_1.png"], "lion")
    assert len(outcome.moves) == 1
    assert any("gone.png no longer exists" in failure for failure in outcome.failures)
    assert any("already in class 'lion'" in failure for failure in outcome.failures)
    with pytest.raises(CleanupError, match="no move 99"):
        undo_move(data, 99)


def test_undo_in_any_order_and_beside_a_taken_name(data: Path, tmp_path: Path) -> None:
    first, second = move_to_class(data, [data / "cheetah" / "cheetah_0.png",
                                         data / "cheetah" / "cheetah_1.png"], "lion").moves
    undo_move(data, first.move_id)
    with pytest.raises(CleanupError, match="already undone"):
        undo_move(data, first.move_id)
    (data / "cheetah" / "cheetah_1.png").write_bytes(b"a new file")
    result = undo_move(data, second.move_id)
    assert result.restored_to.name == "cheetah_1 (2).png"
    assert "taken" in result.describe() and "cheetah_1 (2).png" in result.describe()
    assert (data / "cheetah" / "cheetah_1.png").read_bytes() == b"a new file"
    with pytest.raises(CleanupError, match="no move to undo"):
        undo_move(data)


def test_undo_of_a_file_gone_since_says_which(data: Path, tmp_path: Path) -> None:
    (move,) = move_to_quarantine(data, [data / "lion" / "lion_0.png"], tmp_path / "q").moves
    move.destination.unlink()
    with pytest.raises(CleanupError, match=r"q/lion/lion_0.png is gone"):
        undo_move(data)


def test_the_journal_survives_a_restart_as_versioned_json(data: Path) -> None:
    move_to_class(data, [data / "lion" / "lion_0.png"], "cheetah")
    saved = json.loads(journal_file(data).read_text())
    assert saved["version"] == journal.JOURNAL_VERSION
    entry = saved["moves"][0]
    assert {"move_id", "time", "kind", "source", "destination", "class_before", "class_after",
            "content_hash", "state"} <= set(entry)
    again = read_journal(data)  # a fresh read, as after a restart
    assert again.applied[0].destination == data / "cheetah" / "lion_0.png"


def test_keep_is_remembered_by_content_and_can_be_undone(data: Path) -> None:
    path = data / "lion" / "lion_2.png"
    (mark,) = keep_images(data, [path])
    keep_images(data, [path])  # twice: remembered once
    journal = read_journal(data)
    assert journal.kept_hashes == {content_hash(path.read_bytes())}
    assert len(journal.keeps) == 1 and mark.relpath == "lion/lion_2.png"
    path.rename(data / "lion" / "renamed.png")
    assert content_hash((data / "lion" / "renamed.png").read_bytes()) in \
        read_journal(data).kept_hashes
    assert forget_kept(data, [mark.content_hash]) == 1
    assert read_journal(data).kept_hashes == frozenset()


def test_a_crash_between_link_and_unlink_loses_nothing(data: Path, monkeypatch) -> None:
    before = _files(data)

    def link_then_crash(source: Path, destination: Path) -> None:
        os.link(source, destination)
        raise RuntimeError("power cut")

    with monkeypatch.context() as patch, pytest.raises(RuntimeError):
        patch.setattr(cleanup, "move_file", link_then_crash)
        move_to_class(data, [data / "cheetah" / "cheetah_2.png"], "lion")
    assert json.loads(journal_file(data).read_text())["moves"][0]["state"] == "pending"
    assert read_journal(data).moves == ()  # settled: the move never completed
    assert _files(data) == before


def test_a_crash_after_the_move_is_finished_on_the_next_read(data: Path, monkeypatch) -> None:
    real_move = cleanup.move_file

    def move_then_crash(source: Path, destination: Path) -> None:
        real_move(source, destination)
        raise RuntimeError("power cut")

    with monkeypatch.context() as patch, pytest.raises(RuntimeError):
        patch.setattr(cleanup, "move_file", move_then_crash)
        move_to_class(data, [data / "cheetah" / "cheetah_2.png"], "lion")
    (move,) = read_journal(data).applied
    assert move.destination == data / "lion" / "cheetah_2.png"
    undo_move(data)
    assert (data / "cheetah" / "cheetah_2.png").is_file()


def test_across_file_systems_the_copy_is_verified_before_the_original_goes(
        data: Path, monkeypatch) -> None:
    original = (data / "lion" / "lion_0.png").read_bytes()
    monkeypatch.setattr(cleanup.os, "link", _no_links)
    move_to_class(data, [data / "lion" / "lion_0.png"], "cheetah")
    assert (data / "cheetah" / "lion_0.png").read_bytes() == original
    assert not (data / "lion" / "lion_0.png").exists()


def test_own_split_layout_keeps_the_part(tmp_path: Path, make_image) -> None:
    root = tmp_path / "split"
    seeds = {("train", "cat"): 1, ("train", "dog"): 2, ("val", "cat"): 3, ("val", "dog"): 4}
    for (part, name), seed in seeds.items():
        make_image(root / part / name / f"{name}.png", seed=seed)
    outcome = move_to_class(root, [root / "train" / "cat" / "cat.png"], "dog")
    assert outcome.moves[0].destination == root.resolve() / "train" / "dog" / "cat.png"
    assert outcome.moves[0].class_before == "cat"


def test_runs_record_the_data_they_trained_on(data: Path) -> None:
    move_to_class(data, [data / "cheetah" / "cheetah_0.png"], "lion")
    dataset = scan_dataset(data)
    result = SimpleNamespace(
        run_id="r1", split=Split(train=(0,), val=(1,), seed=0), history=(), best_epoch=0,
        best_val_loss=0.0, best_val_accuracy=0.5, baseline_accuracy=None, kept=None,
        stopped="completed", seconds=1.0, model_path=None, balance=None)
    record = runs.record_run(dataset, TrainConfig.quick(), result, [], "cpu")
    assert record.class_counts == {"cheetah": 2, "lion": 4} and record.cleanup_moves == 1
    (loaded,) = runs.list_runs(data)
    assert loaded.class_counts == record.class_counts and loaded.images == 6
    assert loaded.data_used == "6 (1 moved)"

    old = json.loads((runs.run_folder(data, "r1") / runs.RECORD_NAME).read_text())
    for field in ("class_counts", "cleanup_moves"):
        old.pop(field)
    old["record_version"] = 1
    legacy = RunRecord.from_dict(old)
    assert legacy.class_counts is None and legacy.cleanup_moves is None and legacy.images is None
    assert legacy.data_used is None


def _refuse_to_unlink(monkeypatch: pytest.MonkeyPatch, stuck: Path) -> None:
    """Make removing `stuck` fail, as in a read-only folder or with a locked file."""
    real_unlink = Path.unlink

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self == stuck:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)


@pytest.mark.parametrize("links", [True, False], ids=["link", "copy"])
def test_a_source_that_cannot_be_removed_leaves_no_second_copy(
        data: Path, monkeypatch: pytest.MonkeyPatch, links: bool) -> None:
    before = _files(data)
    source = data / "cheetah" / "cheetah_0.png"
    if not links:
        monkeypatch.setattr(cleanup.os, "link", _no_links)
    with monkeypatch.context() as patch:
        _refuse_to_unlink(patch, source)
        outcome = move_to_class(data, [source], "lion")
    assert outcome.moves == () and "cheetah_0.png: not moved (Permission denied)" in \
        outcome.failures[0]
    assert _files(data) == before  # no copy left in 'lion'
    assert read_journal(data).moves == ()


def test_an_undo_that_cannot_remove_the_moved_file_leaves_no_second_copy(
        data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (move,) = move_to_quarantine(data, [data / "lion" / "lion_0.png"], tmp_path / "q").moves
    with monkeypatch.context() as patch:
        _refuse_to_unlink(patch, move.destination)
        with pytest.raises(CleanupError, match="could not be moved back"):
            undo_move(data)
    assert move.destination.is_file() and not move.source.exists()
    (still,) = read_journal(data).moves
    assert still.state == "done" and still.restored_to is None
    undo_move(data)
    assert move.source.is_file() and not move.destination.exists()


def _no_links(*_args: object, **_kwargs: object) -> None:
    raise OSError(errno.EXDEV, "Invalid cross-device link")


@pytest.mark.parametrize("text", [
    "[]",
    '{"moves": [{}]}',
    '{"moves": "not a list"}',
    '{"moves": [{"move_id": 1, "time": "t", "kind": "class", "source": "/a", '
    '"destination": "/b", "class_before": "a", "class_after": "b", "content_hash": "h", '
    '"colour": "red"}]}',
    '{"moves": [{"move_id": 1, "time": "t", "kind": "class", "source": "/a", '
    '"destination": "/b", "class_before": "a", "class_after": "b", "content_hash": "h", '
    '"state": "lost"}]}',
    '{"keeps": [{"content_hash": "h"}]}',
    '{"next_id": "one"}',
], ids=["list", "empty-move", "moves-not-list", "unknown-key", "bad-state", "short-keep",
        "bad-next-id"])
def test_a_damaged_journal_is_a_clear_error(data: Path, text: str) -> None:
    _assert_damaged_journal(data, text)


def _assert_damaged_journal(data: Path, text: str) -> None:
    """Reading the journal, or moving a file (which reads it first), names the journal."""
    file = journal_file(data)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text)
    with pytest.raises(CleanupError, match="Move it aside") as raised:
        read_journal(data)
    assert str(file) in str(raised.value)
    with pytest.raises(CleanupError, match="Move it aside"):
        move_to_class(data, [data / "cheetah" / "cheetah_0.png"], "lion")
    assert (data / "cheetah" / "cheetah_0.png").is_file()


def test_a_damaged_journal_never_stops_a_run_being_recorded(
        data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal_file(data).parent.mkdir(parents=True, exist_ok=True)
    journal_file(data).write_text('{"moves": [{}]}')
    dataset = scan_dataset(data)

    def finished(run_id: str) -> SimpleNamespace:
        return SimpleNamespace(
            run_id=run_id, split=Split(train=(0,), val=(1,), seed=0), history=(),
            best_epoch=0, best_val_loss=0.0, best_val_accuracy=0.5, baseline_accuracy=None,
            kept=None, stopped="completed", seconds=1.0, model_path=None, balance=None)

    record = runs.record_run(dataset, TrainConfig.quick(), finished("r1"), [], "cpu")
    assert record.cleanup_moves is None and record.images == 6

    def unexpected(_root: Path) -> int:
        raise AttributeError("a journal nobody foresaw")

    monkeypatch.setattr(runs, "applied_move_count", unexpected)
    assert runs.record_run(dataset, TrainConfig.quick(), finished("r2"), [], "cpu"
                           ).cleanup_moves is None
    assert sorted(r.run_id for r in runs.list_runs(data)) == ["r1", "r2"]


_MOVER = """
import sys, time
from pathlib import Path
from training.insight.cleanup import move_to_class
root, given, to, count, go = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), \\
    Path(sys.argv[5])
(go.parent / given).touch()  # ready
while not go.exists():
    time.sleep(0.005)
for number in range(count):
    outcome = move_to_class(root, [root / given / f"{given}-{number}.png"], to)
    assert len(outcome.moves) == 1, outcome.failures
"""


def test_two_processes_moving_at_once_lose_no_journal_entries(tmp_path: Path) -> None:
    count = 20
    root = tmp_path / "shared"
    for name in ("cheetah", "lion"):
        (root / name).mkdir(parents=True)
        for number in range(count):
            (root / name / f"{name}-{number}.png").write_bytes(f"{name} {number}".encode())
    signals = tmp_path / "signals"
    signals.mkdir()
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    movers = [subprocess.Popen([sys.executable, "-c", _MOVER, str(root), given, to, str(count),
                                str(signals / "go")], cwd=repo, env=env, stderr=subprocess.PIPE)
              for given, to in (("cheetah", "lion"), ("lion", "cheetah"))]
    while not all((signals / name).exists() for name in ("cheetah", "lion")) \
            and all(mover.poll() is None for mover in movers):
        time.sleep(0.01)
    (signals / "go").touch()  # both start moving together
    for mover in movers:
        _, err = mover.communicate(timeout=120)
        assert mover.returncode == 0, err.decode()
    journal = read_journal(root)
    assert sorted(move.move_id for move in journal.moves) == list(range(1, 2 * count + 1))
    assert len(journal.applied) == 2 * count
    assert sorted(p.name for p in (root / "lion").iterdir()) == \
        sorted(f"cheetah-{n}.png" for n in range(count))


def test_undo_refuses_a_different_file_that_took_the_name(data: Path, tmp_path: Path) -> None:
    (move,) = move_to_quarantine(data, [data / "lion" / "lion_0.png"], tmp_path / "q").moves
    move.destination.unlink()  # the user emptied the quarantine ...
    move.destination.write_bytes(b"another photo")  # ... and something else took the name
    with pytest.raises(CleanupError, match="not the image that was moved") as raised:
        undo_move(data)
    assert str(move.destination) in str(raised.value)
    assert move.destination.read_bytes() == b"another photo"
    assert not move.source.exists()
    assert read_journal(data).applied == (move,)


@pytest.mark.parametrize("links", [True, False], ids=["link", "copy"])
def test_a_symlink_is_moved_as_the_link(data: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch, links: bool) -> None:
    photo = tmp_path / "library" / "photo.png"
    photo.parent.mkdir()
    photo.write_bytes(b"the photo itself")
    (data / "cheetah" / "linked.png").symlink_to(photo)
    if not links:
        monkeypatch.setattr(cleanup.os, "link", _no_links)
    (move,) = move_to_quarantine(data, [data / "cheetah" / "linked.png"], tmp_path / "q").moves
    assert move.destination.is_symlink() and move.destination.resolve() == photo
    assert photo.read_bytes() == b"the photo itself" and photo.stat().st_nlink == 1
    undo_move(data)
    assert (data / "cheetah" / "linked.png").is_symlink()
    assert (data / "cheetah" / "linked.png").resolve() == photo


@pytest.mark.parametrize("left", [b"", b"by hand", None], ids=["empty", "other", "full-copy"])
def test_crash_recovery_deletes_only_what_the_move_itself_made(
        data: Path, monkeypatch: pytest.MonkeyPatch, left: bytes | None) -> None:
    source = data / "cheetah" / "cheetah_2.png"
    found = source.read_bytes() if left is None else left

    def crash_leaving_a_file(_source: Path, destination: Path) -> None:
        destination.write_bytes(found)  # a partial copy, or a file the user put there
        raise RuntimeError("power cut")

    with monkeypatch.context() as patch, pytest.raises(RuntimeError):
        patch.setattr(cleanup, "move_file", crash_leaving_a_file)
        move_to_class(data, [source], "lion")
    assert read_journal(data).moves == ()  # the image is still at its source
    assert source.is_file() and (data / "lion" / "cheetah_2.png").read_bytes() == found


def test_an_unwritable_data_folder_is_a_clear_error(data: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    before = _files(data)
    full = OSError(errno.ENOSPC, "No space left on device")

    def no_space(*_args: object, **_kwargs: object) -> None:
        raise full

    with monkeypatch.context() as patch:
        patch.setattr(journal, "write_atomically", no_space)
        with pytest.raises(CleanupError, match="No space left on device") as raised:
            move_to_class(data, [data / "cheetah" / "cheetah_0.png"], "lion")
        assert str(journal_file(data)) in str(raised.value)
        assert "writable" in str(raised.value)
    assert _files(data) == before

    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    (home / "data" / "cleanup").write_text("a file where the folder should be")
    monkeypatch.setenv("CHEETAHLION_HOME", str(home))
    code, _, err = _cli(capsys, "move", str(data), str(data / "lion" / "lion_0.png"),
                        "--to-class", "cheetah")
    assert code == 1 and "writable" in err and str(home / "data" / "cleanup") in err
    assert err.count("\n") == 1 and _files(data) == before


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_move_list_undo_keep(capsys, data: Path, tmp_path: Path) -> None:
    image = data / "cheetah" / "cheetah_0.png"
    code, out, _ = _cli(capsys, "move", str(data), str(image), "--to-class", "lion")
    assert code == 0 and "1 image(s) moved" in out and (data / "lion" / "cheetah_0.png").exists()
    code, out, _ = _cli(capsys, "move", str(data), str(data / "lion" / "lion_0.png"),
                        "--quarantine", str(tmp_path / "q"), "--json")
    assert code == 0 and json.loads(out)["moves"][0]["class_after"] is None
    code, out, _ = _cli(capsys, "moves", str(data))
    assert "cheetah_0.png: 'cheetah' → class 'lion'" in out and out.count("in effect") == 2
    code, out, _ = _cli(capsys, "undo", str(data), "1")
    assert code == 0 and image.exists() and "back in 'cheetah'" in out
    code, out, _ = _cli(capsys, "undo", str(data), "--last")
    assert code == 0 and (data / "lion" / "lion_0.png").exists()
    code, out, err = _cli(capsys, "undo", str(data), "--last")
    assert code == 1 and "no move to undo" in err and err.count("\n") == 1
    code, out, _ = _cli(capsys, "keep", str(data), str(image))
    assert code == 0 and read_journal(data).kept_hashes
    code, out, _ = _cli(capsys, "keep", str(data), str(image), "--forget")
    assert code == 0 and "1 keep mark(s) removed" in out and not read_journal(data).kept_hashes


def test_cli_refuses_clearly(capsys, data: Path) -> None:
    code, _, err = _cli(capsys, "move", str(data), str(data / "lion" / "nope.png"),
                        "--to-class", "cheetah")
    assert code == 1 and "nope.png no longer exists" in err
    code, _, err = _cli(capsys, "move", str(data), str(data / "lion" / "lion_0.png"),
                        "--quarantine", str(data / "cheetah"))
    assert code == 1 and "inside the dataset" in err


def test_cli_suspects_ranks_a_planted_image_first_and_hides_kept(capsys,
                                                                  tmp_path: Path) -> None:
    data = make_colour_dataset(tmp_path / "colours", per_class=8)
    textured_image(CLASS_COLOURS["red"], 777).save(data / "blue" / "planted.png")
    code, out, _ = _cli(capsys, "suspects", str(data), "--top", "3", "--quiet")
    lines = out.splitlines()
    assert code == 0 and "images flagged as likely in the wrong folder, " in lines[0]
    assert re.search(r"folder, \d+ more worth a look \(signals", lines[0]), lines[0]
    assert lines[1].split()[:2] == ["rank", "score"]
    first = lines[2].split()
    assert first[0] == "1" and first[2:5] == ["blue/planted.png", "blue", "red"]
    assert len(lines) == 5

    _cli(capsys, "keep", str(data), str(data / "blue" / "planted.png"))
    code, out, _ = _cli(capsys, "suspects", str(data), "--json")
    listed = json.loads(out)
    assert listed["hidden_kept"] == 1 and len(listed["suspects"]) == 16
    assert "blue/planted.png" not in [s["relpath"] for s in listed["suspects"]]
    assert {"score", "suggested", "reasons", "looks_like", "flagged", "worth_a_look",
            "kept"} <= set(listed["suspects"][0])
    assert not any(s["flagged"] and s["worth_a_look"] for s in listed["suspects"])


# --- hostile journals: every field is type-checked on load --------------------------------------

_GOOD_MOVE = {"move_id": 1, "time": "2025-01-01T00:00:00+00:00", "kind": "class",
              "source": "/data/cheetah/a.png", "destination": "/data/lion/a.png",
              "class_before": "cheetah", "class_after": "lion", "content_hash": "h"}
_GOOD_KEEP = {"content_hash": "h", "relpath": "cheetah/a.png", "time": "t"}


@pytest.mark.parametrize(("key", "value"), [
    ("time", ["2025"]), ("move_id", "1"), ("move_id", 1.5), ("move_id", True),
    ("source", ["/a"]), ("destination", None), ("class_before", 3), ("class_after", []),
    ("content_hash", {}), ("state", 1), ("restored_to", 7), ("undone_time", 1.0),
    ("source", "relative/a.png"),
])
def test_a_move_field_of_the_wrong_type_is_a_damaged_journal(data: Path, capsys, key: str,
                                                             value: object) -> None:
    file = journal_file(data)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps({"version": 1, "next_id": 2,
                                "moves": [{**_GOOD_MOVE, key: value}]}))
    with pytest.raises(CleanupError, match="Move it aside") as raised:
        read_journal(data)
    assert str(file) in str(raised.value) and f"'{key}'" in str(raised.value)
    code, out, err = _cli(capsys, "moves", str(data))
    assert code == 1 and out == "" and err.count("\n") == 1 and str(file) in err


@pytest.mark.parametrize("text", [
    json.dumps({"keeps": [{**_GOOD_KEEP, "relpath": 3}]}),
    json.dumps({"keeps": [{**_GOOD_KEEP, "time": None}]}),
    json.dumps({"next_id": 1.5}), json.dumps({"next_id": True}), json.dumps({"version": "2"}),
    json.dumps({"moves": [{k: v for k, v in _GOOD_MOVE.items() if k != "time"}]}),
], ids=["keep-relpath", "keep-time", "float-next-id", "bool-next-id", "text-version",
        "missing-time"])
def test_a_journal_field_of_the_wrong_type_is_a_damaged_journal(data: Path, text: str) -> None:
    _assert_damaged_journal(data, text)


def test_a_well_formed_journal_still_loads(data: Path) -> None:
    file = journal_file(data)
    file.parent.mkdir(parents=True, exist_ok=True)
    undone = {**_GOOD_MOVE, "move_id": 2, "state": "undone", "class_after": None,
              "restored_to": "/data/cheetah/a.png", "undone_time": "t"}
    file.write_text(json.dumps({"version": 1, "next_id": 3, "moves": [_GOOD_MOVE, undone],
                                "keeps": [_GOOD_KEEP]}))
    journal = read_journal(data)
    assert [move.move_id for move in journal.moves] == [1, 2]
    assert journal.moves[1].restored_to == Path("/data/cheetah/a.png")
    assert journal.kept_hashes == {"h"}


def test_a_deeply_nested_journal_is_one_line_not_a_traceback(data: Path) -> None:
    file = journal_file(data)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text('{"moves": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(CleanupError, match="Move it aside") as raised:
        read_journal(data)
    assert str(file) in str(raised.value)
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "training.cli", "moves", str(data)], cwd=repo,
                          env={**os.environ, "PYTHONPATH": str(repo)}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and str(file) in done.stderr
    assert "Traceback" not in done.stderr


def test_moving_a_folder_says_it_is_a_folder(data: Path, capsys) -> None:
    folder = data / "cheetah" / "more"
    folder.mkdir()
    outcome = move_to_class(data, [folder], "lion")
    assert outcome.moves == ()
    (failure,) = outcome.failures
    assert str(folder) in failure and "is a folder; only image files can be moved" in failure
    assert "no longer exists" not in failure and folder.is_dir()
    code, _, err = _cli(capsys, "move", str(data), str(folder), "--to-class", "lion")
    assert code == 1 and "is a folder" in err
