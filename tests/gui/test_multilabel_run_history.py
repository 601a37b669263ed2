"""The app's run history shows a multi-label run's mAP in the accuracy column (a dash when
it has none) beside single-label runs, whose rows are as before."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt

from cheetahlion_gui.train.run_history import RunHistoryModel, run_tooltip
from training.records.run_record import RunRecord

SINGLE = RunRecord(
    run_id="r1", created="2026-01-01T10:00:00", dataset_root="/d", dataset_fingerprint="f",
    classes=("a", "b"), config={"mode": "quick", "backbone": "x", "epochs": 1,
                                 "batch_size": 8, "learning_rate": 0.1, "seed": 0,
                                 "augment": False},
    device="cpu", split={}, epochs=({"val_accuracy": 0.5},), step_losses=(), best_epoch=1,
    best_val_loss=0.1, best_val_accuracy=0.5, baseline_accuracy=None, stopped="completed",
    seconds=1.0, model_path=None, versions={}, class_counts={"a": 3, "b": 4})
MULTI = replace(SINGLE, run_id="r2", created="2026-01-01T11:00:00", classes=("blue", "red"),
                class_counts=None, task="multi-label", label_counts={"blue": 5, "red": 6},
                image_count=9, val_map=0.9123, val_macro_f1=0.8, val_exact_match=0.7)


def _cells(model: RunHistoryModel, row: int) -> list[str]:
    return [model.data(model.index(row, column), Qt.ItemDataRole.DisplayRole)
            for column in range(1, model.columnCount())]


def test_a_multi_label_row_shows_its_map_and_images(qtbot) -> None:
    model = RunHistoryModel()
    model.set_records([SINGLE, MULTI, replace(MULTI, run_id="r3", val_map=None)])
    rows = {cells[3]: cells for cells in (_cells(model, row) for row in range(3))}
    assert set(rows) == {"0.500", "mAP 0.912", "—"}
    assert rows["mAP 0.912"][6] == "9" and rows["mAP 0.912"][4] == "—"  # images; no gain
    assert rows["0.500"][6] == "7"
    assert "validation accuracy" in run_tooltip(MULTI)  # the tooltip still reads
