"""Issue 21 item 4 in the app: a history row whose model file a later run replaced (or that
is gone) says so when selected, and is never opened as that run's model."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QWidget

from cheetahlion_gui.jobs import JobRunner
from cheetahlion_gui.session import Session
from cheetahlion_gui.settings import Settings
from cheetahlion_gui.train.run_history import RunHistoryPanel
from training.records.run_record import RunRecord


def _record(run_id: str, created: str, model: Path, note: str | None) -> RunRecord:
    return RunRecord(
        run_id=run_id, created=created, dataset_root="/d", dataset_fingerprint="f",
        classes=("a", "b"), config={"mode": "quick", "backbone": "x", "epochs": 1,
                                     "batch_size": 8, "learning_rate": 0.1, "seed": 0,
                                     "augment": False},
        device="cpu", split={}, epochs=({"val_accuracy": 0.5},), step_losses=(), best_epoch=1,
        best_val_loss=0.1, best_val_accuracy=0.5, baseline_accuracy=None, stopped="completed",
        seconds=1.0, model_path=str(model), versions={}, model_note=note)


def test_selecting_a_run_whose_model_was_replaced_says_so_and_opens_nothing(
        qtbot, tmp_path: Path) -> None:
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"the later run's model")
    note = ("The model file of run r1 was replaced by a later run (r2): "
            f"{model} holds that run's model now. Train again to get this run's model back.")
    earlier = _record("r1", "2026-01-01T10:00:00", model, note)
    later = _record("r2", "2026-01-01T11:00:00", model, None)
    parent = QWidget()
    qtbot.addWidget(parent)
    session = Session(Settings.load(), parent)
    panel = RunHistoryPanel(session, JobRunner(parent), parent)
    session.set_runs([earlier, later])
    said: list[str] = []
    session.status_changed.connect(said.append)

    panel.select_run("r2")
    assert session.model_path == str(model) and session.model_title == "run r2"
    panel.select_run("r1")  # was: opened r2's model as run r1's, with no word
    assert said[-1] == note
    assert session.model_title == "run r2"
