"""Start-up as a new user sees it: the first frame at once, and no "open a folder" help
while the first folder is being opened."""

from __future__ import annotations

from pathlib import Path

from gui_steps import open_dataset
from PySide6.QtCore import QEvent, QObject
from synthetic import make_dataset

from cheetahlion_gui.jobs import runner
from cheetahlion_gui.main_window import MainWindow
from cheetahlion_gui.settings import Settings


class _Paints(QObject):
    """Appends "paint" to `order` for each Paint event of the watched window."""

    def __init__(self, order: list[str]) -> None:
        super().__init__()
        self.order = order

    def eventFilter(self, _watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.order.append("paint")
        return False


def test_the_first_frame_is_painted_before_the_engine_starts_loading(qtbot, monkeypatch,
                                                                      messages) -> None:
    """The warm-up's `import torch` holds the GIL for seconds: started first, the window
    stayed black that long. (torch is loaded in this process already: loading the engine is
    recorded, not timed.)"""
    order: list[str] = []
    load_engine = runner.load_engine

    def recorded() -> None:
        order.append("engine")
        load_engine()
    monkeypatch.setattr(runner, "load_engine", recorded)
    window = MainWindow(Settings.load())
    qtbot.addWidget(window)
    paints = _Paints(order)
    window.installEventFilter(paints)
    qtbot.wait(200)  # the event loop runs before the window is shown: nothing loads
    assert order == [] and window.warming_up, "waiting for the first frame"
    window.show()
    qtbot.waitUntil(lambda: "engine" in order, timeout=10_000)
    assert order[0] == "paint"
    window.removeEventFilter(paints)
    qtbot.waitUntil(lambda: not window.warming_up, timeout=60_000)
    assert window.device_label.text().startswith("Device: ")
    window.close()


def test_a_folder_being_opened_shows_no_first_start_help(window, qtbot, tmp_path: Path) -> None:
    page = window.data_page
    assert page.stack.currentWidget() is page.empty_state
    window.open_dataset(make_dataset(tmp_path / "colours", per_class=3))
    assert page.stack.currentWidget() is page.scanning_state
    assert not page.empty_state.isVisible()
    assert "Opening colours…" in page.scanning_state.text()
    qtbot.waitUntil(lambda: window.session.dataset is not None and not page.runner.busy,
                    timeout=60_000)
    assert page.stack.currentIndex() == 1

    window.open_dataset(make_dataset(tmp_path / "more", per_class=3))
    assert page.stack.currentIndex() == 1, "a rescan keeps the dataset in view"
    qtbot.waitUntil(lambda: not page.runner.busy, timeout=60_000)


def test_a_folder_that_fails_to_open_brings_the_help_back(window, qtbot, messages,
                                                          tmp_path: Path) -> None:
    page = window.data_page
    (tmp_path / "no-classes").mkdir()
    window.open_dataset(tmp_path / "no-classes")
    qtbot.waitUntil(lambda: not page.runner.busy, timeout=60_000)
    assert page.stack.currentWidget() is page.empty_state
    assert messages and "no class folders" in messages[-1][1]


def test_a_long_dataset_path_never_widens_the_window(window, qtbot, tmp_path) -> None:
    """A 90-character path in the Data step's heading made the window 1390 px wide, wider
    than a 1280-px laptop screen; it shows shortened in its middle, whole in its tooltip."""
    deep = tmp_path / ("wildlife_camera_trap_" * 3) / "serengeti_2024_photos_sorted_by_hand"
    data = make_dataset(deep, per_class=3)
    assert len(str(data)) > 90
    open_dataset(window, data)
    label = window.data_page.folder_label
    assert window.width() == 1280
    assert label.whole_text() == str(data.resolve()) == label.toolTip()
    shown = label.text()
    assert "…" in shown and shown.endswith("serengeti_2024_photos_sorted_by_hand")
    assert label.fontMetrics().horizontalAdvance(shown) <= label.contentsRect().width()
