"""The real entry point (`cheetahlion --data FOLDER`) starts, opens the folder and quits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from synthetic import make_dataset

pytestmark = pytest.mark.slow  # each test starts the app in a new process

PROBE = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from cheetahlion_gui import app as entry

def check():
    window = [w for w in QApplication.topLevelWidgets() if w.objectName() == "mainWindow"][0]
    if window.session.dataset is None:
        return QTimer.singleShot(100, check)
    print("opened", window.session.dataset.root.name, window.session.dataset.class_counts)
    window.close()
    app.quit()

QTimer.singleShot(100, check)
QTimer.singleShot(60_000, app.quit)
sys.exit(entry.main(["--data", sys.argv[1]]))
"""


def test_cheetahlion_data_opens_the_dataset(tmp_path: Path) -> None:
    """Without onnxruntime: the window's start-up export of the default network's feature
    graph is no part of opening a folder, and closing waits for it (up to a minute under
    load, most of this test's time). The windows of the in-process GUI tests export it."""
    data = make_dataset(tmp_path / "colours", per_class=3)
    environment = {**os.environ, "CHEETAHLION_NO_ONNXRUNTIME": "1"}
    result = subprocess.run([sys.executable, "-c", PROBE, str(data)], capture_output=True,
                            text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
                            env=environment)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "opened colours {'blue': 3, 'red': 3}" in result.stdout


CLOSE_AT_ONCE = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from cheetahlion_gui.main_window import MainWindow
from cheetahlion_gui.settings import Settings
window = MainWindow(Settings())
window.show()
QTimer.singleShot(0, window.close)  # while the warm-up worker is still importing torch
QTimer.singleShot(50, app.quit)
sys.exit(app.exec())
"""


def test_closing_right_after_start_does_not_abort() -> None:
    """Closing while the start-up worker imports torch must not destroy a running QThread."""
    result = subprocess.run([sys.executable, "-c", CLOSE_AT_ONCE], capture_output=True,
                            text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Destroyed while thread" not in result.stderr
