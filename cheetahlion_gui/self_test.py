"""`cheetahlion --self-test`: walk the real window through a whole session, then exit.

Why: a frozen bundle can start and still be broken: a data file left behind, a compiled
library PyInstaller did not see, a child process that cannot start. The self-test does what
a user does, through the window's own pages and worker threads: it opens a small synthetic
dataset with one image in the wrong class folder, finds that image with the likely-mislabelled
finder and moves it to its class (a journalled file move), trains in quick mode, evaluates,
classifies a few new images with the model (an iPhone HEIC photo among them must be read,
random noise must come out as "none of these"), explains one prediction with Grad-CAM,
trains in quick mode on 8-bit features and evaluates and classifies with that model (its
file must record them and the evaluation must say it ran on them: `_eight_bit`), fine-tunes
the top of the network one epoch (it must say what it gained over quick mode), fine-tunes
one epoch (in the child process the app fine-tunes in), and then takes a labels.csv
folder through the same steps and an ONNX export (`self_test_multilabel`). It prints one line, what
it did or why it failed, and exits 0 only when every step worked. An error dialog anywhere
fails it with the dialog's text; a watchdog thread ends the process if a step hangs. It
never touches the user's files: unless CHEETAHLION_HOME is set, settings, runs and logs go
to its own temporary folder.

`--exit-after-paint` is its small sibling for start-up benchmarks (FirstPaint).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QTimer, Slot
from PySide6.QtWidgets import QApplication, QWidget

from cheetahlion_gui.resources import resource_path
from cheetahlion_gui.self_test_multilabel import MultiLabelLeg
from cheetahlion_gui.session_driver import DriverFailed, SessionDriver
from training.core import paths
from training.records.run_record import RunRecord

if TYPE_CHECKING:
    from cheetahlion_gui.classify.page import ClassifyPage
    from cheetahlion_gui.main_window import MainWindow
    from cheetahlion_gui.widgets.gallery_model import GalleryItem

CLASS_COLOURS = {"red": (200, 40, 40), "green": (40, 170, 60), "blue": (40, 60, 200)}
DATASET_PER_CLASS = 12
GALLERY_PER_CLASS = 2
IMAGE_SIZE = 64
FINETUNE_IMAGE_SIZE = 64
"""Pixels the one fine-tune epoch trains at: enough to prove the child process works."""
TOP_GAIN_OPENINGS = ("Fine-tuning the top:", "Kept quick mode's model")
"""How the Train step's line says what fine-tuning the top gained over quick mode."""
MIN_GALLERY_CORRECT = 2 / 3
"""Share of the new coloured images the trained model must get right (chance is 1/3)."""
PLANTED = ("red", "blue")
"""A blue image written into red/: the finder must rank it first, and it is moved to blue/."""
NOISE_NAME = "noise.png"
"""A gallery image of random noise, like nothing the model saw: it must be "none of these"."""
HEIC_NAME = "red-iphone.heic"
"""A red gallery photo in the iPhone's format, from resources/self-test (the bundle can read
HEIC but not write it; tools/make_self_test_heic.py made it): it proves pi-heif's native
libraries came along."""

@contextmanager
def temporary_home() -> Iterator[Path]:
    """A temporary folder for the self-test's images, and CheetahLion's home unless one is
    set, so a user's settings, recent files and run history stay as they were."""
    with tempfile.TemporaryDirectory(prefix="cheetahlion-self-test-",
                                     ignore_cleanup_errors=True) as folder:
        workspace = Path(folder)
        own_home = paths.HOME_ENV not in os.environ
        if own_home:
            os.environ[paths.HOME_ENV] = str(workspace / "home")
        try:
            yield workspace
        finally:
            if own_home:
                os.environ.pop(paths.HOME_ENV, None)


def write_images(workspace: Path) -> tuple[Path, Path, Path]:
    """(dataset, gallery, planted): a one-folder-per-class dataset, with `planted` an image
    of one class in another's folder, and a few new images of each class, named
    `<class>-<i>.png`, plus random noise, for the trained model to classify."""
    import numpy as np
    from PIL import Image

    dataset, gallery = workspace / "colours", workspace / "gallery"
    gallery.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, colour in CLASS_COLOURS.items():
        (dataset / name).mkdir(parents=True)
        for i in range(DATASET_PER_CLASS + GALLERY_PER_CLASS):
            # A colour with noise and a bright square somewhere: every image is distinct.
            pixels = np.clip(np.array(colour, dtype=np.float64)
                             + rng.normal(0, 35, (IMAGE_SIZE, IMAGE_SIZE, 3)), 0, 255)
            top, left = rng.integers(0, IMAGE_SIZE // 2, 2)
            pixels[top:top + IMAGE_SIZE // 3, left:left + IMAGE_SIZE // 3] = \
                rng.integers(150, 255, 3)
            image = Image.fromarray(pixels.astype(np.uint8), "RGB")
            target = dataset / name / f"{i}.png" if i < DATASET_PER_CLASS else \
                gallery / f"{name}-{i}.png"
            image.save(target)
    folder, kind = PLANTED
    planted = dataset / folder / f"planted-{kind}.png"
    Image.open(dataset / kind / "0.png").transpose(Image.Transpose.ROTATE_90).save(planted)
    noise = rng.integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    Image.fromarray(noise, "RGB").save(gallery / NOISE_NAME)
    shutil.copyfile(resource_path(f"self-test/{HEIC_NAME}"), gallery / HEIC_NAME)
    return dataset, gallery, planted


class SelfTest(QObject):
    """Drives `window` step by step; `exit_code` is 0 when every step worked, else 1."""

    def __init__(self, window: MainWindow, workspace: Path, timeout_s: float) -> None:
        super().__init__(window)
        self.window = window
        self.workspace = workspace
        self.timeout_s = timeout_s
        self.exit_code = 1
        self.driver = SessionDriver(window, math.inf)  # the watchdog ends a hang, once
        self._watchdog = threading.Timer(timeout_s, self._timed_out)
        self._watchdog.daemon = True

    def start(self) -> None:
        """Begin once the event loop runs (the window paints first, as for a user)."""
        self._watchdog.start()
        QTimer.singleShot(0, self._run)

    @Slot()
    def _run(self) -> None:
        started = time.perf_counter()
        try:
            summary = self._walk()
            line = f"self-test passed: {summary}; {time.perf_counter() - started:.1f} s in all"
            self.exit_code = 0
        except DriverFailed as failure:
            line = f"self-test failed: {failure}"
        except Exception as error:  # not a dialog: an error raised here, on the GUI thread
            traceback.print_exc()
            line = f"self-test failed: {self.driver.stage}: {type(error).__name__}: {error}"
        print(line, flush=True)
        self.driver.stage = "closing the window"  # the watchdog still guards it
        try:
            self.window.close()  # may raise, e.g. when the settings cannot be saved
        finally:
            self._watchdog.cancel()
            QApplication.exit(self.exit_code)

    def _walk(self) -> str:
        """Every step, in a user's order; a summary of what was done."""
        window, driver = self.window, self.driver
        driver.stage = "writing the synthetic images"
        dataset, gallery, planted = write_images(self.workspace)

        driver.open_dataset(dataset, "scanning the dataset")
        session = window.session
        if session.dataset is None or not session.dataset.report.can_train:
            raise DriverFailed(f"the dataset {dataset} could not be opened for training")
        searched = self._clean_up(planted)

        quick_seconds = driver.train("training in quick mode")
        quick = self._run_record(session.model_path)
        driver.evaluate("evaluating")
        report = window.evaluate_page.report

        classify_page = window.classify_page
        driver.stage = "preparing the fast runtime"
        driver.wait(lambda: not window.runtime_jobs.runner.busy)
        classify_seconds = driver.classify(gallery, "classifying new images")
        coloured, correct = self._gallery_score(classify_page.model.items())
        runtime = classify_page.runtime  # before the multi-label leg classifies again
        if runtime != "onnxruntime":
            raise DriverFailed(f"classifying ran on {runtime}, not onnxruntime "
                               f"(the start-up preparation gave {window.frozen_runtime})")
        explained = self._explain_first(classify_page)
        eight_bit = self._eight_bit(gallery)

        driver.go_to("Train")
        top_seconds, top_line = self._fine_tune_top()
        driver.set_train_settings("finetune", epochs=1, image_size=FINETUNE_IMAGE_SIZE)
        finetune_seconds = driver.train("fine-tuning in a child process")
        finetuned = self._run_record(session.model_path)
        if finetuned.run_id == quick.run_id or not finetuned.epochs:
            raise DriverFailed("fine-tuning finished without training an epoch")
        multilabel = MultiLabelLeg(window, driver, self.workspace).run()

        return (f"found the planted image first of {searched} and moved it to its class, "
                f"trained {len(session.dataset.classes)} classes in {quick_seconds:.1f} s "
                f"(val accuracy {quick.best_val_accuracy:.2f}), evaluated {report.images} "
                f"images (accuracy {report.accuracy:.2f}), classified {coloured} new images "
                f"(one HEIC; {correct} correct) and noise (none of these) in "
                f"{classify_seconds:.1f} s on {runtime}, "
                f"explained a prediction of '{explained}', {eight_bit}, "
                f"fine-tuned the top 1 epoch in "
                f"{top_seconds:.1f} s ({top_line}), fine-tuned 1 epoch in a child "
                f"process in {finetune_seconds:.1f} s; multi-label: {multilabel}; prepared "
                f"{window.frozen_runtime} at start-up (precision "
                f"{window.session.settings.frozen_precision})")

    def _eight_bit(self, gallery: Path) -> str:
        """Quick mode on 8-bit features (the process's precision set to "int8", as the
        CLI's --feature-precision int8 sets it), then, with the setting back as it was,
        evaluation and classification, which follow the model: its file must record 8-bit
        features, and the evaluation must say they ran and were not mixed with float ones.

        It fails loudly when the 8-bit graph cannot be built or is refused: that graph is
        onnxruntime's quantization of the float graph on the CPU, which the classification
        before already required (onnxruntime, not PyTorch), so only a bundle that lost part
        of onnxruntime (its quantization tool) or a quantizer gone wrong ends here; the
        engine's reason is in the failure line."""
        from training.core.precision import PRECISION_ENV, set_frozen_precision
        from training.records.model_header import read_header
        from training.records.runtime_words import FrozenUse

        driver, window = self.driver, self.window
        before = os.environ.get(PRECISION_ENV)
        set_frozen_precision("int8")
        try:
            seconds = driver.train("training in quick mode on 8-bit features")
        finally:
            if before is None:
                os.environ.pop(PRECISION_ENV, None)
            else:
                os.environ[PRECISION_ENV] = before
        recorded = FrozenUse.of_header(read_header(window.session.model_path or ""))
        if recorded.precision != "int8":
            raise DriverFailed(f"training on 8-bit features: the model file records "
                               f"{recorded.precision} features")
        driver.evaluate("evaluating a model trained on 8-bit features")
        ran = window.evaluate_page.report.frozen if window.evaluate_page.report else None
        if ran is None or ran.precision != "int8" or ran.mixed:
            raise DriverFailed("evaluating a model trained on 8-bit features: "
                               + (ran.describe() if ran else "it did not say what ran"))
        driver.classify(gallery, "classifying with a model trained on 8-bit features")
        coloured, correct = self._gallery_score(window.classify_page.model.items())
        return (f"trained on 8-bit features in {seconds:.1f} s, evaluated and classified "
                f"{coloured} new images ({correct} correct) with it ({ran.describe()})")

    def _fine_tune_top(self) -> tuple[float, str]:
        """Fine-tune the top for one epoch, in this process as the app does: a model must be
        saved and the Train step must say what it gained over quick mode. (seconds, that
        line)."""
        driver = self.driver
        driver.set_train_settings("partial", epochs=1, image_size=FINETUNE_IMAGE_SIZE)
        seconds = driver.train("fine-tuning the top of the network")
        record = self._run_record(self.window.session.model_path)
        text = self.window.train_page.progress_panel.phase_label.text()
        line = next((sentence for sentence in text.split(". ")
                     if sentence.startswith(TOP_GAIN_OPENINGS)), None)
        if record.config.get("mode") != "partial" or not record.epochs or line is None:
            raise DriverFailed(f"fine-tuning the top: no epoch trained or no gain over quick "
                               f"mode shown ({text!r})")
        return seconds, line.split(":")[0].lower()

    def _clean_up(self, planted: Path) -> int:
        """Find likely mislabelled images; the planted one must come first. Move it to its
        class as a user would (select it, Move to class), which rescans the dataset."""
        from cheetahlion_gui.data.suspects_model import SuspectRole

        driver, data_page = self.driver, self.window.data_page
        view = data_page.suspects_view
        driver.stage = "reading the move journal"  # the scan's follow-up
        driver.wait(lambda: not data_page.runner.busy)
        driver.find_mislabelled("finding likely mislabelled images")
        first = view.model.index(0).data(SuspectRole)
        if first is None or first.path != planted:
            found = first.relpath if first is not None else "nothing"
            raise DriverFailed(f"the finder ranked {found} first, not the planted "
                               f"{planted.name}")
        searched = view.model.rowCount()
        view.view.setCurrentIndex(view.model.index(0))
        folder, kind = PLANTED
        driver.step("moving the planted image to its class", lambda: view.move_selected(kind),
                    data_page.scan_finished, data_page.runner)
        moved = planted.parent.parent / kind / planted.name
        counts = self.window.session.dataset.class_counts
        if planted.exists() or not moved.exists() or counts[kind] != DATASET_PER_CLASS + 1:
            raise DriverFailed(f"{planted.name} was not moved from {folder}/ to {kind}/")
        return searched

    def _explain_first(self, page: ClassifyPage) -> str:
        """Open the first gallery image's preview and wait for its Grad-CAM explanation;
        the class it explains."""
        from cheetahlion_gui.widgets.preview_dialog import PreviewDialog

        self.driver.stage = "opening a preview"
        page.preview(page.proxy.index(0, 0))
        dialog = page.findChild(PreviewDialog)
        if dialog is None:
            raise DriverFailed("opening a preview: no preview appeared")
        try:
            view = dialog.explanation
            self.driver.step("explaining a prediction", lambda: None, view.explained)
            if view.shown is None or not view.shown.explanation.heatmap.any():
                raise DriverFailed(f"explaining a prediction: {view.caption.text()}")
            return view.shown.explanation.class_name
        finally:
            dialog.reject()

    def _run_record(self, model_path: str | None) -> RunRecord:
        """The run that saved the model now in use."""
        runs = [r for r in self.window.session.runs if model_path and r.model_path == model_path]
        if not runs:
            raise DriverFailed(f"{self.driver.stage}: no model was saved")
        return runs[-1]

    @staticmethod
    def _gallery_score(items: list[GalleryItem]) -> tuple[int, int]:
        """(coloured images, correct ones) for the gallery; fails when the model is no better
        than a guess, an image could not be classified, or noise was not "none of these"."""
        broken = [item for item in items if item.error or not item.label]
        if not items or broken:
            reason = broken[0].error if broken else "no images were listed"
            raise DriverFailed(f"classifying: {reason}")
        if not any(Path(item.path).name == HEIC_NAME for item in items):
            raise DriverFailed(f"classifying: the HEIC photo {HEIC_NAME} was not listed")
        noise = [item for item in items if Path(item.path).name == NOISE_NAME]
        if not noise or not noise[0].unfamiliar:
            raise DriverFailed(f"classifying: random noise ({NOISE_NAME}) was not called "
                               "'none of these'")
        coloured = [item for item in items if item not in noise]
        correct = sum(Path(item.path).name.startswith(f"{item.label}-") for item in coloured)
        if correct < MIN_GALLERY_CORRECT * len(coloured):
            raise DriverFailed(f"classifying: only {correct} of {len(coloured)} new images "
                               "were labelled correctly")
        return len(coloured), correct

    def _timed_out(self) -> None:
        """The watchdog thread: a step hangs (or the window froze); end the process."""
        print(f"self-test failed: timed out after {self.timeout_s:g} s while "
              f"{self.driver.stage}", flush=True)
        os._exit(1)


class FirstPaint(QObject):
    """`--exit-after-paint`: print when the window was first painted, then close it.

    Prints `painted at <seconds since the epoch>`, so a benchmark that noted when it
    started the process gets the time to the first painted window, whatever the process
    does while quitting.
    """

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.window = window
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window and event.type() == QEvent.Type.Paint:
            self.window.removeEventFilter(self)
            QTimer.singleShot(0, self._painted)  # after this paint has reached the screen
        return False

    @Slot()
    def _painted(self) -> None:
        print(f"painted at {time.time():.3f}", flush=True)
        self.window.close()
