"""What GUI tests do again and again, as a user would: open a dataset, wait for the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from synthetic import make_dataset, textured_image

OPEN_TIMEOUT_MS = 60_000


def open_dataset(window: Any, qtbot: Any, folder: Path) -> None:
    """Open `folder` on the Data step and wait until it is scanned and shown."""
    window.open_dataset(folder)
    qtbot.waitUntil(lambda: not window.data_page.runner.busy and window.session.dataset
                    is not None and window.session.dataset.root == folder.resolve(),
                    timeout=OPEN_TIMEOUT_MS)


def wait_for_data_page(page: Any, qtbot: Any) -> None:
    """Until the Data step has run its queued clean-up jobs and the rescan they asked for."""
    qtbot.waitUntil(lambda: not page.runner.busy and not page._queued
                    and not page._rescan_when_idle, timeout=OPEN_TIMEOUT_MS)


def answer_quarantine_dialog(monkeypatch: Any, folder: Path) -> list[str]:
    """Make the quarantine folder dialog answer `folder`; the titles it was asked with."""
    asked: list[str] = []

    def choose(_parent: Any, title: str, _start: str) -> str:
        asked.append(title)
        return str(folder)

    monkeypatch.setattr("cheetahlion_gui.cleanup_actions.QFileDialog.getExistingDirectory",
                        choose)
    return asked


def train_small_model(window: Any, qtbot: Any, folder: Path) -> Any:
    """Make a small two-colour dataset in `folder`, open it and train on it with Start
    (quick mode, 64 px); return the Train page once the run can be exported."""
    window.open_dataset(make_dataset(folder, per_class=6))
    qtbot.waitUntil(lambda: window.session.dataset is not None
                    and not window.data_page.runner.busy, timeout=OPEN_TIMEOUT_MS)
    page = window.train_page
    window.sidebar.setCurrentRow(1)
    page.form.advanced.setChecked(True)
    page.form.image_size.setValue(64)
    assert not page.history_panel.export_button.isEnabled()
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.runner.busy, timeout=OPEN_TIMEOUT_MS)
    qtbot.waitUntil(page.history_panel.export_button.isEnabled, timeout=OPEN_TIMEOUT_MS)
    return page


def make_named_dataset(root: Path, classes: dict[str, tuple[int, int, int]], per_class: int,
                       size: int = 64, seed: int = 0,
                       stem: str = "IMG_20240613_17") -> Path:
    """root/<class>/<stem><nnnn>.jpg: photos named as a phone names them, in class folders
    named as a user names them (`classes`: folder name → colour), so that text a window
    shows about them is as long as a user's; returns root."""
    for class_index, (name, colour) in enumerate(classes.items()):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = textured_image(colour, seed * 10_000 + class_index * 1000 + i, size)
            image.save(folder / f"{stem}{class_index}{i:03d}.jpg", quality=90)
    return root


def click_step(window: Any, qtbot: Any, row: int) -> None:
    """Click the sidebar's row for a step, as a user does."""
    sidebar = window.sidebar
    qtbot.mouseClick(sidebar.viewport(), Qt.MouseButton.LeftButton,
                     pos=sidebar.visualItemRect(sidebar.item(row)).center())
    assert window.stack.currentIndex() == row, f"clicking step {row + 1} did not show it"
