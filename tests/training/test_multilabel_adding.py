"""A photo added to a multi-label dataset with its labels (the review of a multi-label
gallery): labels.csv gains one row, written atomically and undoable to its exact bytes with
the copy gone; a file changed on disk is refused; a taken name is never overwritten; in
label folders a copy goes into each label's folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from training.data.images import content_hash
from training.data.labels_csv import read_labels_csv
from training.insight import label_edits
from training.insight.adding import AlreadyInClass
from training.insight.label_edits import LabelUndo, undo_change
from training.insight.multilabel_adding import add_labelled_photo, undo_addition
from training.records.journal import CleanupError, read_journal
from training.records.label_journal import read_label_journal
from training.records.multilabel import UNSURE_BAND, is_unsure, label_doubt

ORIGINAL = ("\ufeffPath, Labels ,source\r\n"
            "a.png,red;blue,camera 1\r\n"
            '"b.png", red ,"tool, v2"\r\n'
            "sub/c.png,,x\r\n"
            "d.png,blue")
"""A byte-order mark, CRLF, an extra column, a quoted cell and no line break at the end."""


def _photo(path: Path, colour: tuple[int, int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 64), colour).save(path)
    return path


@pytest.fixture
def csv_folder(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for name, colour in (("a.png", (200, 0, 0)), ("b.png", (0, 200, 0)),
                         ("sub/c.png", (0, 0, 200)), ("d.png", (90, 90, 90))):
        _photo(root / name, colour)
    (root / "labels.csv").write_bytes(ORIGINAL.encode("utf-8"))
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file()}


def test_a_row_is_appended_in_the_files_own_style_and_undo_gives_back_its_bytes(
        csv_folder: Path, tmp_path: Path) -> None:
    new = _photo(tmp_path / "outside" / "new.png", (10, 120, 240))
    before = _files(csv_folder)
    added = add_labelled_photo(csv_folder, new, ["red", "blue"])
    after = (csv_folder / "labels.csv").read_bytes()
    assert after == ORIGINAL.encode("utf-8") + b"\r\nnew.png,blue;red,\r\n"
    assert dict(read_labels_csv(csv_folder).rows)["new.png"] == ("blue", "red")
    assert (csv_folder / "new.png").read_bytes() == new.read_bytes()
    assert added.describe() == "new.png → new.png in labels.csv (blue, red)"
    assert new.exists(), "the original stays where it was"

    outcome = undo_change(csv_folder)  # --last: the whole addition, row and copy
    assert isinstance(outcome, LabelUndo) and "its copy was removed" in outcome.describe()
    assert _files(csv_folder) == before
    assert not read_label_journal(csv_folder).applied and not read_journal(csv_folder).applied


def test_a_taken_name_is_never_overwritten_and_no_label_is_a_valid_row(
        csv_folder: Path, tmp_path: Path) -> None:
    new = _photo(tmp_path / "outside" / "a.png", (1, 2, 3))
    taken = (csv_folder / "a.png").read_bytes()
    added = add_labelled_photo(csv_folder, new, [])
    assert (csv_folder / "a.png").read_bytes() == taken
    assert added.edit is not None and added.edit.relpath == "a (2).png"
    assert (csv_folder / "a (2).png").read_bytes() == new.read_bytes()
    assert dict(read_labels_csv(csv_folder).rows)["a (2).png"] == ()
    undo_addition(csv_folder, added)
    assert (csv_folder / "labels.csv").read_bytes() == ORIGINAL.encode("utf-8")
    assert not (csv_folder / "a (2).png").exists()


def test_a_labels_csv_changed_on_disk_is_refused_and_nothing_is_left(
        csv_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    new = _photo(tmp_path / "outside" / "new.png", (10, 120, 240))
    file = csv_folder / "labels.csv"
    read_hash = content_hash(file.read_bytes())
    file.write_bytes(file.read_bytes() + b"\r\n")  # saved by hand since it was read
    before = _files(csv_folder)
    with pytest.raises(CleanupError, match=r"labels\.csv changed on disk since it was read"):
        add_labelled_photo(csv_folder, new, ["red"], expected_hash=read_hash)
    assert _files(csv_folder) == before

    # … or while the photo was being copied in (another program saved it just before the
    # row went in): the row is refused and the copy taken back
    monkeypatch.setattr(label_edits, "current_hash",
                        lambda path: "someone else's" if path == file else None)
    with pytest.raises(CleanupError, match=r"while the edit was made.*new\.png was not added "
                                           r"\(its copy was removed\)"):
        add_labelled_photo(csv_folder, new, ["red"])
    assert _files(csv_folder) == before
    assert not read_label_journal(csv_folder).edits


def test_a_failed_write_leaves_the_dataset_as_it_was(
        csv_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """labels.csv is replaced whole or not at all (`write_atomically`); when it cannot be,
    the copy is taken back and neither journal keeps the change."""
    new = _photo(tmp_path / "outside" / "new.png", (10, 120, 240))
    file = csv_folder / "labels.csv"
    real = label_edits.write_atomically

    def disk_full(path: Path, data: bytes) -> None:
        if path == file:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(label_edits, "write_atomically", disk_full)
    before = _files(csv_folder)
    with pytest.raises(CleanupError, match=r"could not be written \(No space left on device\)"):
        add_labelled_photo(csv_folder, new, ["red"])
    assert _files(csv_folder) == before
    assert not read_label_journal(csv_folder).edits
    assert not read_journal(csv_folder).applied


def test_a_photo_already_listed_is_not_copied_again(csv_folder: Path, tmp_path: Path) -> None:
    twin = tmp_path / "outside" / "twin.png"
    twin.parent.mkdir()
    twin.write_bytes((csv_folder / "b.png").read_bytes())
    with pytest.raises(AlreadyInClass, match=r"in the dataset already, as b\.png"):
        add_labelled_photo(csv_folder, twin, ["red"])
    assert (csv_folder / "labels.csv").read_bytes() == ORIGINAL.encode("utf-8")


def test_label_folders_get_a_copy_in_each_ticked_labels_folder(tmp_path: Path) -> None:
    root = tmp_path / "folders"
    for label, colour in (("red", (200, 0, 0)), ("blue", (0, 0, 200))):
        _photo(root / label / "one.png", colour)
        _photo(root / label / "two.png", tuple(c // 2 for c in colour))
    new = _photo(tmp_path / "outside" / "one.png", (120, 0, 120))
    before = _files(root)
    added = add_labelled_photo(root, new, ["red", "blue"])
    made = set(_files(root)) - set(before)
    assert made == {"red/one (2).png", "blue/one (2).png"}
    assert [copy.class_after for copy in added.copies] == ["blue", "red"]
    undo_addition(root, added)
    assert _files(root) == before
    with pytest.raises(CleanupError, match="no label has no folder"):
        add_labelled_photo(root, new, [])


def test_the_unsure_band_is_log_odds_around_each_threshold() -> None:
    assert round(UNSURE_BAND, 4) == 0.8473
    assert is_unsure([0.31, 0.99], [0.5, 0.5]) and not is_unsure([0.29, 0.99], [0.5, 0.5])
    assert is_unsure([0.05], [0.1]) and not is_unsure([0.04], [0.1])
    assert label_doubt([0.5, 0.9], [0.5, 0.2]) == 0.0
    assert label_doubt([], []) is None
