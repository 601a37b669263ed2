"""What GUI tests do again and again, as a user would, through the app's own session driver
(cheetahlion_gui/session_driver.py); and the test-only helpers beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthetic import make_dataset, textured_image

from cheetahlion_gui.session_driver import SessionDriver

OPEN_TIMEOUT_MS = 60_000


def driver(window: Any) -> SessionDriver:
    """The window's session driver (one per window), waiting up to OPEN_TIMEOUT_MS a step."""
    return SessionDriver.of(window, OPEN_TIMEOUT_MS / 1000)


def open_dataset(window: Any, folder: Path) -> None:
    """Open `folder` on the Data step and wait until it is scanned and shown."""
    driver(window).open_dataset(folder, by_clicking=False)


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

    monkeypatch.setattr("cheetahlion_gui.data.cleanup_actions.QFileDialog.getExistingDirectory",
                        choose)
    return asked


def train_small_model(window: Any, folder: Path) -> Any:
    """Make a small two-colour dataset in `folder`, open it and train on it with Start
    (quick mode, 64 px); return the Train page once the run can be exported."""
    steps = driver(window)
    steps.open_dataset(make_dataset(folder, per_class=6), by_clicking=False)
    page = window.train_page
    steps.go_to("Train")
    steps.set_train_settings(image_size=64)
    assert not page.history_panel.export_button.isEnabled()
    steps.train()
    steps.wait(page.history_panel.export_button.isEnabled, "enabling Export")
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
