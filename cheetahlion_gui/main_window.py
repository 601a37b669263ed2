"""The main window: four steps in a sidebar, menus, a status bar, drag and drop."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, QSize, QTimer, Slot
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QPaintEvent,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QMenu,
    QMessageBox,
    QStackedWidget,
    QWidget,
)

from cheetahlion_gui.classify.page import ClassifyPage
from cheetahlion_gui.data.page import DataPage
from cheetahlion_gui.dialogs import start_folder
from cheetahlion_gui.evaluate.page import EvaluatePage
from cheetahlion_gui.frozen_runtime import FrozenRuntime
from cheetahlion_gui.gui_gc import GuiThreadGarbageCollector
from cheetahlion_gui.jobs import JobRunner
from cheetahlion_gui.jobs.controller import JobController, Lifecycle
from cheetahlion_gui.jobs.training_process import TrainingProcessKeeper
from cheetahlion_gui.jobs.warm_up import WarmUpJob
from cheetahlion_gui.preferences import PreferencesDialog
from cheetahlion_gui.resources import icon
from cheetahlion_gui.session import Session
from cheetahlion_gui.settings import Settings
from cheetahlion_gui.train.page import TrainPage
from cheetahlion_gui.widgets.thumbnails import ThumbnailCache
from training.core import paths

STEPS = ("Data", "Train", "Evaluate", "Classify")
STEP_ICONS = ("data.svg", "train.svg", "evaluate.svg", "classify.svg")
CLOSE_TIMEOUT_MS = 2000
UNINTERRUPTIBLE_TIMEOUT_MS = 60_000
log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("CheetahLion")
        self.setWindowIcon(icon("cheetahlion.svg"))
        self.setAcceptDrops(True)
        self.garbage_collector = GuiThreadGarbageCollector(self)
        self.session = Session(settings, self)
        self.thumbnails = ThumbnailCache(self)
        self.data_page = DataPage(self.session, self.thumbnails)
        self.training_processes = TrainingProcessKeeper()
        """The training process kept ready for the next fine-tune (started once the user
        chooses fine-tuning on the Train step)."""
        self.train_page = TrainPage(self.session, self.training_processes)
        self.evaluate_page = EvaluatePage(self.session, ThumbnailCache(self, size=120))
        self.classify_page = ClassifyPage(self.session, ThumbnailCache(self))
        self.pages = (self.data_page, self.train_page, self.evaluate_page, self.classify_page)

        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setIconSize(QSize(28, 28))
        self.sidebar.setFixedWidth(150)
        for number, (name, icon_name) in enumerate(zip(STEPS, STEP_ICONS, strict=True), 1):
            self.sidebar.addItem(f"{number}  {name}")
            self.sidebar.item(number - 1).setIcon(icon(icon_name))
        self.stack = QStackedWidget()
        for page in self.pages:
            self.stack.addWidget(page)
        self.sidebar.currentRowChanged.connect(self._step_chosen)
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.sidebar)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self.device_label = QLabel("Device: loading…")
        self.status_label = QLabel("Ready")
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.device_label)
        self.session.status_changed.connect(self.status_label.setText)
        self.session.model_changed.connect(self._update_title)
        self.session.dataset_changed.connect(self._update_title)
        self.session.multilabel_changed.connect(self._update_title)
        self._follow_reviews()
        self._build_menus()
        self.sidebar.setCurrentRow(0)

        self.warm_up_jobs = JobController(self)
        self.warmup = self.warm_up_jobs.runner
        self._warming_up = Lifecycle(succeeded=self._device_known, failed=self._device_unknown)
        self.frozen = FrozenRuntime(self, settings)
        self.frozen.described.connect(self._runtime_described)
        self.frozen.reported.connect(self.status_label.setText)
        self.runtime_jobs = self.frozen.jobs
        self._device = ""
        self._restore_geometry()
        self._after_paint: list[Callable[[], object]] | None = [self._warm_up]
        """What waits for the first painted frame (None once it is on the screen)."""

    # --- start-up: the first frame before any work -----------------------------------------

    def after_first_paint(self, call: Callable[[], object]) -> None:
        """Run `call` once the window's first frame is on the screen (now, if it is).

        `import torch` in a worker holds the GIL for seconds at a time: begun before the
        first paint (by the warm-up, or the scan of `--data`), it left the new window black
        for that long.
        """
        if self._after_paint is None:
            call()
        else:
            self._after_paint.append(call)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self._after_paint is not None:
            QTimer.singleShot(0, self._first_frame_shown)  # after this frame is flushed

    @Slot()
    def _first_frame_shown(self) -> None:
        calls, self._after_paint = self._after_paint, None
        for call in calls or ():
            call()

    # --- menus ------------------------------------------------------------------------------

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_dataset_action = _action(self, "&Open dataset folder…",
                                           QKeySequence.StandardKey.Open,
                                           self.data_page.choose_folder)
        file_menu.addAction(self.open_dataset_action)
        file_menu.addAction(_action(self, "Open &model file…", QKeySequence("Ctrl+Shift+O"),
                                    self.choose_model_file))
        self.recent_datasets_menu = file_menu.addMenu("Recent datasets")
        self.recent_models_menu = file_menu.addMenu("Recent models")
        self.recent_datasets_menu.aboutToShow.connect(self._fill_recent_datasets)
        self.recent_models_menu.aboutToShow.connect(self._fill_recent_models)
        file_menu.addSeparator()
        self.preferences_action = _action(self, "&Preferences…",
                                          QKeySequence.StandardKey.Preferences, self.preferences)
        self.preferences_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        file_menu.addAction(self.preferences_action)
        file_menu.addAction(_action(self, "&Quit", QKeySequence.StandardKey.Quit, self.close))
        go_menu = self.menuBar().addMenu("&Go")
        for number, name in enumerate(STEPS):
            go_menu.addAction(_action(self, name, QKeySequence(f"Ctrl+{number + 1}"),
                                      self._go_to_step, number))
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(_action(self, "&About CheetahLion", None, self._about))

    @Slot()
    def _fill_recent_datasets(self) -> None:
        self._fill_recent(self.recent_datasets_menu, self.session.settings.recent_datasets,
                          self.open_dataset)

    @Slot()
    def _fill_recent_models(self) -> None:
        self._fill_recent(self.recent_models_menu, self.session.settings.recent_models,
                          self.open_model_file)

    def _fill_recent(self, menu: QMenu, items: list[str], opener: Callable[[Path], object]
                     ) -> None:
        menu.clear()
        for item in items:
            menu.addAction(_action(self, item, None, opener, Path(item)))
        if not items:
            menu.addAction("(none yet)").setEnabled(False)

    # --- opening things ---------------------------------------------------------------------

    def open_dataset(self, folder: Path) -> None:
        self.sidebar.setCurrentRow(0)
        self.data_page.open_folder(Path(folder))

    @Slot()
    def choose_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a model file",
                                              start_folder(self.session.settings),
                                              "CheetahLion models (*.safetensors)")
        if path:
            self.open_model_file(Path(path))

    def open_model_file(self, path: Path) -> None:
        """Use a model file for evaluation and classification."""
        self.session.set_model(str(path), path.name)
        self.classify_page.use_model_file(str(path))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        dropped = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if not dropped:
            return
        event.acceptProposedAction()
        self.handle_drop(dropped)

    def handle_drop(self, dropped: list[Path]) -> None:
        """A folder dropped on the Data step opens as a dataset; on Classify, it is classified;
        a model file anywhere becomes the model in use."""
        models = [p for p in dropped if p.suffix == ".safetensors"]
        if models:
            self.open_model_file(models[0])
        elif self.stack.currentWidget() is self.classify_page:
            self.classify_page.open_sources(dropped)
        elif dropped[0].is_dir():
            self.open_dataset(dropped[0])
        else:
            self.sidebar.setCurrentRow(STEPS.index("Classify"))
            self.classify_page.open_sources(dropped)

    # --- navigation and status --------------------------------------------------------------

    @Slot(int)
    def _step_chosen(self, row: int) -> None:
        self.stack.setCurrentIndex(row)
        if self.pages[row] is self.evaluate_page:
            self.evaluate_page.activate()

    @Slot(int)
    def _go_to_step(self, row: int) -> None:
        self.sidebar.setCurrentRow(row)

    @Slot()
    def _update_title(self) -> None:
        parts = ["CheetahLion"]
        open_dataset = self.session.multilabel or self.session.dataset
        if open_dataset is not None:
            parts.append(open_dataset.root.name)
        if self.session.model_title:
            parts.append(self.session.model_title)
        self.setWindowTitle(" — ".join(parts))

    # --- photos added by the Classify step's review ------------------------------------------

    def _follow_reviews(self) -> None:
        """When a review adds photos: scan again, then train if asked (`_photos_added`)."""
        self._rescan_wanted = False
        self._train_after_scan = False
        self.classify_page.photos_added.connect(self._photos_added)
        self.data_page.runner.finished.connect(self._rescan_when_idle)
        self.data_page.scan_finished.connect(self._scanned)

    @Slot(int, bool)
    def _photos_added(self, _count: int, train: bool) -> None:
        """The review copied photos into the dataset: scan it again, so its counts and the
        next run see them, then train on it if the user asked to."""
        self._rescan_wanted = True
        self._train_after_scan = train
        if train:
            self.sidebar.setCurrentRow(STEPS.index("Train"))
        self._rescan_when_idle()

    @Slot()
    def _rescan_when_idle(self) -> None:
        """Rescan once the Data step's jobs (a scan, the finder, a clean-up) have ended."""
        if self._rescan_wanted and not self.data_page.runner.busy:
            self._rescan_wanted = False
            self.data_page.rescan()

    @Slot()
    def _scanned(self) -> None:
        if self._train_after_scan and not self._rescan_wanted:
            self._train_after_scan = False
            self.train_page.start()

    @Slot()
    def _warm_up(self) -> None:
        """After the window is painted, load torch in the background and show the device."""
        self.warm_up_jobs.start(WarmUpJob(), self._warming_up)

    @property
    def warming_up(self) -> bool:
        """Until the first frame is shown and the engine is loaded (what to wait for before
        measuring or testing anything that should not share the machine with it)."""
        return self._after_paint is not None or self.warmup.busy

    @Slot(object)
    def _device_known(self, description: str) -> None:
        self._device = description
        self.frozen.start()  # the saved precision, applied and prepared in the background
        # torch, timm and Qt leave about a million long-lived objects; a full garbage
        # collection walks them all (~150 ms on 2 cores), freezing the window at random.
        # Frozen objects are skipped by the collector; everything made later is still freed.
        gc.freeze()

    @property
    def frozen_runtime(self) -> str | None:
        """What runs the frozen network as the engine says it ("onnxruntime int8"), once
        prepared."""
        return self.frozen.label

    @Slot(str, str)
    def _runtime_described(self, words: str, tooltip: str) -> None:
        self.device_label.setText(f"Device: {self._device} · {words}")
        self.device_label.setToolTip(tooltip)

    @Slot()
    def preferences(self) -> PreferencesDialog:
        dialog = PreferencesDialog(self.frozen, self)
        dialog.open()
        return dialog

    @Slot(str, str)
    def _device_unknown(self, message: str, _details: str) -> None:
        self.device_label.setText("Device: unavailable")
        self.status_label.setText(message)

    @Slot()
    def _about(self) -> None:
        QMessageBox.about(self, "About CheetahLion",
                          "CheetahLion fine-tunes a pretrained image classifier on your own "
                          "photo folders and sorts whole galleries with it.")

    # --- closing ----------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        """End the training process kept for the next run, stop every job (training keeps its
        best model), then save settings and geometry. A run training is stopped first, with
        a notice, and the window closes once it has ended.

        The runners are found, not listed: every JobRunner has a parent, so each one (a
        page's, its exporter's, an open dialog's) is a child of this window.
        """
        # first: a fine-tune ending below must not start the next run's process
        self.training_processes.close()
        if self.train_page.stop_to_close(self.close):  # "Stopping training…" until it ends
            event.ignore()
            return
        self.data_page.shutdown()
        runners = self.findChildren(JobRunner)
        for runner in runners:
            runner.shut_down()
        for runner in runners:
            runner.stop_and_wait(CLOSE_TIMEOUT_MS)
        # Jobs honour cancel within a batch; the start-up warm-up (importing torch) and a model
        # export cannot be interrupted. Destroying a running QThread aborts the process: wait,
        # with the window gone already (a first start's graph export takes ~10 s; a window
        # that stays on screen, frozen, looks like the app hung).
        if any(runner.busy for runner in runners):
            self.hide()
        for runner in runners:
            if runner.busy and not runner.stop_and_wait(UNINTERRUPTIBLE_TIMEOUT_MS):
                log.error("%s still running at exit", type(runner.job).__name__)
        for cache in self.findChildren(ThumbnailCache):
            cache.shutdown(CLOSE_TIMEOUT_MS)
        self.garbage_collector.stop()
        self.session.settings.save()
        geometry_settings().setValue("geometry", self.saveGeometry())
        super().closeEvent(event)

    def _restore_geometry(self) -> None:
        geometry = geometry_settings().value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)


def geometry_settings() -> QSettings:
    """QSettings only for window geometry, stored beside the other settings."""
    path = paths.config_dir() / "window.ini"
    return QSettings(str(path), QSettings.Format.IniFormat)


def _action(parent: QMainWindow, text: str,
            shortcut: QKeySequence | QKeySequence.StandardKey | None,
            slot: Callable[..., object], *arguments: object) -> QAction:
    action = QAction(text, parent)
    if shortcut is not None:
        action.setShortcut(shortcut)
    if arguments:
        # A GUI-thread signal, so a closure is safe (DESIGN §3.4 is about worker signals);
        # it drops the `checked` flag that triggered() passes.
        action.triggered.connect(lambda _checked=False: slot(*arguments))
    else:
        action.triggered.connect(slot)
    return action

