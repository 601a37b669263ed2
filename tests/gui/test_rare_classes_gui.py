"""The app says what accuracy hides about a rare class: Evaluate's balanced accuracy and a
line naming a class too small to trust; the run history's line under the table for the
selected run (balanced accuracy, each class's recall, the class too small) and tooltip."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import QWidget

from cheetahlion_gui.evaluate.scores import ScoresPanel
from cheetahlion_gui.jobs import JobRunner
from cheetahlion_gui.session import Session
from cheetahlion_gui.settings import Settings
from cheetahlion_gui.train.run_history import RunHistoryPanel, run_tooltip
from training.predict.evaluation import summarize
from training.records.predictions import Prediction
from training.records.run_record import RunRecord

RUN = RunRecord(
    run_id="r1", created="2026-01-01T10:00:00", dataset_root="/d", dataset_fingerprint="f",
    classes=("cheetah", "jaguar", "leopard"),
    config={"mode": "quick", "backbone": "x", "epochs": 1, "batch_size": 8,
            "learning_rate": 0.1, "seed": 0, "augment": False},
    device="cpu", split={}, epochs=({"val_accuracy": 0.9},), step_losses=(), best_epoch=1,
    best_val_loss=0.1, best_val_accuracy=0.9, baseline_accuracy=None, stopped="completed",
    seconds=1.0, model_path=None, versions={},
    class_counts={"cheetah": 120, "jaguar": 12, "leopard": 120},
    val_balanced_accuracy=0.8123, val_recall={"cheetah": 1.0, "jaguar": 0.5, "leopard": 0.9},
    val_support={"cheetah": 30, "jaguar": 4, "leopard": 30}, logit_adjustment=1.0)


def test_evaluate_shows_balanced_accuracy_and_the_class_too_small(qtbot) -> None:
    classes = ("cheetah", "jaguar")
    said = ["cheetah"] * 20 + ["cheetah", "cheetah", "jaguar"]
    truth = [0] * 20 + [1, 1, 1]
    predictions = [Prediction(f"{i}.jpg", label, 0.8, (0.8, 0.2) if label == "cheetah"
                              else (0.2, 0.8)) for i, label in enumerate(said)]
    panel = ScoresPanel()
    qtbot.addWidget(panel)
    panel.show_report(summarize(classes, truth, predictions), "run 1")
    text = panel.accuracy_label.text()
    assert "accuracy <b>91.3%</b>, balanced accuracy <b>66.7%</b>" in text, text
    assert "Too few validation photos to trust the recall of jaguar (3 photos: one photo " \
           "moves it by 33 %)" in text, text


def test_the_run_history_names_the_selected_runs_balance_and_class_too_small(qtbot) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    session = Session(Settings.load(), parent)
    panel = RunHistoryPanel(session, JobRunner(parent), parent)
    old = replace(RUN, run_id="r0", val_balanced_accuracy=None, val_recall=None,
                  val_support=None, logit_adjustment=None)
    balanced = replace(RUN, run_id="r2", val_support={"cheetah": 30, "jaguar": 30,
                                                       "leopard": 30})
    session.set_runs([old, balanced, RUN])
    panel.select_run("r1")
    assert panel.balance.text() == (
        "Balanced accuracy 0.812 — recall: cheetah 1.000, jaguar 0.500, leopard 0.900"
        "\n⚠ Too few validation photos to trust the recall "
        "of jaguar (4 photos: one photo moves it by 25 %). Add photos of it (at least 10 each "
        "in validation).")
    assert not panel.balance.isHidden()
    panel.select_run("r2")
    assert "Balanced accuracy 0.812" in panel.balance.text()
    assert "Too few" not in panel.balance.text()
    panel.select_run("r0")  # a record before version 7: nothing to say
    assert panel.balance.isHidden()
    tip = run_tooltip(RUN)
    assert "balanced accuracy 0.812; recall: cheetah 1.000, jaguar 0.500, leopard 0.900" in tip
    assert "adjusted for rare classes (τ 1)" in tip
    assert "recall of jaguar (4 photos" in tip
