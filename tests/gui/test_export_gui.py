"""Run history → Export…: the file is written in the background, checked, and reported."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from gui_steps import train_small_model
from PySide6.QtCore import Qt

import training
from cheetahlion_gui.train.run_export import FILE_TYPES, format_for
from training.predict.export import EXPORT_FORMATS


def _choose_in_save_dialog(monkeypatch, path: Path, file_type: str) -> list[str]:
    suggested: list[str] = []

    def dialog(_parent, _title, start, _filters, _selected):
        suggested.append(start)
        return str(path), file_type

    monkeypatch.setattr("cheetahlion_gui.train.run_export.QFileDialog.getSaveFileName", dialog)
    return suggested


def test_export_button_writes_a_checked_model_off_the_gui_thread(
    window, qtbot, messages, monkeypatch, tmp_path: Path
) -> None:
    page = train_small_model(window, tmp_path / "colours")
    threads = []
    real_export = training.export_model

    def spying_export(*args, **kwargs):
        threads.append(threading.current_thread())
        return real_export(*args, **kwargs)

    monkeypatch.setattr(training, "export_model", spying_export)
    suggested = _choose_in_save_dialog(monkeypatch, tmp_path / "out" / "colours",
                                       FILE_TYPES["torchscript"])
    (tmp_path / "out").mkdir()
    qtbot.mouseClick(page.history_panel.export_button, Qt.MouseButton.LeftButton)
    assert not page.history_panel.export_button.isEnabled(), \
        "a second export must wait for the first"
    assert "checking that it predicts like the app" in page.history_panel.export_status.text()
    qtbot.waitUntil(lambda: not page.history_panel.exporter.runner.busy, timeout=60_000)

    run = page.selected_run()
    assert Path(suggested[0]).name == f"colours-{run.run_id}.onnx"
    assert threads and threads[0] is not threading.main_thread()
    written = tmp_path / "out" / "colours.pt"
    sidecar = json.loads((tmp_path / "out" / "colours.pt.json").read_text())
    assert written.stat().st_size > 1_000_000
    assert sidecar["classes"] == ["blue", "red"] and sidecar["model_format"] == "torchscript"
    assert sidecar["parity_check"]["inputs_checked"] == 8 + 4  # dataset photos + synthetic
    title, text = messages[-1]
    assert title == "Model exported" and str(written) in text and "within" in text
    assert page.history_panel.export_status.text() == "Exported colours.pt."
    assert page.history_panel.export_button.isEnabled()


def test_an_export_into_a_missing_folder_explains_and_writes_nothing(
    window, qtbot, messages, monkeypatch, tmp_path: Path
) -> None:
    page = train_small_model(window, tmp_path / "colours")
    _choose_in_save_dialog(monkeypatch, tmp_path / "gone" / "m.onnx", FILE_TYPES["onnx"])
    page.history_panel.export_action.trigger()
    qtbot.waitUntil(lambda: not page.history_panel.exporter.runner.busy, timeout=60_000)
    title, text = messages[-1]
    assert title == "Export failed"
    assert str(tmp_path / "gone") in text and "Choose an existing folder" in text
    assert page.history_panel.export_status.text() == "The export failed; nothing was written."
    assert not (tmp_path / "gone").exists()


def test_file_types_cover_the_engine_formats_and_a_typed_suffix_wins() -> None:
    assert set(FILE_TYPES) == set(EXPORT_FORMATS)
    assert format_for("/x/m.pt2", FILE_TYPES["onnx"]) == "pt2"
    assert format_for("/x/m", FILE_TYPES["torchscript"]) == "torchscript"
    assert format_for("/x/m.bin", "") == "onnx"
