"""What GUI tests do again and again, as a user would: open a dataset, wait for the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
