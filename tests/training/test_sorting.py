"""Sorting files into class folders never overwrites and never loses a file."""

from __future__ import annotations

from pathlib import Path

from training.predict.sorting import sort_into_folders


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_copy_renames_on_clash_and_keeps_sources(tmp_path: Path) -> None:
    source = tmp_path / "in"
    (source / "a").mkdir(parents=True)
    (source / "b").mkdir()
    (source / "a" / "x.jpg").write_bytes(b"first")
    (source / "b" / "x.jpg").write_bytes(b"second")
    target = tmp_path / "out"
    (target / "lion").mkdir(parents=True)
    (target / "lion" / "x.jpg").write_bytes(b"already there")
    summary = sort_into_folders([(source / "a" / "x.jpg", "lion"),
                                 (source / "b" / "x.jpg", "lion")], target)
    assert _files(target) == {"lion/x.jpg": b"already there", "lion/x (2).jpg": b"first",
                              "lion/x (3).jpg": b"second"}
    assert summary.renamed == 2 and not summary.failed
    assert len(_files(source)) == 2
    assert summary.describe("copied") == "2 file(s) copied, 2 renamed because the name was taken."


def test_move_removes_sources_only_after_success(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    for name in ("1.jpg", "2.jpg"):
        (source / name).write_bytes(name.encode())
    target = tmp_path / "out"
    summary = sort_into_folders([(source / "1.jpg", "cheetah"), (source / "2.jpg", "lion"),
                                 (source / "gone.jpg", "lion")], target, move=True)
    assert _files(target) == {"cheetah/1.jpg": b"1.jpg", "lion/2.jpg": b"2.jpg"}
    assert _files(source) == {}
    assert [p.name for p, _ in summary.failed] == ["gone.jpg"]
    assert "1 failed" in summary.describe("moved")


def test_labels_cannot_escape_the_target(tmp_path: Path) -> None:
    (tmp_path / "p.jpg").write_bytes(b"p")
    summary = sort_into_folders([(tmp_path / "p.jpg", "../../etc")], tmp_path / "out")
    destination = summary.done[0][1]
    assert destination.resolve().is_relative_to((tmp_path / "out").resolve())
