"""Reviewing the unsure photos by keyboard: number keys copy into the dataset's classes, Space
skips, Backspace undoes, N makes a new class, Esc ends; "train again" starts a run that the
history shows after the earlier one, with the new photos counted."""

from __future__ import annotations

from pathlib import Path

from gui_steps import OPEN_TIMEOUT_MS, train_small_model
from PySide6.QtCore import Qt
from synthetic import make_dataset

from cheetahlion_gui.classify.review_dialog import ReviewDialog
from cheetahlion_gui.classify.review_order import ORDERED

IMAGES_COLUMN = 7


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _classified_gallery(window, qtbot, folder: Path):
    """Six new photos (two of a colour the model never saw), classified, everything under
    99 % confidence counted as unsure."""
    gallery = make_dataset(folder, classes=("red", "blue", "green"), per_class=2, seed=7)
    window.sidebar.setCurrentRow(3)
    page = window.classify_page
    page.open_sources([gallery])
    qtbot.waitUntil(lambda: not page.runner.busy and page.model.rowCount() == 6
                    and all(i.label for i in page.model.items()), timeout=OPEN_TIMEOUT_MS)
    page.filters.threshold.setValue(99)
    return page, gallery


def test_keys_label_the_unsure_photos_and_train_again(window, qtbot, tmp_path: Path) -> None:
    train_page = train_small_model(window, tmp_path / "colours")
    dataset_root = window.session.dataset.root
    page, gallery = _classified_gallery(window, qtbot, tmp_path / "gallery")
    items = page.review_items()
    assert len(items) >= 4, [(i.label, i.confidence) for i in page.model.items()]
    assert page.review_button.isEnabled() and f"({len(items)})" in page.review_button.text()
    before, originals = _files(dataset_root), _files(gallery)

    qtbot.mouseClick(page.review_button, Qt.MouseButton.LeftButton)
    assert page.review_button.text().startswith("Ordering by what a label would teach")
    qtbot.waitUntil(lambda: page.review_dialog is not None, timeout=OPEN_TIMEOUT_MS)
    dialog = page.review_dialog
    assert isinstance(dialog, ReviewDialog) and dialog.isVisible()
    assert dialog.status.text() == ORDERED
    assert sorted(i.path for i in dialog.items) == sorted(i.path for i in items)
    assert len(dialog.reasons) == len(items)
    assert dialog.teaches.text() == f"Why now: {dialog.reasons[0]}"
    items = dialog.items  # in the order a label teaches most
    qtbot.waitUntil(lambda: dialog.picture.pixmap() is not None
                    and not dialog.picture.pixmap().isNull(), timeout=OPEN_TIMEOUT_MS)
    first, second = dialog.classes[0], dialog.classes[1]
    assert dialog.counter.text().startswith(f"1 of {len(items)}")
    shown = dialog.class_buttons.button(0).text()
    assert shown.startswith(f"1   {first}")
    assert ("%" in shown) != items[0].unfamiliar, "the model's confidence beside it"

    qtbot.keyClick(dialog, Qt.Key.Key_1)                 # photo 1 → first class
    qtbot.keyClick(dialog, Qt.Key.Key_2)                 # photo 2 → second class
    assert dialog.counter.text().startswith(f"3 of {len(items)}"), "no wait between photos"
    qtbot.waitUntil(lambda: dialog.queue.idle, timeout=OPEN_TIMEOUT_MS)
    copies = set(_files(dataset_root)) - set(before)
    assert sorted(Path(name).parent.name for name in copies) == sorted([first, second])

    qtbot.keyClick(dialog, Qt.Key.Key_Backspace)         # take photo 2 back
    assert dialog.counter.text().startswith(f"2 of {len(items)}")
    qtbot.keyClick(dialog, Qt.Key.Key_Space)             # … and skip it
    qtbot.keyClick(dialog, Qt.Key.Key_N)                 # photo 3 → a new class
    assert dialog.new_class_edit.isVisible() and dialog.new_class_edit.hasFocus()
    qtbot.keyClicks(dialog.new_class_edit, "../up")
    qtbot.keyClick(dialog.new_class_edit, Qt.Key.Key_Return)
    assert dialog.new_class_edit.isVisible() and "cannot contain" in dialog.status.text()
    dialog.new_class_edit.clear()
    qtbot.keyClicks(dialog.new_class_edit, "green")
    qtbot.keyClick(dialog.new_class_edit, Qt.Key.Key_Return)
    assert not dialog.new_class_edit.isVisible() and dialog.classes[-1] == "green"
    assert dialog.class_buttons.button(2).text().startswith("3   green")
    qtbot.keyClick(dialog, Qt.Key.Key_3)                 # photo 4 → green, by its new key
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.stack.currentWidget() is dialog.end
    qtbot.keyClick(dialog, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # back again
    assert dialog.counter.text().startswith(f"4 of {len(items)}")
    qtbot.keyClick(dialog, Qt.Key.Key_3)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: dialog.queue.idle and dialog.train_button.isEnabled(),
                    timeout=OPEN_TIMEOUT_MS)
    assert dialog.end_text.text() == "3 photos labelled, 1 skipped — train again?"

    after = _files(dataset_root)
    new = {name: data for name, data in after.items() if name not in before}
    assert sorted(Path(name).parent.name for name in new) == sorted([first, "green", "green"])
    assert sorted(new.values()) == sorted(Path(items[i].path).read_bytes() for i in (0, 2, 3))
    assert {name: after[name] for name in before} == before, "nothing in the dataset changed"
    assert _files(gallery) == originals, "the originals are untouched"

    runs_before = len(window.session.runs)
    qtbot.mouseClick(dialog.train_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible() and window.stack.currentWidget() is train_page
    qtbot.waitUntil(lambda: len(window.session.runs) == runs_before + 1
                    and not train_page.runner.busy, timeout=OPEN_TIMEOUT_MS * 2)
    newest, earlier = window.session.runs[-1], window.session.runs[-2]
    assert sum(newest.class_counts.values()) == sum(earlier.class_counts.values()) + 3
    assert newest.class_counts["green"] == 2
    model = train_page.history_panel.model
    images = [model.index(row, IMAGES_COLUMN).data() for row in range(2)]
    assert images == [str(sum(newest.class_counts.values())),
                      str(sum(earlier.class_counts.values()))], images


def test_review_needs_a_dataset_and_unsure_photos(window, qtbot, tmp_path: Path) -> None:
    page = window.classify_page
    assert not page.review_button.isEnabled()
    assert page.review_unsure() is None
