"""The window keeps a training process ready for the next fine-tune: started once the user
chooses fine-tuning, taken by the next fine-tune and replaced after it, ended when the
window closes; never started for a user who does not fine-tune."""

from __future__ import annotations

from pathlib import Path

import pytest
from gui_steps import open_dataset
from PySide6.QtCore import Qt
from synthetic import make_dataset

STARTUP_MS = 120_000
TRAIN_MS = 240_000


@pytest.fixture(autouse=True)
def _no_tqdm_monitor(monkeypatch) -> None:
    """The start-up's fast-runtime job exports an ONNX graph once the warm-up is done; torch's
    exporter makes (disabled) tqdm bars, which start tqdm's monitor thread, a daemon that
    never ends. This file's thread check is about the window's threads."""
    monkeypatch.setattr("tqdm.tqdm.monitor_interval", 0)


def _keeper(window, qtbot):
    """The window's keeper, once choosing fine-tuning has started its first process."""
    qtbot.waitUntil(lambda: not window.warming_up, timeout=STARTUP_MS)
    keeper = window.training_processes
    assert keeper.waiting is None and keeper.started == 0, "nothing before fine-tuning"
    page = window.train_page
    window.sidebar.setCurrentRow(1)
    page.form.mode.setCurrentIndex(page.form.mode.findData("finetune"))
    qtbot.waitUntil(lambda: keeper.waiting is not None, timeout=STARTUP_MS)
    assert keeper.started == 1
    return keeper


def test_choosing_finetune_starts_one_and_closing_the_window_ends_it(window, qtbot) -> None:
    keeper = _keeper(window, qtbot)
    process = keeper.waiting
    assert process.is_alive()
    window.close()
    assert not process.is_alive() and keeper.waiting is None
    keeper.prepare()
    assert keeper.waiting is None, "a closed window's keeper starts no more processes"


@pytest.mark.slow
def test_a_fine_tune_takes_the_kept_process_and_the_next_one_is_started(
        window, qtbot, messages, tmp_path: Path) -> None:
    open_dataset(window, make_dataset(tmp_path / "colours", per_class=6))
    keeper = _keeper(window, qtbot)
    kept = keeper.waiting
    page = window.train_page
    page.form.advanced.setChecked(True)
    page.form.image_size.setValue(64)
    page.form.epochs.setValue(1)
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.runner.busy, timeout=TRAIN_MS)

    assert not messages, messages
    record, = window.session.runs
    assert record.stopped == "completed" and Path(record.model_path).exists()
    assert not kept.is_alive(), "the run's process ends with it"
    assert keeper.started == 2, "the run took the kept process; only its successor was started"
    assert keeper.waiting is not None and keeper.waiting is not kept
    assert keeper.waiting.is_alive()
    successor = keeper.waiting
    window.close()
    assert not successor.is_alive()
