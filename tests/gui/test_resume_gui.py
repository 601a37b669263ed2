"""Train page: Stop a fine-tune after its first epoch (the best model so far is kept and the
window says so), then Resume it from the run history (real worker thread and training child
process) and see it finish all its epochs."""

from __future__ import annotations

from pathlib import Path

import pytest
from gui_steps import open_dataset
from PySide6.QtCore import Qt
from synthetic import make_dataset

FINISH_MS = 240_000
EPOCHS = 5
"""The child trains on while the Stop click (made once epoch 1 is shown) travels to it; with
3 epochs a slow hand-over on a busy machine could let the run complete, with 5 there are
four epochs to spare."""


@pytest.mark.slow
def test_a_stopped_fine_tune_resumes_from_the_history_and_finishes(window, qtbot, messages,
                                                                   tmp_path: Path) -> None:
    open_dataset(window, make_dataset(tmp_path / "colours", per_class=6))
    page = window.train_page
    page.form.mode.setCurrentIndex(page.form.mode.findData("finetune"))
    page.form.epochs.setValue(EPOCHS)
    page.form.batch_size.setValue(4)
    page.form.advanced.setChecked(True)
    page.form.image_size.setValue(64)
    page.form.patience.setValue(0)

    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(page.progress_panel.plots.history.epochs) >= 1, timeout=FINISH_MS)
    qtbot.mouseClick(page.stop_button, Qt.MouseButton.LeftButton)
    assert page.stop_button.text() == "Stopping…"
    qtbot.waitUntil(lambda: not page.runner.busy, timeout=FINISH_MS)
    stopped, = window.session.runs
    done_before = len(stopped.epochs)
    assert 1 <= done_before < EPOCHS and stopped.stopped == "cancelled" and stopped.resumable
    # Stopping keeps the best model so far and says so (this test is also the suite's
    # "Stop a fine-tune from the window" check; it was one on the real photos as well).
    assert stopped.model_path and Path(stopped.model_path).exists()
    assert page.progress_panel.phase_label.text().startswith("You pressed Stop after epoch")
    assert page.history_panel.model.index(0, 8).data() == "stopped"

    page.history_panel.view.selectRow(0)
    history = page.history_panel
    assert history.resume_button.isEnabled() and history.resume_action.isEnabled()
    qtbot.mouseClick(page.history_panel.resume_button, Qt.MouseButton.LeftButton)
    assert not page.history_panel.resume_button.isEnabled() and not page.start_button.isEnabled()
    curves = page.progress_panel.plots.history
    assert curves.epochs == list(range(1, done_before + 1))  # earlier curves kept
    qtbot.waitUntil(lambda: not page.runner.busy, timeout=FINISH_MS)

    assert not messages, messages
    finished, = window.session.runs
    assert finished.run_id == stopped.run_id and finished.stopped == "completed"
    assert len(finished.epochs) == EPOCHS and finished.resumed_after == (done_before,)
    assert page.progress_panel.plots.history.epochs == list(range(1, EPOCHS + 1))
    assert page.progress_panel.phase_label.text().startswith(f"Finished all {EPOCHS} epochs.")
    assert page.history_panel.model.index(0, 8).data() == "finished"
    assert not page.history_panel.resume_button.isEnabled()
    assert window.session.model_path == finished.model_path
