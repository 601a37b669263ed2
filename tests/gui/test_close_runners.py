"""Closing the window stops every job runner it owns, an ONNX export in flight included."""

from __future__ import annotations

import gc
from pathlib import Path

from gui_steps import train_small_model
from PySide6.QtCore import Qt

from cheetahlion_gui.jobs import Job, JobRunner
from cheetahlion_gui.main_window import MainWindow
from cheetahlion_gui.settings import Settings
from cheetahlion_gui.train.run_export import FILE_TYPES

BLOCK_SECONDS = 30
"""How long a blocking job waits for its cancel; far longer than closing may take."""


class BlockUntilCancelled(Job):
    """Holds its worker thread until cancelled, like a long job between two batches."""

    def work(self) -> bool:
        return self.cancel.wait(BLOCK_SECONDS)


def _live_runners() -> set[JobRunner]:
    """Every JobRunner alive in the process, found without asking the window (gc)."""
    return {obj for obj in gc.get_objects() if type(obj) is JobRunner}


def test_closing_stops_every_runner_the_window_owns(qtbot, messages) -> None:
    before = _live_runners()
    window = MainWindow(Settings.load())
    qtbot.addWidget(window)
    window.show()
    owned = _live_runners() - before
    train, classify = window.train_page, window.classify_page
    names = {window.warmup: "warm-up", window.data_page.runner: "data",
             train.runner: "train", train.history_runner: "run history",
             train.history_panel.exporter.runner: "export", window.evaluate_page.runner: "evaluate",
             classify.runner: "classify", classify.file_actions.files.runner: "files"}
    assert set(names) <= owned, "the gc census must see at least the runners the pages name"
    qtbot.waitUntil(lambda: not window.warming_up and not window.runtime_jobs.busy,
                    timeout=120_000)

    jobs = {runner: BlockUntilCancelled() for runner in owned}
    for runner, job in jobs.items():
        assert runner.start(job)
    threads = {runner: job.thread() for runner, job in jobs.items()}
    assert all(thread.isRunning() for thread in threads.values())

    window.close()

    still_busy = sorted(names.get(r, type(r.parent()).__name__)
                        for r in owned if r.busy or threads[r].isRunning())
    assert not still_busy, f"runners still running after close: {still_busy}"


def test_closing_during_an_onnx_export_waits_for_it_and_leaves_no_partial_file(
    window, qtbot, monkeypatch, tmp_path: Path
) -> None:
    # torch's ONNX exporter makes (disabled) tqdm bars, which start tqdm's monitor thread, a
    # daemon that never ends; this test's thread check is about the window's threads.
    monkeypatch.setattr("tqdm.tqdm.monitor_interval", 0)
    page = train_small_model(window, tmp_path / "colours")

    out = tmp_path / "out"
    out.mkdir()
    target = out / "colours.onnx"
    monkeypatch.setattr("cheetahlion_gui.train.run_export.QFileDialog.getSaveFileName",
                        lambda *_args: (str(target), FILE_TYPES["onnx"]))
    qtbot.mouseClick(page.history_panel.export_button, Qt.MouseButton.LeftButton)
    assert page.history_panel.exporter.runner.busy
    export_thread = page.history_panel.exporter.runner.job.thread()
    # The engine writes to a temporary file beside the target first: the export is under way.
    qtbot.waitUntil(lambda: any(out.glob(".*.tmp*")), timeout=120_000)
    assert export_thread.isRunning() and not target.exists()

    window.close()

    assert not page.history_panel.exporter.runner.busy
    assert export_thread.isFinished() and not export_thread.isRunning()
    assert not list(out.glob(".*.tmp*")), "the temporary export file was left behind"
    if target.exists():  # the export cannot be interrupted: then it finished, checked
        assert (out / "colours.onnx.json").exists() and target.stat().st_size > 100_000
