"""GUI fixtures: a real main window, and a check that no test leaves a thread running."""

from __future__ import annotations

import gc
import threading
import time

import pytest
from PySide6.QtCore import QThread, QThreadPool
from PySide6.QtWidgets import QApplication, QMessageBox

from cheetahlion_gui.main_window import MainWindow
from cheetahlion_gui.settings import Settings


def _busy_qt_threads() -> list[object]:
    """Running QThreads (but the GUI thread) and thread pools with work still going."""
    busy: list[object] = []
    for obj in gc.get_objects():
        kind = type(obj)  # not isinstance: it would touch lazy modules' attributes
        try:
            if issubclass(kind, QThread):
                if obj.isRunning() and obj is not QApplication.instance().thread():
                    busy.append(obj)
            elif issubclass(kind, QThreadPool) and obj.activeThreadCount():
                busy.append(obj)
        except RuntimeError:  # its C++ side is already gone
            continue
    return busy


def _new_python_threads(before: set[int | None]) -> list[threading.Thread]:
    """Threads started from Python since `before` (pool threads that merely ran Python code
    show up as _DummyThread; the pools themselves are checked above)."""
    return [t for t in threading.enumerate()
            if t.ident not in before and t.is_alive()
            and not isinstance(t, threading._DummyThread)]  # type: ignore[attr-defined]


THREADS_END_SECONDS = 60
"""How long a test's threads may take to wind down after it. Only a thread that never ends
runs into it: a limit of a few seconds would fail on a busy machine."""


@pytest.fixture(autouse=True)
def no_threads_left_running(qapp):
    """Fail a test that leaves a QThread or an extra Python thread running."""
    before = {t.ident for t in threading.enumerate()}
    yield
    deadline = time.monotonic() + THREADS_END_SECONDS
    while time.monotonic() < deadline:
        qapp.processEvents()
        busy, extra = _busy_qt_threads(), _new_python_threads(before)
        if not busy and not extra:
            return
        time.sleep(0.05)
    pytest.fail(f"threads left running: {busy} {extra}")


@pytest.fixture
def messages(monkeypatch):
    """Record message boxes instead of showing modal dialogs that would block the test."""
    shown: list[tuple[str, str]] = []

    def record(_parent, title, text, *args, **kwargs):
        shown.append((title, text))
        return QMessageBox.StandardButton.Yes

    for name in ("information", "warning", "critical", "question"):
        monkeypatch.setattr(QMessageBox, name, staticmethod(record))
    monkeypatch.setattr("cheetahlion_gui.dialogs.QMessageBox.open",
                        lambda box: shown.append((box.windowTitle(), box.text())))
    return shown


@pytest.fixture
def window(qtbot, messages):
    win = MainWindow(Settings.load())
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
