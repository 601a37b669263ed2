"""Walk the real window through every state a user reaches, at 1280×800 and 1600×1000, and
fail on any text a user cannot read whole, any widget drawn outside where it can be seen, the
window growing by itself, or a plot whose axes hide or misstate its data (tests/layout_audit).

The walk, by clicks and keys on the real widgets: empty (first start), preferences (File →
Preferences…), scanning (the instant after "Open dataset folder…", before the scan's result
arrives), scanned, finder done
("Likely mislabelled" → Find), map drawn (the Map tab, drawn from the finder's features),
quick-trained (Train → Start), fine-tuning (a live fine-tune: once amid its first epoch, once
after it), stopped (Stop), evaluated (Evaluate step), cell clicked (a confusion matrix cell),
classifying (the instant after choosing a folder on Classify), classified, review ordering
(Review unsure… ordering the photos), review open and review end (a photo added with 1,
then Esc). The app's style sheet is applied as the app does.

The class folders, photo and gallery file names are as long as a user's (a phone's
IMG_2024…jpg, "serengeti_cheetah"), the photos 64 px, the runs as short as they can be (a
fine-tune of 5 epochs on 25 photos, stopped after its first), so one walk costs well under a
minute of CPU. A screenshot of every state is saved in a folder the test prints, and copied
to $CHEETAHLION_LAYOUT_SHOTS when it is set; look at them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from gui_steps import OPEN_TIMEOUT_MS, driver, make_named_dataset
from layout_audit import audit
from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtWidgets import QApplication, QWidget
from synthetic import CLASS_COLOURS

from cheetahlion_gui.main_window import MainWindow
from cheetahlion_gui.preferences import PreferencesDialog
from cheetahlion_gui.resources import style_sheet
from cheetahlion_gui.settings import Settings
from training.records.events import PhaseProgress

LEFT = Qt.MouseButton.LeftButton
RUN_MS = 240_000
CLASSES = {"serengeti_cheetah": CLASS_COLOURS["yellow"], "african_lioness": CLASS_COLOURS["red"],
           "spotted_leopard": CLASS_COLOURS["green"]}
GALLERY = {**CLASSES, "striped_hyena_at_dusk": CLASS_COLOURS["blue"]}
"""A third kind of photo the model never saw: "none of these" in the gallery."""
SIZES = [(1280, 800), (1600, 1000)]
FINE_TUNE_EPOCHS = 5
"""Stop is clicked once epoch 1 is shown; the child trains on while the click travels to it
(as in test_resume_gui), so there are epochs to spare before it would complete."""
CELLS_LISTED = 3
"""Elided cells listed per view and state in the failure message; the rest are counted."""


@pytest.fixture(autouse=True)
def _no_tqdm_monitor(monkeypatch) -> None:
    """The start-up's fast-runtime job exports an ONNX graph; torch's exporter makes
    (disabled) tqdm bars, whose monitor thread never ends (as in test_training_process)."""
    monkeypatch.setattr("tqdm.tqdm.monitor_interval", 0)


@pytest.fixture
def pictures() -> Path:
    """A photo folder whose path is as long on every run (`/tmp/cheetahlion-walk-<pid>/
    Pictures`: digits are all as wide in the UI font), like a user's `/home/anna/Pictures`:
    the Data step shows the dataset's full path, and pytest's numbered temporary folders
    would make what fits depend on the run's number."""
    root = Path(tempfile.gettempdir()) / f"cheetahlion-walk-{os.getpid():07d}"
    (root / "Pictures").mkdir(parents=True)
    yield root / "Pictures"
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def styled(qapp):
    """The app's style sheet, as `cheetahlion_gui.app` applies it (fonts, paddings)."""
    before = qapp.styleSheet()
    qapp.setStyleSheet(style_sheet())
    yield
    qapp.setStyleSheet(before)


def flush_layout() -> None:
    """Lay out and polish what changed, without delivering a worker's queued result: the
    state the instant after a click, as the next paint shows it."""
    for _ in range(4):
        for kind in (QEvent.Type.PolishRequest, QEvent.Type.LayoutRequest):
            QApplication.sendPostedEvents(None, kind)


class Walk:
    """One window walked from state to state; `problems` per state, screenshots in `shots`."""

    def __init__(self, window: MainWindow, qtbot, messages: list, size: QSize,
                 shots: Path) -> None:
        self.window, self.qtbot, self.messages = window, qtbot, messages
        self.size, self.shots = size, shots
        self.problems: dict[str, list[str]] = {}
        self.skipped: list[str] = []
        """States the walk could not stop at (a run went faster than the walk could look)."""
        self._seen_messages = 0

    def state(self, name: str, dialog: QWidget | None = None, settle_ms: int = 150) -> None:
        """Audit the window (and `dialog`) as they are now, and save their screenshots."""
        if settle_ms:
            self.qtbot.wait(settle_ms)
        else:
            flush_layout()
        number = len(self.problems) + 1
        found = []
        size = self.window.size()
        if size != self.size:
            found.append(f"the window grew by itself from {self.size.width()}x"
                         f"{self.size.height()} to {size.width()}x{size.height()}")
        # the screenshot first: painting brings plots' auto-ranges up to date
        self.window.grab().save(str(self.shots / f"{number:02d}-{name}.png"))
        found += audit(self.window)
        if dialog is not None:
            dialog.grab().save(str(self.shots / f"{number:02d}-{name}-dialog.png"))
            found += [f"[{dialog.windowTitle()}] {p}" for p in audit(dialog)]
        found += [f"a message box appeared: {title}: {text}"
                  for title, text in self.messages[self._seen_messages:]]
        self._seen_messages = len(self.messages)
        self.problems[name] = found
        self.window.resize(self.size)  # as a user would; it stays grown if it cannot shrink

    def wait(self, condition, timeout: int = OPEN_TIMEOUT_MS) -> None:
        """Until `condition()`; a message box (an error) ends the walk at once."""
        seen = len(self.messages)
        self.qtbot.waitUntil(lambda: condition() or len(self.messages) > seen,
                             timeout=timeout)
        assert len(self.messages) == seen, f"a message box appeared: {self.messages[seen:]}"


def _data_steps(walk: Walk, dataset: Path, monkeypatch) -> None:
    window, qtbot = walk.window, walk.qtbot
    page = window.data_page
    walk.state("empty", settle_ms=0)
    # As the self-test does: the start-up's preparation (torch, then the ONNX export of the
    # network) ends before the first click. Training while the export ran failed once in
    # torch (KeyError 'custom' in torch.fx.traceback.annotate, two threads at once).
    walk.wait(lambda: window.frozen_runtime is not None and not window.warmup.busy
              and not window.runtime_jobs.runner.busy, RUN_MS)
    window.preferences_action.trigger()  # File → Preferences…
    preferences = window.findChild(PreferencesDialog)
    walk.state("preferences", preferences)
    preferences.reject()
    monkeypatch.setattr("cheetahlion_gui.dialogs.QFileDialog.getExistingDirectory",
                        lambda *_args, **_kwargs: str(dataset))
    qtbot.mouseClick(page.open_button, LEFT)
    assert page.runner.busy
    walk.state("scanning", settle_ms=0)
    walk.wait(lambda: not page.runner.busy and window.session.dataset is not None)
    walk.state("scanned")

    tabs, finder = page.tabs, page.suspects_view
    qtbot.mouseClick(tabs.tabBar(), LEFT,
                     pos=tabs.tabBar().tabRect(tabs.indexOf(finder)).center())
    qtbot.mouseClick(finder.find_button, LEFT)
    walk.wait(lambda: not page.runner.busy and finder.model.rowCount() > 0, RUN_MS)
    walk.state("finder-done")

    view = page.map_view
    qtbot.mouseClick(tabs.tabBar(), LEFT, pos=tabs.tabBar().tabRect(tabs.indexOf(view)).center())
    walk.wait(lambda: view.shown is not None and not page.runner.busy, RUN_MS)
    walk.state("map-drawn")


def _train_steps(walk: Walk) -> None:
    window, qtbot = walk.window, walk.qtbot
    page = window.train_page
    driver(window).go_to("Train")
    qtbot.mouseClick(page.start_button, LEFT)
    walk.wait(lambda: not page.runner.busy and window.session.model_path is not None, RUN_MS)
    walk.state("quick-trained")

    form = page.form
    form.mode.setCurrentIndex(form.mode.findData("finetune"))  # as choosing it in the list
    page.form.epochs.setValue(FINE_TUNE_EPOCHS)
    page.form.batch_size.setValue(2)  # 10 steps in epoch 1: time to look at it mid-epoch
    page.form.advanced.setChecked(True)
    page.form.image_size.setValue(64)
    page.form.patience.setValue(0)
    runs = len(window.session.runs)
    qtbot.mouseClick(page.start_button, LEFT)
    plots = page.progress_panel.plots
    walk.wait(lambda: plots.curve_point_counts()["steps"] >= 2 or plots.history.epochs, RUN_MS)
    if not plots.history.epochs:  # the curves show steps of epoch 1 only, its end to come
        walk.state("fine-tuning-epoch-1", settle_ms=0)
    else:
        walk.skipped.append("fine-tuning-epoch-1: epoch 1 ended before the walk saw its steps")
    walk.wait(lambda: len(plots.history.epochs) >= 1, RUN_MS)
    walk.state("fine-tuning")
    qtbot.mouseClick(page.stop_button, LEFT)
    walk.wait(lambda: not page.runner.busy and len(window.session.runs) == runs + 1, RUN_MS)
    walk.state("stopped")


def _evaluate_steps(walk: Walk) -> None:
    window, qtbot = walk.window, walk.qtbot
    page = window.evaluate_page
    driver(window).go_to("Evaluate")
    walk.wait(lambda: page.report is not None and not page.runner.busy, RUN_MS)
    walk.state("evaluated")
    counts = page.confusion.counts
    wrong = [(r, c) for r in range(len(counts)) for c in range(len(counts)) if r != c
             and counts[r][c]]
    row, column = wrong[0] if wrong else (0, 0)
    view = page.confusion_view
    qtbot.mouseClick(view.viewport(), LEFT,
                     pos=view.visualRect(page.confusion.index(row, column)).center())
    walk.state("cell-clicked")


def _classify_steps(walk: Walk, gallery: Path, monkeypatch) -> None:
    window, qtbot = walk.window, walk.qtbot
    page = window.classify_page
    driver(window).go_to("Classify")
    monkeypatch.setattr("cheetahlion_gui.dialogs.QFileDialog.getExistingDirectory",
                        lambda *_args, **_kwargs: str(gallery))
    qtbot.mouseClick(page.sources_bar.folder_button, LEFT)
    assert page.runner.busy
    walk.state("classifying", settle_ms=0)
    walk.wait(lambda: not page.runner.busy and page.model.rowCount() > 0
              and all(item.label for item in page.model.items()), RUN_MS)
    walk.state("classified")

    page.filters.threshold.setFocus()
    qtbot.keyClick(page.filters.threshold, Qt.Key.Key_End)  # unsure: under 99 %
    walk.wait(page.review_button.isEnabled)
    qtbot.mouseClick(page.review_button, LEFT)
    if page.ordering.busy:  # the ordering's longest text (the job may not have said yet)
        page.ordering._progressed(PhaseProgress("features", 99, 100, 1.0))
        walk.state("review-ordering", settle_ms=0)
    walk.wait(lambda: page.review_dialog is not None)
    dialog = page.review_dialog
    walk.wait(lambda: dialog.picture.pixmap() is not None
              and not dialog.picture.pixmap().isNull())
    walk.state("review-open", dialog)
    qtbot.keyClick(dialog, Qt.Key.Key_1)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    walk.wait(lambda: dialog.queue.idle and dialog.close_button.isEnabled())
    walk.state("review-end", dialog)
    qtbot.mouseClick(dialog.close_button, LEFT)
    walk.wait(lambda: not window.data_page.runner.busy and not window.train_page.runner.busy)


def _report(walk: Walk) -> str:
    lines = [f"layout walk at {walk.size.width()}x{walk.size.height()}: screenshots in "
             f"{walk.shots}"]
    for state, problems in walk.problems.items():
        lines.append(f"{state}: {len(problems)} problem(s)")
        cells: dict[str, int] = {}
        for problem in problems:
            view = problem.split(": cell row")[0] if ": cell row" in problem else None
            cells[view] = cells.get(view, 0) + 1
            if view is None or cells[view] <= CELLS_LISTED:
                lines.append(f"    {problem}")
        lines += [f"    {view}: … and {count - CELLS_LISTED} more cell(s) like these"
                  for view, count in cells.items() if view and count > CELLS_LISTED]
    lines += [f"not looked at: {why}" for why in walk.skipped]
    return "\n".join(lines)


@pytest.mark.slow
@pytest.mark.parametrize("width,height", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_state_shows_its_text_whole_inside_the_window(
        width: int, height: int, qtbot, messages, monkeypatch, styled, pictures: Path,
        tmp_path: Path) -> None:
    dataset = make_named_dataset(pictures / "wildlife_camera_trap_2024", CLASSES, per_class=8)
    shutil.copyfile(next((dataset / "serengeti_cheetah").iterdir()),
                    dataset / "serengeti_cheetah" / "IMG_20240613_17_copy.jpg")
    gallery = make_named_dataset(pictures / "new_photos_from_the_trip", GALLERY, per_class=3,
                                 seed=5, stem="IMG_20240701_09")
    for sidecar in ("trip_notes.txt", "IMG_20240701_091000.AAE"):  # a phone's, skipped
        (gallery / sidecar).write_text("not a photo\n")
    shots = tmp_path / f"layout-walk-{width}x{height}"
    shots.mkdir()
    window = MainWindow(Settings.load())
    qtbot.addWidget(window)
    window.resize(width, height)
    window.show()
    qtbot.waitExposed(window)
    walk = Walk(window, qtbot, messages, QSize(width, height), shots)
    try:
        _data_steps(walk, dataset, monkeypatch)
        _train_steps(walk)
        _evaluate_steps(walk)
        _classify_steps(walk, gallery, monkeypatch)
    finally:
        window.close()
        copy_to = os.environ.get("CHEETAHLION_LAYOUT_SHOTS")
        if copy_to:
            shutil.copytree(shots, Path(copy_to) / shots.name, dirs_exist_ok=True)
        print(_report(walk))
    found = sum(len(p) for p in walk.problems.values())
    assert not found, _report(walk)
