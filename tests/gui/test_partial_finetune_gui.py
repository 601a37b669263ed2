"""The Train step's "Fine-tune the top" (issue 25): offered only where the engine can train
it, what to expect before Start, and what it gained over quick mode after the run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from gui_steps import open_dataset
from PySide6.QtCore import Qt
from synthetic import make_dataset

from cheetahlion_gui.train import progress as progress_module
from cheetahlion_gui.train.estimate import MEASURED
from training.records.config import TrainConfig
from training.records.run_record import RunRecord

TRAIN_TIMEOUT_MS = 180_000


def _train_page(window, folder: Path, per_class: int = 4):
    open_dataset(window, make_dataset(folder, per_class=per_class))
    window.sidebar.setCurrentRow(1)
    return window.train_page


def test_fine_tune_the_top_is_offered_for_lite_networks_only(window, tmp_path: Path) -> None:
    page = _train_page(window, tmp_path / "colours")
    form = page.form
    index = form.mode.findData("partial")
    assert index == 1, "between Quick and Fine-tune everything"
    item = form.mode.model().item(index)
    assert item.isEnabled()
    assert "last block" in item.toolTip()
    form.mode.setCurrentIndex(index)
    assert form.config().mode == "partial"

    form.backbone.setCurrentIndex(form.backbone.findData("resnet18"))
    assert not item.isEnabled()
    assert "needs an EfficientNet-Lite network" in item.toolTip()
    assert form.mode.currentData() == "quick", "left for quick mode, not kept for ResNet"

    form.set_multilabel(True)
    form.backbone.setCurrentIndex(form.backbone.findData("efficientnet_lite0"))
    assert not item.isEnabled() and "multi-label" in item.toolTip()
    form.set_multilabel(False)
    assert item.isEnabled()


def test_the_estimate_shows_before_start(window, qtbot, tmp_path: Path) -> None:
    page = _train_page(window, tmp_path / "colours")
    estimate = page.estimate
    qtbot.waitUntil(lambda: estimate.text().startswith("Expect"), timeout=60_000)
    assert "for 8 photos on this machine" in estimate.text()
    assert MEASURED["efficientnet_lite0"] > 0
    assert "Quick mode" not in estimate.text()

    page.form.mode.setCurrentIndex(page.form.mode.findData("partial"))
    assert "Quick mode (seconds) may be all that is needed" in estimate.text()
    quick = RunRecord(
        run_id="r-01", created="2026-12-07T03:01:00+00:00", dataset_root="/x",
        dataset_fingerprint="f", classes=("red", "blue"), config=TrainConfig.quick().to_dict(),
        device="CPU", split={"source": "random", "seed": 0, "train": 6, "val": 2, "test": 0},
        epochs=({"epoch": 1, "val_accuracy": 1.0},), step_losses=(), best_epoch=1,
        best_val_loss=0.1, best_val_accuracy=1.0, baseline_accuracy=None,
        stopped="completed", seconds=2.0, model_path=None, versions={})
    window.session.set_runs([quick])
    assert ("Quick mode already reached 1.000 on validation here (the run of 12-07 03:01)"
            in estimate.text())
    assert "the network ran at" in estimate.text()
    # A partial run on this machine: its own speed replaces the probe's, and the quick
    # model it started from counts as quick mode's figure.
    partial = replace(quick, run_id="r-02", created="2026-12-07T03:02:00+00:00",
                      config=TrainConfig.partial().to_dict(), seconds=80.0, image_count=8,
                      start_val_accuracy=0.75, best_val_accuracy=0.8)
    window.session.set_runs([partial])
    text = estimate.text()
    assert "(as fast as the run of 12-07 03:02)" in text, text
    assert "Expect up to about 1 min 20 s" in text, text
    assert "Quick mode reached 0.750 on validation here (the run of 12-07 03:02)" in text
    assert page.estimate.isVisible() and page.estimate.width() <= 380


def test_a_partial_run_shows_what_it_gained_over_quick_mode(window, qtbot, tmp_path: Path,
                                                            monkeypatch) -> None:
    page = _train_page(window, tmp_path / "colours", per_class=6)
    form = page.form
    form.mode.setCurrentIndex(form.mode.findData("partial"))
    form.advanced.setChecked(True)
    form.epochs.setValue(1)
    form.image_size.setValue(64)
    said: list[str] = []
    real_say = progress_module.TrainingProgress._say

    def saying(self, text: str) -> None:
        said.append(text)
        real_say(self, text)

    monkeypatch.setattr(progress_module.TrainingProgress, "_say", saying)
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.runner.busy, timeout=TRAIN_TIMEOUT_MS)

    text = page.progress_panel.phase_label.text()
    assert "Fine-tuning the top:" in text or "Kept quick mode's model" in text, text
    assert "ImageNet's own classifier" not in text
    assert any(line.startswith("Storing activations for the top of the network")
               and "images/s" in line for line in said), said
    assert any(line.startswith("Epoch 1/1 · step") for line in said), said
    record = window.session.runs[-1]
    assert record.config["mode"] == "partial" and record.start_val_accuracy is not None
    assert Path(window.session.model_path or "").exists()
    history = page.history_panel
    assert history.model.index(0, 2).data() == "top"
    assert history.balance.text().split("\n")[0] in text
    tooltip = history.model.index(0, 1).data(Qt.ItemDataRole.ToolTipRole)
    assert "quick mode" in tooltip and "ImageNet's own classifier" not in tooltip
    # A partial run that kept quick mode's model says so, not "ImageNet's".
    kept_quick = replace(record, trained_share=0.0, run_id="r-kept")
    window.session.set_runs([*window.session.runs, kept_quick])
    assert history.model.index(0, 4).data().endswith("(quick mode's)")
    tooltip = history.model.index(0, 1).data(Qt.ItemDataRole.ToolTipRole)
    assert "Kept quick mode's model: the fine-tuned top was no better" in tooltip
    assert "ImageNet" not in tooltip.split("\n")[1]
    # A full fine-tune beside the quick run on the same split before it.
    quick = replace(record, run_id="r-quick", created="2026-12-07T03:01:00+00:00",
                    config=TrainConfig.quick(image_size=64).to_dict(), best_val_accuracy=0.9)
    full = replace(record, run_id="r-full", created="2026-12-07T03:02:00+00:00",
                   config=TrainConfig.finetune(image_size=64).to_dict(),
                   best_val_accuracy=0.95, trained_share=1.0)
    window.session.set_runs([quick, full])
    history.select_run("r-full")
    assert history.balance.text().startswith(
        "Fine-tuning: 0.950 on validation, quick mode 0.900 on the same split (the run of "
        "12-07 03:01) (+5.0 points)."), history.balance.text()
