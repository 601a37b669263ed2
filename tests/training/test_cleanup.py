"""Clean-up moves are real, never overwrite, survive a restart or a crash, undo in any order."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from synthetic import CLASS_COLOURS, textured_image
from synthetic import make_dataset as make_colour_dataset

from training import cleanup, runs
from training.cleanup import (
    CleanupError,
    forget_kept,
    journal_file,
    keep_images,
    move_to_class,
    move_to_quarantine,
    read_journal,
    undo_move,
)
from training.cli import main
from training.config import TrainConfig
from training.dataset import Split
from training.images import content_hash
from training.scanning import scan_dataset


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
    assert journal_file(data).is_relative_to(cleanup.paths.data_dir())
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
    assert saved["version"] == cleanup.JOURNAL_VERSION
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

    def no_links(*_args: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(cleanup.os, "link", no_links)
    move_to_class(data, [data / "lion" / "lion_0.png"], "cheetah")
    assert (data / "cheetah" / "lion_0.png").read_bytes() == original
    assert not (data / "lion" / "lion_0.png").exists()


def test_own_split_layout_keeps_the_part(tmp_path: Path, make_image) -> None:
    root = tmp_path / "split"
    for part in ("train", "val"):
        for name in ("cat", "dog"):
            make_image(root / part / name / f"{name}.png", seed=hash((part, name)) % 1000)
    outcome = move_to_class(root, [root / "train" / "cat" / "cat.png"], "dog")
    assert outcome.moves[0].destination == root.resolve() / "train" / "dog" / "cat.png"
    assert outcome.moves[0].class_before == "cat"


def test_runs_record_the_data_they_trained_on(data: Path) -> None:
    move_to_class(data, [data / "cheetah" / "cheetah_0.png"], "lion")
    dataset = scan_dataset(data)
    result = SimpleNamespace(
        run_id="r1", split=Split(train=(0,), val=(1,), seed=0), history=(), best_epoch=0,
        best_val_loss=0.0, best_val_accuracy=0.5, baseline_accuracy=None, stopped="completed",
        seconds=1.0, model_path=None)
    record = runs.record_run(dataset, TrainConfig.quick(), result, [], "cpu")
    assert record.class_counts == {"cheetah": 2, "lion": 4} and record.cleanup_moves == 1
    (loaded,) = runs.list_runs(data)
    assert loaded.class_counts == record.class_counts and loaded.images == 6
    assert loaded.data_used == "6 (1 moved)"

    old = json.loads((runs.run_folder(data, "r1") / runs.RECORD_NAME).read_text())
    for field in ("class_counts", "cleanup_moves"):
        old.pop(field)
    old["record_version"] = 1
    legacy = runs.RunRecord.from_dict(old)
    assert legacy.class_counts is None and legacy.cleanup_moves is None and legacy.images is None
    assert legacy.data_used is None


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
    assert code == 0 and "images flagged as likely in the wrong folder" in lines[0]
    assert lines[1].split()[:2] == ["rank", "score"]
    first = lines[2].split()
    assert first[0] == "1" and first[2:5] == ["blue/planted.png", "blue", "red"]
    assert len(lines) == 5

    _cli(capsys, "keep", str(data), str(data / "blue" / "planted.png"))
    code, out, _ = _cli(capsys, "suspects", str(data), "--json")
    listed = json.loads(out)
    assert listed["hidden_kept"] == 1 and len(listed["suspects"]) == 16
    assert "blue/planted.png" not in [s["relpath"] for s in listed["suspects"]]
    assert {"score", "suggested", "reasons", "looks_like", "flagged", "kept"} <= \
        set(listed["suspects"][0])
