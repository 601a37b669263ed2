"""Drive the real main window through a session as a user does: one driver for the
self-test, the benchmarks, the screenshot tool and the GUI tests.

Why one: each of them clicks the same buttons in the same order and waits on the same
signals and runners; four copies drifted apart (one waited on a signal, one polled, one
slept). `SessionDriver` clicks the real widgets (mouse events sent to them, so it needs no
QtTest, which the bundle leaves out), answers folder pickers for the click that opens them,
and between steps runs the Qt event loop, as `app.exec()` would, until the app's own state
says the step is done: the page's "finished" signal was emitted and its job runner is idle.
An error dialog (a visible QMessageBox) ends the wait with its text; so does the timeout.

It imports nothing of the app at module level and reaches controls through the panels that
own them (`train_page.form.mode`, `classify_page.sources_bar.folder_button`), so
benchmarks/session_speed.py can load this file against an older code tree too.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QDeadlineTimer,
    QEvent,
    QEventLoop,
    QObject,
    QPoint,
    QPointF,
    Qt,
    QTimer,
    Slot,
)
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QWidget

if TYPE_CHECKING:
    from cheetahlion_gui.main_window import MainWindow

POLL_MS = 20
"""How often a wait checks; it sleeps inside Qt in between, so a worker keeps the GIL."""
STEPS = ("Data", "Train", "Evaluate", "Classify")
"""The sidebar's rows, in order."""
DEFAULT_TIMEOUT_S = 600.0
ACTIVATE_MS = 1000


class DriverFailed(Exception):
    """A step did not do its work; the message says which and why."""


def click(widget: QWidget, where: QPoint | None = None) -> None:
    """A left click at `where` (default: the middle), as a user's: its window activated
    (dialogs opened by the click have it as their parent), then a press and a release sent
    to the widget. A hidden or disabled widget is a failure, not a no-op."""
    if not widget.isVisible() or not widget.isEnabled():
        text = widget.text() if hasattr(widget, "text") else ""
        raise DriverFailed(f"cannot click {type(widget).__name__} '{text}': hidden or disabled")
    activate(widget.window())
    local = QPointF(where if where is not None else widget.rect().center())
    screen = QPointF(widget.mapToGlobal(local.toPoint()))
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    for kind, buttons in ((QEvent.Type.MouseButtonPress, left),
                          (QEvent.Type.MouseButtonRelease, none)):
        event = QMouseEvent(kind, local, screen, left, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(widget, event)


def activate(window: QWidget) -> None:
    """Make `window` the active window, as a click into it does; a window manager that will
    not is given a second, then the click goes ahead."""
    if QApplication.activeWindow() is window:
        return
    window.activateWindow()
    deadline = QDeadlineTimer(ACTIVATE_MS)
    while QApplication.activeWindow() is not window and not deadline.hasExpired():
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, POLL_MS)


def press_key(widget: QWidget, key: Qt.Key) -> None:
    """A key press and release as the keyboard sends them (shortcuts included). Uses QtTest:
    for tests and benchmarks only, the bundle has no QtTest (the self-test presses no keys)."""
    from PySide6.QtTest import QTest

    QTest.keyClick(widget, key)


@contextmanager
def answering_folder_pickers(*folders: Path) -> Iterator[list[str]]:
    """While inside, "choose a folder" dialogs answer `folders` in turn (then Cancel); the
    titles they were asked with are listed."""
    queue, asked = [str(folder) for folder in folders], []
    original = QFileDialog.__dict__["getExistingDirectory"]

    def choose(_parent: Any = None, title: str = "", *_args: Any, **_kwargs: Any) -> str:
        asked.append(title)
        return queue.pop(0) if queue else ""

    QFileDialog.getExistingDirectory = staticmethod(choose)
    try:
        yield asked
    finally:
        QFileDialog.getExistingDirectory = original


class _Seen(QObject):
    """Counts emissions of a page's signal (emitted on the GUI thread), and has the wait
    look at once, so a step's time ends when its signal comes, not at the next poll."""

    def __init__(self, signal: Any, driver: SessionDriver) -> None:
        super().__init__()
        self.count = 0
        self._signal, self._driver = signal, driver
        signal.connect(self._emitted)

    @Slot()
    def _emitted(self) -> None:
        self.count += 1
        if self._driver.check_now is not None:
            self._driver.check_now()

    def disconnect_signal(self) -> None:
        self._signal.disconnect(self._emitted)


class SessionDriver(QObject):
    """Drives `window` step by step. `seconds` keeps how long each timed step took, from its
    first click until its page was done; `stage` names what it is doing now."""

    def __init__(self, window: MainWindow, timeout_s: float = DEFAULT_TIMEOUT_S,
                 watch_dialogs: bool = True) -> None:
        super().__init__(window)
        self.window = window
        self.timeout_s = timeout_s
        self.stage = "starting"
        self.failure: str | None = None
        self.seconds: dict[str, float] = {}
        self.check_now: Callable[[], None] | None = None
        """While a wait runs: look at its condition now (a signal it waits on came)."""
        self._loop: QEventLoop | None = None
        self.watching = watch_dialogs
        """Whether a message box fails the step; off while one is expected (a result)."""
        self._watch = QTimer(self)
        self._watch.setInterval(POLL_MS * 5)
        self._watch.timeout.connect(self.look_for_errors)
        self._watch.start()

    @classmethod
    def of(cls, window: MainWindow, timeout_s: float = DEFAULT_TIMEOUT_S) -> SessionDriver:
        """The window's driver, made on first use (so helpers can share one)."""
        driver = window.findChild(cls)
        return driver if driver is not None else cls(window, timeout_s)

    # --- waiting ---------------------------------------------------------------------------

    def wait(self, condition: Callable[[], object], what: str = "",
             timeout_s: float | None = None, poll_ms: int = POLL_MS) -> None:
        """Run the event loop until `condition()` holds, checking every `poll_ms` (a
        latency measured to the millisecond asks for 1); DriverFailed on an error dialog or
        after the timeout."""
        what = what or self.stage
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        loop = self._loop = QEventLoop()
        poll = QTimer()
        poll.setTimerType(Qt.TimerType.PreciseTimer)
        poll.setInterval(poll_ms)

        def check() -> None:
            if condition() or self.failure or time.monotonic() > deadline:
                loop.quit()

        poll.timeout.connect(check)
        poll.start()
        self.check_now = check
        try:
            if not condition() and self.failure is None:
                loop.exec()
        finally:
            poll.stop()
            self._loop = self.check_now = None
        self.look_for_errors()
        if self.failure is not None:
            raise DriverFailed(self.failure)
        if not condition():
            raise DriverFailed(f"{what}: not done after {timeout_s or self.timeout_s:g} s")

    def pause(self, seconds: float) -> None:
        """Let the window run for `seconds` (a paint, thumbnails settling before a
        screenshot, a person looking at a photo): not for waiting on the app, which `wait`
        does on its own state. An error dialog meanwhile fails it."""
        if seconds > 0:
            loop = self._loop = QEventLoop()
            end = QTimer()
            end.setSingleShot(True)
            end.setTimerType(Qt.TimerType.PreciseTimer)
            end.timeout.connect(loop.quit)
            end.start(round(seconds * 1000))
            try:
                loop.exec()
            finally:
                end.stop()
                self._loop = None
        self.look_for_errors()
        if self.failure is not None:
            raise DriverFailed(self.failure)

    def step(self, what: str, act: Callable[[], object], finished: Any,
             runner: Any = None, done_already: Callable[[], bool] | None = None) -> float:
        """`act` (the clicks), then wait until `finished` was emitted and `runner` is idle;
        the seconds it took, kept in `seconds[what]`. When the clicks started nothing
        (`runner` idle, no signal), the step fails unless `done_already()` (the page already
        shows its result)."""
        self.stage = what
        seen = _Seen(finished, self)
        started = time.perf_counter()
        try:
            act()
            if runner is not None and not seen.count and not runner.busy:
                self.look_for_errors()
                if self.failure is not None:
                    raise DriverFailed(self.failure)
                if done_already is None or not done_already():
                    raise DriverFailed(f"{what}: the step did not start")
                seen.count = 1
            self.wait(lambda: seen.count > 0 and (runner is None or not runner.busy), what)
        finally:
            seen.disconnect_signal()
        self.seconds[what] = time.perf_counter() - started
        return self.seconds[what]

    @Slot()
    def look_for_errors(self) -> None:
        """An error dialog (any message box over the window) fails the step: it is closed
        and its text kept in `failure`; its details go to stderr. Not while `watching` is
        off."""
        for box in QApplication.topLevelWidgets() if self.watching else ():
            if isinstance(box, QMessageBox) and box.isVisible():
                if box.detailedText():
                    print(box.detailedText(), file=sys.stderr, flush=True)
                self.failure = self.failure or \
                    f"{self.stage}: {box.windowTitle()}: {box.text()}"
                box.done(QMessageBox.StandardButton.Ok)
        if self.failure is not None and self._loop is not None:
            self._loop.quit()

    def wait_for_start_up(self, background: bool = True) -> None:
        """Until the window's start-up warm-up has ended, as a user reads the window before
        clicking; with `background`, also the fast runtime's preparation and the training
        process kept for the first fine-tune (neither is what a step measures)."""
        window = self.window
        self.wait(lambda: not getattr(window, "warming_up", False), "starting up")
        if background:
            kept = window.training_processes.waiting
            self.wait(lambda: not window.runtime_jobs.busy
                      and (kept is None or kept.is_ready() or not kept.is_alive()),
                      "preparing in the background")

    # --- the steps -------------------------------------------------------------------------

    def go_to(self, step: str) -> None:
        """Click the sidebar's row for a step ("Data", "Train", "Evaluate", "Classify")."""
        row, sidebar = STEPS.index(step), self.window.sidebar
        click(sidebar.viewport(), sidebar.visualItemRect(sidebar.item(row)).center())
        if sidebar.currentRow() != row or self.window.stack.currentIndex() != row:
            raise DriverFailed(f"clicking step {step} in the sidebar did not show it")

    def open_dataset(self, folder: Path, what: str = "open",
                     by_clicking: bool = True) -> float:
        """Data step → "Open dataset folder…", the picker answered `folder` (without
        `by_clicking`: the window told to open it, as a recent dataset is); until it is
        scanned and is the open dataset."""
        page = self.window.data_page

        def act() -> None:
            if not by_clicking:
                self.window.open_dataset(folder)
                return
            if self.window.sidebar.currentRow() != 0:
                self.go_to("Data")
            with answering_folder_pickers(folder):
                click(page.open_button)

        seconds = self.step(what, act, page.scan_finished, page.runner)
        dataset = self.window.session.dataset
        if dataset is None or dataset.root != Path(folder).resolve():
            raise DriverFailed(f"{what}: {folder} is not the open dataset")
        return seconds

    def show_data_tab(self, tab: QWidget) -> None:
        """Click the Data step's tab that shows `tab` (the finder, the map, the moves)."""
        tabs = self.window.data_page.tabs
        bar = tabs.tabBar()
        click(bar, bar.tabRect(tabs.indexOf(tab)).center())
        if tabs.currentWidget() is not tab:
            raise DriverFailed(f"{self.stage}: the tab did not open")

    def find_mislabelled(self, what: str = "find_mislabelled") -> float:
        """The "Likely mislabelled" tab → Find; until the images are ranked."""
        page = self.window.data_page
        view = page.suspects_view

        def act() -> None:
            self.show_data_tab(view)
            click(view.find_button)

        seconds = self.step(what, act, view.search_finished, page.runner)
        if view.model.rowCount() == 0:
            raise DriverFailed(f"{what}: nothing ranked ({view.status.text()})")
        return seconds

    def set_train_settings(self, mode: str | None = None, **values: int | bool) -> None:
        """Fill the Train form as a user would: the mode, then (Advanced open) any of
        epochs, batch_size, image_size, patience, augment."""
        form = self.window.train_page.form
        if mode is not None:
            form.mode.setCurrentIndex(form.mode.findData(mode))
        if values:
            form.advanced.setChecked(True)
        for name, value in values.items():
            control = getattr(form, name)
            if isinstance(value, bool):
                control.setChecked(value)
            else:
                control.setValue(value)

    def start_training(self) -> None:
        """Click Start on the Train step (shown first); training goes on in the background."""
        if self.window.sidebar.currentRow() != 1:
            self.go_to("Train")
        page = self.window.train_page
        click(page.start_button)
        if not page.runner.busy:
            self.look_for_errors()
            raise DriverFailed(self.failure or f"{self.stage}: Start started nothing")

    def train(self, what: str = "train") -> float:
        """Start, then until the run has ended and a new run with its model is listed."""
        page, session = self.window.train_page, self.window.session
        runs = len(session.runs)
        if self.window.sidebar.currentRow() != 1:
            self.go_to("Train")
        seconds = self.step(what, lambda: click(page.start_button), page.training_finished,
                            page.runner)
        if len(session.runs) <= runs or not session.model_path:
            raise DriverFailed(f"{what}: no new run with a model in the history")
        return seconds

    def stop_training(self, what: str = "stopping") -> None:
        """Stop; until the run has ended (stopped and listed)."""
        page = self.window.train_page
        self.step(what, lambda: click(page.stop_button), page.training_finished)
        self.wait(lambda: not page.runner.busy, what)

    def evaluate(self, what: str = "evaluate") -> float:
        """Show the Evaluate step (it evaluates the model in use when shown); until its
        report is shown."""
        page, session = self.window.evaluate_page, self.window.session
        seconds = self.step(what, lambda: self.go_to("Evaluate"), page.evaluation_finished,
                            page.runner, lambda: page.report is not None
                            and page.report_model == session.model_path)
        if page.report is None or not page.report.images:
            raise DriverFailed(f"{what}: no report ({page.accuracy_label.text()!r})")
        return seconds

    def classify(self, folder: Path, what: str = "classify") -> float:
        """Classify step → "Choose folder…", the picker answered `folder`; until every image
        is classified."""
        page = self.window.classify_page
        if self.window.sidebar.currentRow() != 3:
            self.go_to("Classify")

        def act() -> None:
            with answering_folder_pickers(folder):
                click(page.sources_bar.folder_button)

        seconds = self.step(what, act, page.classification_finished, page.runner)
        if page.model.rowCount() == 0:
            raise DriverFailed(f"{what}: no images listed from {folder}")
        return seconds

    def open_review(self) -> Any:
        """Classify step → "Review unsure…"; the review dialog, once its first photo shows
        (it opens when the photos are ordered by what a label would teach)."""
        page = self.window.classify_page
        self.wait(page.review_button.isEnabled, "waiting for unsure photos to review")
        click(page.review_button)
        self.wait(lambda: page.review_dialog is not None or not page.ordering.busy,
                  "ordering the photos for labelling")
        dialog = page.review_dialog
        if dialog is None:
            raise DriverFailed("Review unsure… opened no review")
        self.wait(lambda: dialog.picture.pixmap() is not None
                  and not dialog.picture.pixmap().isNull(), "showing the first photo")
        return dialog
