"""The frozen network's precision as a user setting (issue 26): File → Preferences… saves
it, applies it through the engine and prepares the runtime again in the background; 8-bit
that cannot be built falls back to float and the status bar says so in plain words; the
status bar, the gallery, the finder and quick training say which runtime and precision ran.

The start-up preparation is the real `FastInferenceJob` in the window's real runner; only
the engine's `prepare_frozen_runtime` is a stand-in (the real one exports and quantizes a
network: 10–35 s). It answers, as the engine does, from the precision the job set.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from gui_steps import open_dataset, train_small_model
from layout_audit import audit
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QDialogButtonBox
from synthetic import make_dataset

import training
from cheetahlion_gui.jobs.runner import Job
from cheetahlion_gui.jobs.train import FeaturesUsed
from cheetahlion_gui.main_window import MainWindow
from cheetahlion_gui.preferences import PreferencesDialog
from cheetahlion_gui.settings import Settings
from cheetahlion_gui.train.progress import TrainingProgress
from training.core.errors import EightBitUnavailableError
from training.core.runtime import frozen_precision
from training.records.config import TrainConfig
from training.records.predictions import Prediction
from training.records.runtime_words import PreparedRuntime, describe_frozen, label_words

LEFT = Qt.MouseButton.LeftButton
WAIT_MS = 60_000
REFUSAL = ("8-bit features were asked for but cannot be used: the quantizer failed. Use "
           "--feature-precision float or auto (CHEETAHLION_PRECISION=float or auto).")


AUTOMATIC_FLOAT = "this processor has no VNNI instructions"


class FakePreparation:
    """`prepare_frozen_runtime` as the engine answers it, from the precision set before it
    ran; with `refuse`, 8-bit raises the engine's EightBitUnavailableError; "auto" answers
    float, as on a processor without VNNI, unless `auto_8bit`."""

    def __init__(self, refuse: bool = False, auto_8bit: bool = False) -> None:
        self.asked: list[str] = []
        self.refuse = refuse
        self.auto_8bit = auto_8bit

    def __call__(self, _backbone: str = "") -> PreparedRuntime:
        precision = frozen_precision()
        self.asked.append(precision)
        if precision == "int8" and self.refuse:
            raise EightBitUnavailableError("the quantizer failed", REFUSAL)
        if precision == "auto":
            return (PreparedRuntime("onnxruntime int8") if self.auto_8bit
                    else PreparedRuntime("onnxruntime float", AUTOMATIC_FLOAT))
        return PreparedRuntime(f"onnxruntime {'int8' if precision == 'int8' else 'float'}")


def _window(qtbot, monkeypatch, preparation: FakePreparation) -> MainWindow:
    monkeypatch.setattr(training, "prepare_frozen_runtime", preparation)
    window = MainWindow(Settings.load())
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.frozen_runtime is not None and not window.runtime_jobs.busy,
                    timeout=WAIT_MS)
    return window


def _choose_in_preferences(window: MainWindow, qtbot, precision: str) -> None:
    """File → Preferences…, tick `precision`, OK."""
    window.preferences_action.trigger()
    dialog = window.findChild(PreferencesDialog)
    assert dialog is not None and dialog.isVisible()
    button = dialog.button(precision)
    qtbot.mouseClick(button, LEFT, pos=QPoint(10, button.height() // 2))  # on its circle
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, LEFT)


def test_float_is_the_default_unless_the_environment_chooses(monkeypatch) -> None:
    monkeypatch.delenv("CHEETAHLION_PRECISION")
    assert Settings().frozen_precision == "float"
    assert Settings.load().frozen_precision == "float", "no settings file yet"
    monkeypatch.setenv("CHEETAHLION_PRECISION", "auto")  # this user's, for every process
    assert Settings().frozen_precision == "auto"
    monkeypatch.setenv("CHEETAHLION_PRECISION", "fp16")  # a bad one: the engine reports it
    assert Settings().frozen_precision == "float"


def _saved(precision: str) -> None:
    settings = Settings()
    settings.frozen_precision = precision
    settings.save()


def test_automatic_says_why_it_chose_float_here(qtbot, monkeypatch) -> None:
    _saved("auto")
    preparation = FakePreparation()
    window = _window(qtbot, monkeypatch, preparation)
    assert preparation.asked == ["auto"]
    assert window.device_label.text().endswith(" · onnxruntime · float")
    assert AUTOMATIC_FLOAT in window.device_label.toolTip()
    window.preferences_action.trigger()
    dialog = window.findChild(PreferencesDialog)
    assert dialog.button("auto").isChecked()
    assert dialog.in_use.text() == ("Running now: onnxruntime · float (Automatic chose float "
                                    f"here: {AUTOMATIC_FLOAT}.)")
    assert audit(dialog) == [], "the longer line wraps, nothing clipped"
    dialog.reject()
    window.close()


def test_automatic_on_8_bit_says_so_without_a_reason(qtbot, monkeypatch) -> None:
    _saved("auto")
    window = _window(qtbot, monkeypatch, FakePreparation(auto_8bit=True))
    assert window.device_label.text().endswith(" · onnxruntime · 8-bit")
    assert "chose float" not in window.device_label.toolTip()
    window.close()


def test_the_setting_is_saved_and_old_or_edited_files_load_as_the_default() -> None:
    """The suite's environment chooses float (conftest), so that is the default here."""
    assert Settings().frozen_precision == "float"
    settings = Settings()
    settings.frozen_precision = "int8"
    settings.save()
    assert Settings.load().frozen_precision == "int8"
    file = Settings.file()
    file.write_text(json.dumps({"version": 1, "unsure_threshold": 0.6}))  # before issue 26
    assert Settings.load().frozen_precision == "float"
    assert Settings.load().unsure_threshold == 0.6
    file.write_text(json.dumps({"version": 1, "frozen_precision": "fp16"}))
    assert Settings.load().frozen_precision == "float"


def test_choosing_8_bit_applies_it_and_prepares_again(qtbot, monkeypatch, messages) -> None:
    preparation = FakePreparation()
    window = _window(qtbot, monkeypatch, preparation)
    assert preparation.asked == ["float"]
    assert window.device_label.text().endswith(" · onnxruntime · float")

    _choose_in_preferences(window, qtbot, "int8")
    qtbot.waitUntil(lambda: window.frozen_runtime == "onnxruntime int8"
                    and not window.runtime_jobs.busy, timeout=WAIT_MS)
    assert preparation.asked == ["float", "int8"]
    assert frozen_precision() == "int8", "the engine's process-wide setting"
    assert json.loads(Settings.file().read_text())["frozen_precision"] == "int8"
    assert window.device_label.text().startswith("Device: ")
    assert window.device_label.text().endswith(" · onnxruntime · 8-bit")
    assert not messages
    window.close()


def test_the_saved_precision_is_applied_at_start_up(qtbot, monkeypatch) -> None:
    settings = Settings()
    settings.frozen_precision = "int8"
    settings.save()
    preparation = FakePreparation()
    window = _window(qtbot, monkeypatch, preparation)
    assert preparation.asked == ["int8"]
    assert window.device_label.text().endswith(" · onnxruntime · 8-bit")
    window.preferences_action.trigger()
    dialog = window.findChild(PreferencesDialog)
    assert dialog.button("int8").isChecked() and dialog.chosen() == "int8"
    assert dialog.in_use.text() == "Running now: onnxruntime · 8-bit"
    assert audit(dialog) == [] and audit(window) == [], "nothing clipped at 1280×800"
    dialog.reject()
    window.close()


def test_8_bit_that_cannot_be_used_falls_back_to_float_and_says_so(qtbot, monkeypatch,
                                                                   messages) -> None:
    preparation = FakePreparation(refuse=True)
    window = _window(qtbot, monkeypatch, preparation)
    _choose_in_preferences(window, qtbot, "int8")
    qtbot.waitUntil(lambda: len(preparation.asked) == 3 and not window.runtime_jobs.busy,
                    timeout=WAIT_MS)
    assert preparation.asked == ["float", "int8", "float"]
    assert frozen_precision() == "float"
    assert window.frozen_runtime == "onnxruntime float"
    assert window.device_label.text().endswith(" · onnxruntime · float (8-bit unavailable)")
    assert window.status_label.text() == ("8-bit could not be used on this computer (the "
                                          "quantizer failed), so the network runs in float.")
    assert "the quantizer failed" in window.device_label.toolTip()
    assert audit(window) == [], "the longer status bar fits at 1280×800"
    assert Settings.load().frozen_precision == "int8", "the user's choice is kept"
    assert not messages
    window.close()


class Holding(Job):
    """A page's job that runs until released."""

    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self.release = release

    def work(self) -> int:
        self.release.wait(WAIT_MS / 1000)
        return 0


def test_a_change_while_a_job_runs_waits_for_it(qtbot, monkeypatch) -> None:
    """Quick training computes features, then its model's calibration: switching between
    the two passes would mix float and 8-bit vectors in one model."""
    preparation = FakePreparation()
    window = _window(qtbot, monkeypatch, preparation)
    release = threading.Event()
    assert window.classify_page.jobs.runner.start(Holding(release))
    _choose_in_preferences(window, qtbot, "int8")
    qtbot.wait(1200)
    assert preparation.asked == ["float"] and frozen_precision() == "float"
    assert window.status_label.text() == "Precision 8-bit is used once the running job has ended."
    assert window.device_label.text().endswith(" · onnxruntime · float"), "what runs now"
    release.set()
    qtbot.waitUntil(lambda: window.frozen_runtime == "onnxruntime int8"
                    and not window.runtime_jobs.busy, timeout=WAIT_MS)
    assert preparation.asked == ["float", "int8"] and frozen_precision() == "int8"
    window.close()


class EightBitPredictor:
    """The engine's `Predictor` as the gallery job sees it, on the 8-bit graph."""

    classes = ("red", "blue")
    calibration = None
    runtime = "onnxruntime"
    frozen = SimpleNamespace(precision="int8")

    @classmethod
    def imagenet(cls) -> EightBitPredictor:
        return cls()

    def predict(self, paths, _batch, _cancel):
        for path in paths:
            yield Prediction(str(path), "red", 0.9, (0.9, 0.1))


def test_the_gallery_says_which_runtime_and_precision_ran(qtbot, monkeypatch, tmp_path: Path,
                                                          messages) -> None:
    window = _window(qtbot, monkeypatch, FakePreparation())
    monkeypatch.setattr(training, "Predictor", EightBitPredictor)
    page = window.classify_page
    sources = page.sources_bar.model_source
    sources.setCurrentIndex(sources.findData("imagenet"))
    page.open_sources([make_dataset(tmp_path / "gallery", per_class=3)])
    qtbot.waitUntil(lambda: not page.jobs.busy and page.progress.value() == 6,
                    timeout=WAIT_MS)
    assert page.runtime == "onnxruntime" and page.precision == "int8"
    assert page.file_actions.summary.text().startswith(
        "6 of 6 classified with onnxruntime · 8-bit: 0 unsure")
    assert not messages
    window.close()


def test_the_finder_and_quick_training_say_what_computed_their_features(
        window, qtbot, tmp_path: Path) -> None:
    """Real runs on small synthetic photos: the line names what the engine reports."""
    qtbot.waitUntil(lambda: window.frozen_runtime is not None and not window.runtime_jobs.busy,
                    timeout=120_000)  # its preparation would be the latest frozen pass
    open_dataset(window, make_dataset(tmp_path / "colours", per_class=5))
    page = window.data_page
    view = page.suspects_view
    page.tabs.setCurrentWidget(view)
    qtbot.mouseClick(view.find_button, LEFT)
    qtbot.waitUntil(lambda: view.job is None and not page.runner.busy, timeout=120_000)
    words = label_words(training.features_used())
    assert words and view.status.text().endswith(f" Ran on {words}.")

    train = train_small_model(window, tmp_path / "train")
    words = label_words(training.features_used())
    assert words and train.progress_panel.phase_label.text().endswith(f" Ran on {words}.")


@pytest.mark.parametrize(("label", "words"), [
    ("onnxruntime int8", "onnxruntime · 8-bit"), ("onnxruntime float", "onnxruntime · float"),
    ("pytorch", "PyTorch · float"), ("stored float", "stored float features"), (None, None)])
def test_the_engine_labels_in_words(label: str | None, words: str | None) -> None:
    assert label_words(label) == words
    assert describe_frozen("onnxruntime", "int8") == "Frozen network: onnxruntime · 8-bit"


def test_a_quick_run_on_8_bit_says_so(qtbot, monkeypatch) -> None:
    panel = TrainingProgress()
    qtbot.addWidget(panel)
    monkeypatch.setattr("cheetahlion_gui.train.progress.result_text", lambda *_: "Done.")
    panel.show_event(FeaturesUsed("onnxruntime int8"))
    panel.show_result(SimpleNamespace(record=None, history=()), TrainConfig.quick())
    assert panel.phase_label.text() == "Done. Ran on onnxruntime · 8-bit."
    panel.begin(panel.plots.history)  # the next run forgets it
    panel.end()
    panel.show_result(SimpleNamespace(record=None, history=()), TrainConfig.quick())
    assert panel.phase_label.text() == "Done."
