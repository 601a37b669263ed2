"""Adding photos from outside a dataset: a journalled copy that undo removes, and only it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from training.cli import main
from training.data.scanning import scan_dataset
from training.insight import adding
from training.insight.adding import AlreadyInClass, add_to_class, class_name_problem
from training.insight.cleanup import undo_move
from training.records.journal import CleanupError, journal_file, read_journal


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def data(tmp_path: Path, make_dataset) -> Path:
    return make_dataset(tmp_path / "data", {"cheetah": 3, "lion": 3}).resolve()


@pytest.fixture
def photos(tmp_path: Path, make_image) -> list[Path]:
    """Three new photos outside the dataset, one of them named like a dataset file."""
    return [make_image(tmp_path / "new" / name, seed=100 + i)
            for i, name in enumerate(("a.png", "b.png", "cheetah_0.png"))]


def test_a_copy_goes_in_and_undo_removes_exactly_it(data: Path, photos: list[Path]) -> None:
    before, original = _files(data), photos[0].read_bytes()
    move = add_to_class(data, photos[0], "lion")
    assert (move.kind, move.class_before, move.class_after, move.state) == \
        ("add", "", "lion", "done")
    assert move.destination == data / "lion" / "a.png"
    assert move.destination.read_bytes() == original and photos[0].read_bytes() == original
    assert move.describe() == "a.png: added to class 'lion'"
    assert [m.move_id for m in read_journal(data).applied] == [move.move_id]
    assert scan_dataset(data).class_counts == {"cheetah": 3, "lion": 4}

    outcome = undo_move(data)
    assert outcome.move.state == "undone" and outcome.restored_to == photos[0]
    assert "untouched" in outcome.describe()
    assert _files(data) == before and photos[0].read_bytes() == original


def test_a_taken_name_gets_a_free_one_and_a_new_class_its_folder(
        data: Path, photos: list[Path]) -> None:
    move = add_to_class(data, photos[2], "cheetah")
    assert move.destination == data / "cheetah" / "cheetah_0 (2).png"
    assert "as cheetah_0 (2).png" in move.describe()
    new = add_to_class(data, photos[1], "leopard")
    assert new.made_folder and new.destination == data / "leopard" / "b.png"
    assert scan_dataset(data).classes == ("cheetah", "leopard", "lion")
    undo_move(data, new.move_id)
    assert not (data / "leopard").exists(), "an empty class folder would stop training"
    undo_move(data, move.move_id)
    assert not (data / "cheetah" / "cheetah_0 (2).png").exists()


def test_the_same_bytes_are_not_added_twice(data: Path, photos: list[Path]) -> None:
    add_to_class(data, photos[0], "lion")
    twin = photos[0].parent / "copy of a.png"
    twin.write_bytes(photos[0].read_bytes())
    with pytest.raises(AlreadyInClass, match=r"in 'lion' already, as a\.png") as error:
        add_to_class(data, twin, "lion")
    assert error.value.existing == data / "lion" / "a.png"
    assert len(read_journal(data).moves) == 1
    add_to_class(data, twin, "cheetah")  # another class is another question


@pytest.mark.parametrize("name", [
    "", " ", " lion", "lion ", "a/b", "a\\b", "..", ".", ".hidden", "x" * 65, "con", "COM1.x",
    "what?", "tab\there", "train", "Validation", "dot.",
])
def test_hostile_class_names_are_refused(data: Path, photos: list[Path], name: str) -> None:
    assert class_name_problem(name)
    with pytest.raises(CleanupError):
        add_to_class(data, photos[0], name)
    assert sorted(p.name for p in data.iterdir()) == \
        ["cheetah", "lion"]
    assert read_journal(data).moves == ()


def test_good_class_names_pass() -> None:
    assert all(class_name_problem(n) is None
               for n in ("snow leopard", "léopard", "猫", "x" * 64, "b.c", "lion-2"))


def test_requests_that_cannot_be_done_say_why(data: Path, photos: list[Path],
                                              tmp_path: Path, make_image) -> None:
    with pytest.raises(CleanupError, match="only in case; use 'lion'"):
        add_to_class(data, photos[0], "Lion")
    with pytest.raises(CleanupError, match="in the dataset already"):
        add_to_class(data, data / "lion" / "lion_0.png", "cheetah")
    with pytest.raises(CleanupError, match="not a file"):
        add_to_class(data, tmp_path / "missing.png", "lion")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(CleanupError, match="not an image this version reads"):
        add_to_class(data, notes, "lion")
    split = tmp_path / "split"
    for part in ("train", "val"):
        for name in ("cat", "dog"):
            make_image(split / part / name / "x.png", seed=len(part) + len(name))
    assert add_to_class(split, photos[0], "dog").destination == \
        split.resolve() / "train" / "dog" / "a.png"
    with pytest.raises(CleanupError, match="new class needs photos in both"):
        add_to_class(split, photos[1], "bird")


def test_undo_refuses_a_file_that_is_not_the_copy(data: Path, photos: list[Path]) -> None:
    move = add_to_class(data, photos[0], "lion")
    move.destination.write_bytes(b"someone else's photo")
    with pytest.raises(CleanupError, match="not the copy that was added"):
        undo_move(data)
    assert move.destination.read_bytes() == b"someone else's photo"
    assert read_journal(data).applied == (move,)


def test_undo_of_a_copy_already_deleted_just_records_it(data: Path, photos: list[Path]) -> None:
    move = add_to_class(data, photos[0], "lion")
    move.destination.unlink()
    assert "already gone" in undo_move(data).describe()
    assert read_journal(data).applied == ()


def test_a_crash_after_the_copy_is_settled_as_done(data: Path, photos: list[Path],
                                                   monkeypatch) -> None:
    real_save, saves = adding.save, []

    def crash_on_second_save(journal) -> None:
        saves.append(journal)
        if len(saves) == 2:
            raise KeyboardInterrupt("power cut")
        real_save(journal)

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(adding, "save", crash_on_second_save)
        add_to_class(data, photos[0], "lion")
    assert json.loads(journal_file(data).read_text())["moves"][0]["state"] == "pending"
    (move,) = read_journal(data).applied
    assert move.destination.read_bytes() == photos[0].read_bytes()
    undo_move(data)
    assert not move.destination.exists()


def test_a_crash_before_the_copy_is_named_leaves_nothing(data: Path, photos: list[Path],
                                                         monkeypatch) -> None:
    """Killed mid-copy: the pending entry is dropped, the new class folder and the hidden
    temporary file of the killed copy are removed."""

    def copy_then_die(source: Path, destination: Path, durable: bool = False) -> None:
        temporary = destination.with_name(f".{destination.name}.999999.dead.tmp")
        temporary.write_bytes(source.read_bytes()[:10])
        old = os.path.getmtime(temporary) - 7200
        os.utime(temporary, (old, old))
        raise KeyboardInterrupt("killed")

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(adding, "copy_file", copy_then_die)
        add_to_class(data, photos[0], "leopard")
    assert (data / "leopard").exists()
    assert read_journal(data).moves == ()
    assert not (data / "leopard").exists()


def test_a_crash_mid_undo_is_settled_by_where_the_copy_is(data: Path, photos: list[Path],
                                                          monkeypatch) -> None:
    move = add_to_class(data, photos[0], "lion")
    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(Path, "unlink", _interrupt)
        undo_move(data)
    assert json.loads(journal_file(data).read_text())["moves"][0]["state"] == "undoing"
    assert read_journal(data).applied == (move,), "the copy is still there: still added"


def _interrupt(*_args: object, **_kwargs: object) -> None:
    raise KeyboardInterrupt("power cut")


def test_cli_add_and_undo(capsys, data: Path, photos: list[Path]) -> None:
    code = main(["add", str(data), str(photos[0]), str(photos[1]), "--to-class", "lion"])
    out = capsys.readouterr().out
    assert code == 0 and "2 photo(s) added to 'lion'" in out
    code = main(["add", str(data), str(photos[0]), "--to-class", "lion", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["added"] == [] and "already" in result["already_there"][0]
    code = main(["moves", str(data)])
    assert "b.png: added to class 'lion'" in capsys.readouterr().out
    code = main(["undo", str(data), "--last"])
    out = capsys.readouterr().out
    assert code == 0 and "removed the copy" in out and not (data / "lion" / "b.png").exists()
    code = main(["add", str(data), str(photos[1]), "--to-class", "../up"])
    assert code == 1 and "cannot contain" in capsys.readouterr().err
