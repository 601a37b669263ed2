"""Label edits, written back and undone: labels.csv byte for byte, label folders by copies and
quarantine moves, and a labels.csv changed on disk refused."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from training.cli.commands import main
from training.data.images import content_hash
from training.data.labels_csv import read_labels_csv
from training.insight.label_edits import LabelUndo, edit_label, undo_change
from training.records.journal import CleanupError, read_journal
from training.records.label_journal import label_journal_file, read_label_journal

ORIGINAL = ("\ufeffPath, Labels ,source\r\n"
            "a.png,red;blue,camera 1\r\n"
            '"b.png", red ,"tool, v2"\r\n'
            "\r\n"
            "sub/c.png,,x\r\n"
            "d.png,blue")
"""A labels.csv as tools write them: a byte-order mark, CRLF, a quoted cell with a comma, a
blank line, an extra column, spaces, and no line break at the end."""


def _photo(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), colour).save(path)


@pytest.fixture
def csv_folder(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for name, colour in (("a.png", (200, 0, 0)), ("b.png", (0, 200, 0)),
                         ("sub/c.png", (0, 0, 200)), ("d.png", (90, 90, 90))):
        _photo(root / name, colour)
    (root / "labels.csv").write_bytes(ORIGINAL.encode("utf-8"))
    return root


def _labels(root: Path) -> dict[str, tuple[str, ...]]:
    return dict(read_labels_csv(root).rows)


def test_an_added_label_changes_only_its_row_and_undo_restores_the_bytes(
        csv_folder: Path) -> None:
    before = (csv_folder / "labels.csv").read_bytes()
    change = edit_label(csv_folder, "b.png", "blue", "add")
    after = (csv_folder / "labels.csv").read_bytes()
    assert _labels(csv_folder)["b.png"] == ("blue", "red")
    assert after == before.replace(b'"b.png", red ,"tool, v2"', b'b.png,blue;red,"tool, v2"')
    assert change.describe() == "b.png: label 'blue' added (labels.csv)"
    outcome = undo_change(csv_folder, change.change_id)
    assert isinstance(outcome, LabelUndo)
    assert (csv_folder / "labels.csv").read_bytes() == before


def test_edits_undone_last_first_give_back_the_original_bytes(csv_folder: Path) -> None:
    before = (csv_folder / "labels.csv").read_bytes()
    first = edit_label(csv_folder, csv_folder / "a.png", "red", "remove")
    second = edit_label(csv_folder, "sub/c.png", "red", "add")
    assert _labels(csv_folder)["a.png"] == ("blue",)
    assert _labels(csv_folder)["sub/c.png"] == ("red",)
    with pytest.raises(CleanupError, match=rf"undo the later label edit\(s\) {second.change_id}"
                                           " first"):
        undo_change(csv_folder, first.change_id)
    undo_change(csv_folder)  # --last: the second
    undo_change(csv_folder)
    assert (csv_folder / "labels.csv").read_bytes() == before
    assert not read_label_journal(csv_folder).applied


def test_a_labels_csv_changed_on_disk_is_refused(csv_folder: Path) -> None:
    file = csv_folder / "labels.csv"
    read_hash = content_hash(file.read_bytes())
    file.write_bytes(file.read_bytes().replace(b"d.png,blue", b"d.png,red"))
    changed = file.read_bytes()
    with pytest.raises(CleanupError, match=r"labels\.csv changed on disk since it was read"):
        edit_label(csv_folder, "d.png", "blue", "add", expected_hash=read_hash)
    assert file.read_bytes() == changed
    assert not read_label_journal(csv_folder).edits


def test_undo_after_a_hand_edit_is_refused_and_names_the_backup(csv_folder: Path) -> None:
    file = csv_folder / "labels.csv"
    before = file.read_bytes()
    change = edit_label(csv_folder, "d.png", "red", "add")
    file.write_bytes(file.read_bytes() + b"\r\n")
    assert change.edit is not None
    with pytest.raises(CleanupError, match=r"changed since.*kept in"):
        undo_change(csv_folder, change.change_id)
    assert change.edit.backup.read_bytes() == before


def test_impossible_edits_say_why(csv_folder: Path) -> None:
    with pytest.raises(CleanupError, match="has the label 'red' already"):
        edit_label(csv_folder, "a.png", "red", "add")
    with pytest.raises(CleanupError, match="does not have the label 'green'"):
        edit_label(csv_folder, "a.png", "green", "remove")
    with pytest.raises(CleanupError, match="differs from the label 'red' only in case"):
        edit_label(csv_folder, "d.png", "Red", "add")
    _photo(csv_folder / "e.png", (1, 2, 3))
    with pytest.raises(CleanupError, match=r"e\.png is not listed"):
        edit_label(csv_folder, "e.png", "red", "add")


def test_label_folders_add_a_copy_and_remove_one_to_quarantine(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _photo(root / "red" / "p.png", (200, 0, 0))
    (root / "blue").mkdir()
    (root / "blue" / "p.png").write_bytes((root / "red" / "p.png").read_bytes())
    _photo(root / "blue" / "q.png", (0, 0, 200))
    added = edit_label(root, root / "red" / "p.png", "green", "add")
    assert (root / "green" / "p.png").read_bytes() == (root / "red" / "p.png").read_bytes()
    with pytest.raises(CleanupError, match="give a quarantine folder"):
        edit_label(root, root / "red" / "p.png", "blue", "remove")
    removed = edit_label(root, root / "red" / "p.png", "blue", "remove",
                         quarantine=tmp_path / "out")
    assert not (root / "blue" / "p.png").exists()
    assert (tmp_path / "out" / "blue" / "p.png").is_file()
    assert [m.move_id for m in read_journal(root).applied] == [added.change_id,
                                                               removed.change_id]
    undo_change(root)
    undo_change(root)
    assert (root / "blue" / "p.png").is_file() and not (root / "green").exists()


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([*argv])
    return status, out.getvalue(), err.getvalue()


def test_the_cli_edits_lists_and_undoes(csv_folder: Path) -> None:
    before = (csv_folder / "labels.csv").read_bytes()
    status, out, _ = _cli("label", str(csv_folder), "d.png", "--add", "red")
    assert status == 0 and "d.png: label 'red' added (labels.csv)" in out
    status, out, _ = _cli("moves", str(csv_folder))
    assert "label 'red' added" in out and "in effect" in out
    status, out, _ = _cli("label", str(csv_folder), "d.png", "--add", "red", "--json")
    assert status == 1
    status, _, err = _cli("label", str(csv_folder), "a.png", "--remove", "red",
                          "--expected-hash", content_hash(before))
    assert status == 1 and "changed on disk since it was read" in err
    status, out, _ = _cli("undo", str(csv_folder), "--last", "--json")
    assert status == 0 and json.loads(out)["edit"]["state"] == "undone"
    assert (csv_folder / "labels.csv").read_bytes() == before


def test_an_edit_a_crash_interrupted_is_settled_by_the_file(csv_folder: Path) -> None:
    file = csv_folder / "labels.csv"
    before = file.read_bytes()
    change = edit_label(csv_folder, "d.png", "red", "add")
    journal_path = label_journal_file(csv_folder)
    pending = journal_path.read_text().replace('"state": "done"', '"state": "pending"')
    journal_path.write_text(pending)
    assert read_label_journal(csv_folder).find(change.change_id).state == "done"  # it landed
    journal_path.write_text(pending)
    file.write_bytes(before)  # the crash came before labels.csv was replaced
    assert read_label_journal(csv_folder).find(change.change_id) is None
