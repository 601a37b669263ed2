"""The Train step's finish (issue 20): everything fits at 1280×800, the history's selection,
the title and the form agree with the run that trains, the bar and its line tell the truth
before the first step and after Stop, closing mid-run says so and waits only for the run,
and a finished run says why it ended and what it gained."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

from gui_steps import open_dataset
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QStyle, QStyleOptionComboBox
from synthetic import make_dataset

import training
from cheetahlion_gui.jobs.train import TrainJob
from training.records import runs
from training.records.config import TrainConfig
from training.records.events import (
    EpochEnded,
    PhaseProgress,
    RunFinished,
    RunStarted,
    StepEnded,
)
from training.records.run_record import RunRecord

BLOCK_SECONDS = 30


class FakeTraining(TrainJob):
    """Stands in for a run: holds its worker thread until Stop, then "saves" a moment and
    hands back `outcome`."""

    outcome: object = None

    def work(self) -> object:
        self.cancel.wait(BLOCK_SECONDS)
        threading.Event().wait(0.3)
        return self.outcome


def _record(run_id: str, config: TrainConfig, stopped: str = "completed",
            model_path: str | None = None, trained_share: float | None = None,
            epochs: int = 2) -> RunRecord:
    return RunRecord(
        run_id=run_id, created=f"2026-12-07T03:{run_id[-2:]}:00+00:00", dataset_root="/x",
        dataset_fingerprint="f", classes=("red", "blue"), config=config.to_dict(),
        device="CPU (2 threads)", split={"source": "random", "seed": 0, "train": 600,
                                         "val": 150, "test": 0},
        epochs=tuple({"epoch": e, "train_loss": 0.3, "val_loss": 0.2, "train_accuracy": 0.9,
                      "val_accuracy": 0.933} for e in range(1, epochs + 1)),
        step_losses=(0.5,) * (38 * epochs), best_epoch=1, best_val_loss=0.2,
        best_val_accuracy=0.933, baseline_accuracy=0.867, stopped=stopped, seconds=634.0,
        model_path=model_path, versions={}, class_counts={"red": 361, "blue": 361},
        cleanup_moves=28, checkpoint="checkpoint.pt" if stopped == "cancelled" else None,
        trained_share=trained_share)


def _text_fits(combo: QComboBox) -> bool:
    """Whether the combo box's current text fits its text field uncut."""
    option = QStyleOptionComboBox()
    combo.initStyleOption(option)
    field = combo.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                         QStyle.SubControl.SC_ComboBoxEditField, combo)
    return combo.fontMetrics().horizontalAdvance(combo.currentText()) <= field.width()


def test_the_train_step_fits_at_1280_by_800(window, qtbot, tmp_path: Path) -> None:
    """Issue 20: the history's "Ended" column read "early …" and "car", and the Mode box
    "Fine-tune — train the whole network (minut"."""
    open_dataset(window, make_dataset(tmp_path / "colours", per_class=4))
    window.sidebar.setCurrentRow(1)
    page = window.train_page
    page.form.advanced.setChecked(True)
    lite2 = TrainConfig.finetune(backbone="efficientnet_lite2")
    window.session.set_runs([
        _record("r-01", lite2, "early_stopping", trained_share=0.1),
        _record("r-02", lite2, "interrupted", trained_share=0.0),
        _record("r-03", TrainConfig.quick(), "cancelled")])
    qtbot.wait(100)
    for index in range(page.form.mode.count()):
        page.form.mode.setCurrentIndex(index)
        assert _text_fits(page.form.mode), page.form.mode.currentText()
    assert _text_fits(page.form.backbone), page.form.backbone.currentText()
    view = page.history_panel.view
    header = view.horizontalHeader()
    for column in range(page.history_panel.model.columnCount()):
        needed = max(view.sizeHintForColumn(column), header.sectionSizeHint(column))
        assert header.sectionSize(column) >= needed, page.history_panel.model.HEADERS[column]
    assert view.horizontalScrollBar().maximum() == 0, "the history needs a scroll bar"
    early = [r.run_id for r in page.history_panel.model.records].index("r-01")
    tip = page.history_panel.model.index(early, 8).data(Qt.ItemDataRole.ToolTipRole)
    assert "Ended: stopped early after epoch 2 of 5" in tip and "did not improve" in tip


def test_the_title_names_the_selected_run_and_resume_shows_its_settings(
        window, qtbot, monkeypatch, tmp_path: Path) -> None:
    """Issue 20: the title named a run the history did not select (Export and Resume off);
    on Resume the form still showed Quick/60/0.003/32 while a fine-tune trained."""
    open_dataset(window, make_dataset(tmp_path / "colours", per_class=4))
    window.sidebar.setCurrentRow(1)
    page, session = window.train_page, window.session
    models = []
    for name in ("a", "b"):
        models.append(tmp_path / f"{name}.safetensors")
        models[-1].write_bytes(b"model")
    finetune = TrainConfig.finetune(epochs=2, learning_rate=0.0002, batch_size=16)
    stopped = _record("r-01", finetune, "cancelled", model_path=str(models[0]), epochs=1)
    quick = _record("r-02", TrainConfig.quick(), model_path=str(models[1]))
    session.set_dataset(session.dataset, session.split, [stopped, quick])  # a reopen
    assert window.windowTitle().endswith("run r-02")
    assert page.selected_run() is not None and page.selected_run().run_id == "r-02"
    assert page.history_panel.export_button.isEnabled()

    page.history_panel.view.selectRow(page.history_panel.model.records.index(stopped))
    assert window.windowTitle().endswith("run r-01")
    assert page.history_panel.resume_button.isEnabled()
    ended = SimpleNamespace(
        run_id="r-01", model_path=models[0], stopped="cancelled", history=(None,),
        best_epoch=1, best_val_accuracy=0.933, baseline_accuracy=0.867, kept=None,
        kept_note=None, seconds=60.0, warnings=(), record=stopped)
    monkeypatch.setattr(FakeTraining, "outcome", ended)
    monkeypatch.setattr("cheetahlion_gui.train.page.TrainJob", FakeTraining)
    assert page.resume_selected_run()
    form = page.form.config()
    assert (form.mode, form.epochs, form.learning_rate, form.batch_size) == \
        ("finetune", 2, 0.0002, 16)
    assert not page.form.isEnabled(), "the form cannot drift from the run while it trains"
    page.stop()
    qtbot.waitUntil(lambda: not page.runner.busy, timeout=10_000)
    assert page.selected_run().run_id == "r-01" and window.windowTitle().endswith("run r-01")
    assert page.progress_panel.phase_label.text().startswith("You pressed Stop after epoch 1 of 2.")


def test_the_bar_moves_or_says_what_runs_and_stop_is_not_overwritten(window, qtbot) -> None:
    """Issue 20: 35 s at 100 % "Reading images 750/750 · about 0 s left", then "about 0 s
    left"; after Stop, "Stopping after this batch" overwritten by the next step's line."""
    page = window.train_page
    panel = page.progress_panel
    panel.begin(panel.plots.history.__class__())
    panel.show_event(RunStarted("finetune", "efficientnet_lite0", "CPU", ("decode", "train"),
                                2, 38, 76, 600, 150))
    panel.show_event(PhaseProgress("decode", 750, 750, 120.0))
    assert panel.progress.maximum() == 0, "a finished phase with work after it: busy bar"
    assert "0 s left" not in panel.phase_label.text()
    assert "starting training" in panel.phase_label.text()
    panel.show_event(PhaseProgress("baseline", 16, 150, 40.0))
    assert "Measuring ImageNet's own answer 16/150" in panel.phase_label.text()
    panel.show_event(StepEnded(1, 1, 76, 1.2, 2e-4, 15.0))
    assert "0 s left" not in panel.phase_label.text()
    assert "estimating" in panel.phase_label.text()
    panel.show_event(StepEnded(1, 38, 76, 0.9, 2e-4, 15.0))
    panel.show_event(PhaseProgress("evaluate", 48, 150, 30.0))  # validation: seconds
    assert panel.phase_label.text().startswith("Evaluating on the validation images 48/150")
    assert (panel.progress.value(), panel.progress.maximum()) == (38, 76), "the bar keeps steps"
    panel.show_event(EpochEnded(1, 2, 0.9, 0.7, 0.5, 0.867, 60.0, True))
    assert panel.progress.maximum() == 0 and panel.phase_label.text().startswith(
        "Epoch 1/2 done: validation accuracy 0.867")

    panel.show_stopping()
    panel.show_event(StepEnded(2, 44, 76, 0.4, 1e-4, 15.0))
    assert panel.phase_label.text().startswith("Stopping after this batch")
    assert panel.progress.maximum() == 0, "a step after Stop leaves the busy bar"
    panel.show_event(RunFinished(1, 0.2, 0.9, 1, 60.0, "cancelled", "m.safetensors"))
    assert panel.phase_label.text().startswith("Stopping after this batch")
    assert panel.progress.maximum() == 0, "busy, not 100 %, while it stops"
    panel.end()


def test_closing_mid_run_says_so_and_closes_when_the_run_ends(window, qtbot) -> None:
    """Issue 20: closing during training showed nothing, and the window stayed 7.8 s."""
    page = window.train_page
    job = FakeTraining(TrainConfig.finetune(), None)
    assert page.runner.start(job)
    window.close()
    assert job.cancel.is_set()
    assert window.isVisible(), "the window waits for the run, without freezing"
    assert window.status_label.text().startswith("Stopping training")
    assert page.progress_panel.phase_label.text().startswith("Stopping training")
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    assert not page.runner.busy


def test_a_finished_run_joins_the_history_without_reading_it_again(
        window, qtbot, monkeypatch, tmp_path: Path) -> None:
    """The run's result carries the entry it wrote (`FitSummary.record`): the job no longer
    reads the whole history back after every run."""
    open_dataset(window, make_dataset(tmp_path / "colours", per_class=6))
    reads: list[object] = []

    def counted(root: object) -> list[RunRecord]:
        reads.append(root)
        return []
    monkeypatch.setattr(training, "list_runs", counted)
    monkeypatch.setattr(runs, "list_runs", counted)
    window.sidebar.setCurrentRow(1)
    page = window.train_page
    page.form.advanced.setChecked(True)
    page.form.image_size.setValue(64)
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.runner.busy, timeout=60_000)
    (row,) = page.history_panel.model.records
    assert row.run_id == page.selected_run().run_id and row.model_path
    assert reads == []
