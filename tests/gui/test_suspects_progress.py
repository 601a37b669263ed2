"""The finder's progress bar on the Data step: one run from empty to full, the phase named.

Issue 20: the bar ran 0-100 % once per phase, so it fell back (59 % to 16 %) when the finder
moved from looking at each image to checking them against each other.
"""

from __future__ import annotations

from pathlib import Path

from gui_steps import open_dataset
from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QLabel, QProgressBar
from synthetic import make_dataset


class _BarRecorder(QObject):
    """Where the bar stands (value / maximum) and the status line, at each change of value."""

    def __init__(self, bar: QProgressBar, status: QLabel) -> None:
        super().__init__(bar)
        self.bar, self.status = bar, status
        self.seen: list[tuple[float, str]] = []
        bar.valueChanged.connect(self.changed)

    @Slot(int)
    def changed(self, value: int) -> None:
        if self.bar.maximum() > 0:
            self.seen.append((value / self.bar.maximum(), self.status.text()))


def test_the_bar_never_goes_back_and_names_the_phase(window, qtbot, messages,
                                                     tmp_path: Path) -> None:
    open_dataset(window, make_dataset(tmp_path / "colours", per_class=10))
    page = window.data_page
    view = page.suspects_view
    page.tabs.setCurrentWidget(view)
    recorder = _BarRecorder(view.progress, view.status)
    qtbot.mouseClick(view.find_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.job is None and not page.runner.busy, timeout=120_000)
    assert not messages
    fractions = [fraction for fraction, _status in recorder.seen]
    assert len(fractions) > 3
    assert fractions == sorted(fractions), fractions
    assert fractions[-1] == 1.0
    statuses = [status for _fraction, status in recorder.seen]
    assert any(s.startswith("Looking at each image: ") for s in statuses)
    assert any(s.startswith("Checking each image against the others: ") for s in statuses)
