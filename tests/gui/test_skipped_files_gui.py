"""The gallery says how many files it left out, and names them in a tooltip."""

from __future__ import annotations

from pathlib import Path

from synthetic import textured_image


def test_the_gallery_counts_and_names_the_files_it_skipped(window, qtbot,
                                                           tmp_path: Path) -> None:
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    textured_image((200, 40, 40), 1, size=96).save(gallery / "a.png")
    (gallery / "IMG_0003.MOV").write_bytes(b"\0\0\0\x14ftypqt  ")  # a Live Photo's video
    (gallery / "gone.jpg").symlink_to(gallery / "nowhere.jpg")
    window.sidebar.setCurrentRow(3)
    page = window.classify_page
    page.sources_bar.model_source.setCurrentIndex(page.sources_bar.model_source.findData("imagenet"))
    page.open_sources([gallery])
    qtbot.waitUntil(lambda: not page.runner.busy and page.model.rowCount() == 1
                    and page.model.item(0).label is not None, timeout=120_000)
    assert page.file_actions.summary.text().endswith(", 2 skipped (not images)")
    tooltip = page.file_actions.summary.toolTip()
    assert "IMG_0003.MOV is not an image this version reads ('.mov' files" in tooltip
    assert "gone.jpg is a broken link" in tooltip
