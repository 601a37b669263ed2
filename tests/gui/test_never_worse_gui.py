"""What the user sees when training would have made the model worse than ImageNet's own
answer: the Train step says which model it kept, and the run history marks it."""

from __future__ import annotations

from pathlib import Path

from gui_steps import OPEN_TIMEOUT_MS, open_dataset
from PySide6.QtCore import Qt
from synthetic import make_fruit_dataset

ACCURACY_COLUMN = 4


def test_a_run_that_training_spoiled_says_what_it_kept(window, qtbot, tmp_path: Path) -> None:
    open_dataset(window, make_fruit_dataset(tmp_path / "fruit", swapped=True))
    page = window.train_page
    window.sidebar.setCurrentRow(1)
    page.form.advanced.setChecked(True)
    page.form.image_size.setValue(64)
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.runner.busy, timeout=OPEN_TIMEOUT_MS)
    qtbot.waitUntil(lambda: page.history_panel.model.rowCount() == 1, timeout=OPEN_TIMEOUT_MS)

    assert "ImageNet's own classifier" in page.progress_panel.phase_label.text()
    assert "trained alone: validation accuracy" in page.progress_panel.phase_label.text()
    cell = page.history_panel.model.index(0, ACCURACY_COLUMN)
    shown = page.history_panel.model.data(cell)
    assert shown.endswith("(ImageNet's)") or "(blend" in shown
    assert float(shown.split()[0]) == 1.0  # the baseline of these photos is perfect
    tooltip = page.history_panel.model.data(cell, Qt.ItemDataRole.ToolTipRole)
    assert "ImageNet's own classifier" in tooltip
