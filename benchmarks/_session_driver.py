"""One user session through the real window, timed step by step (run by session_speed.py).

Not a benchmark itself: `session_speed.py` starts this file in a child process per code tree,
with PYTHONPATH pointing at that tree, so the window, its pages and the engine are that
tree's own. It builds the window as `cheetahlion_gui.app` does, waits for the start-up
warm-up (a user reads the window before clicking), then clicks through five steps with
QTest on the real widgets: Open dataset folder… (the folder picker answered), the "Likely
mislabelled" tab's Find, the Train step's Start (quick mode), the Evaluate step (showing it
evaluates), and the Classify step's Choose folder… Between clicks it runs the Qt event loop,
as `app.exec()` would, until the page's own "finished" signal has been emitted and its job
runner is idle, then checks that the step really did its work; any failure, message box or
timeout ends the process with status 1 and the reason on stderr. Only attributes that the
older code's window already has are used, so both sides are driven alike.

On success it prints one line of JSON to stdout: seconds per step, their total, the start-up
time (not in the total) and what each step produced.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEventLoop, QPoint, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QWidget

POLL_MS = 20
"""How often the waiting loop checks; it sleeps inside Qt in between, like app.exec()."""
STEPS = ("open", "find_mislabelled", "quick_train", "evaluate", "classify")


class StepFailed(Exception):
    """A step did not do its work; the message says which and why."""


class Dialogs:
    """Stands in for the user at dialogs: answers folder pickers from a queue, and records
    every message box (an error dialog, a busy notice) so the step fails with its text."""

    def __init__(self) -> None:
        self.folders: list[Path] = []
        self.shown: list[str] = []

    def install(self) -> None:
        def choose_folder(_parent: Any, title: str = "", *_args: Any, **_kwargs: Any) -> str:
            if not self.folders:
                self.shown.append(f"unexpected folder picker: {title}")
                return ""
            return str(self.folders.pop(0))

        def record(_parent: Any, title: str, text: str, *_args: Any, **_kwargs: Any) -> Any:
            self.shown.append(f"{title}: {text}")
            return QMessageBox.StandardButton.Ok

        def record_box(box: QMessageBox) -> None:
            details = f"\n{box.detailedText()}" if box.detailedText() else ""
            self.shown.append(f"{box.windowTitle()}: {box.text()}{details}")

        QFileDialog.getExistingDirectory = staticmethod(choose_folder)
        for name in ("information", "warning", "critical", "question"):
            setattr(QMessageBox, name, staticmethod(record))
        QMessageBox.open = record_box

    def check(self, step: str) -> None:
        if self.shown:
            raise StepFailed(f"{step}: a message box appeared: {' | '.join(self.shown)}")


class Seen:
    """Counts emissions of a page's GUI-thread signal (so a closure is safe)."""

    def __init__(self, signal: Any) -> None:
        self.count = 0
        signal.connect(self._emitted)

    def _emitted(self, *_args: object) -> None:
        self.count += 1


def wait_for(condition: Callable[[], bool], timeout: float, what: str,
             dialogs: Dialogs) -> None:
    """Run the event loop until `condition()` holds; fail on a timeout or a message box."""
    loop = QEventLoop()
    deadline = time.monotonic() + timeout
    timer = QTimer()
    timer.setInterval(POLL_MS)

    def poll() -> None:
        if condition() or dialogs.shown or time.monotonic() > deadline:
            loop.quit()

    timer.timeout.connect(poll)
    timer.start()
    if not condition():
        loop.exec()
    timer.stop()
    dialogs.check(what)
    if not condition():
        raise StepFailed(f"{what}: not done after {timeout:g} s")


def click(widget: QWidget, where: QPoint | None = None) -> None:
    """A left click, as a user's; a hidden or disabled widget is a failure, not a no-op."""
    if not widget.isVisible() or not widget.isEnabled():
        raise StepFailed(f"cannot click {type(widget).__name__} "
                         f"'{getattr(widget, 'text', lambda: '')()}': hidden or disabled")
    if where is None:
        QTest.mouseClick(widget, Qt.MouseButton.LeftButton)
    else:
        QTest.mouseClick(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         where)


def go_to_step(window: Any, row: int) -> None:
    """Click the sidebar's row for a step."""
    sidebar = window.sidebar
    click(sidebar.viewport(), sidebar.visualItemRect(sidebar.item(row)).center())
    if sidebar.currentRow() != row or window.stack.currentIndex() != row:
        raise StepFailed(f"clicking step {row + 1} in the sidebar did not show it")


class Session:
    """The five steps on one window; each returns what it produced, and `seconds` keeps
    the time from its first click to its page being done."""

    def __init__(self, window: Any, dialogs: Dialogs, timeout: float) -> None:
        self.window = window
        self.dialogs = dialogs
        self.timeout = timeout
        self.seconds: dict[str, float] = {}

    def _run(self, step: str, act: Callable[[], None], finished: Any, runner: Any,
             shown_at_once: Callable[[], bool] = lambda: False) -> None:
        """`act` (the clicks), then wait until `finished` was emitted and `runner` is idle.
        `shown_at_once`: whether the page already shows the step's result when the click
        starts no job (newer code may have it ready); otherwise starting nothing fails."""
        seen = Seen(finished)
        started = time.perf_counter()
        act()
        if not seen.count and not runner.busy:
            self.dialogs.check(step)
            if not shown_at_once():
                raise StepFailed(f"{step}: the click started nothing")
            seen.count = 1
        wait_for(lambda: seen.count > 0 and not runner.busy, self.timeout, step, self.dialogs)
        self.seconds[step] = time.perf_counter() - started

    def open(self, folder: Path, images: int) -> dict[str, Any]:
        page, session = self.window.data_page, self.window.session
        self.dialogs.folders.append(folder)
        self._run("open", lambda: click(page.open_button), page.scan_finished, page.runner)
        dataset = session.dataset
        if dataset is None or dataset.root != folder.resolve():
            raise StepFailed(f"open: {folder} is not the open dataset")
        if len(dataset.images) != images or not dataset.report.can_train:
            raise StepFailed(f"open: {len(dataset.images)} images listed, {images} expected "
                             f"(can train: {dataset.report.can_train})")
        return {"images": len(dataset.images), "classes": list(dataset.classes)}

    def find_mislabelled(self) -> dict[str, Any]:
        page = self.window.data_page
        view, tabs = page.suspects_view, page.tabs
        index = tabs.indexOf(view)

        def act() -> None:
            click(tabs.tabBar(), tabs.tabBar().tabRect(index).center())
            if tabs.currentWidget() is not view:
                raise StepFailed("find_mislabelled: the tab did not open")
            click(view.find_button)

        self._run("find_mislabelled", act, view.search_finished, page.runner)
        ranked = view.model.rowCount()
        if ranked == 0 or view.status.text() in ("Cancelled.", "The search failed."):
            raise StepFailed(f"find_mislabelled: nothing ranked ({view.status.text()})")
        return {"ranked": ranked}

    def quick_train(self) -> dict[str, Any]:
        window, page = self.window, self.window.train_page
        go_to_step(window, 1)
        if page.mode.currentData() != "quick":
            raise StepFailed(f"quick_train: the form starts in {page.mode.currentData()} mode")
        before = page.history_model.rowCount()
        self._run("quick_train", lambda: click(page.start_button), page.training_finished,
                  page.runner)
        run = window.session.runs[-1] if window.session.runs else None
        model = window.session.model_path
        if page.history_model.rowCount() != before + 1 or run is None or not model \
                or run.model_path != model or not Path(model).is_file():
            raise StepFailed(f"quick_train: no new run with a model in the history "
                             f"({before} -> {page.history_model.rowCount()} rows, "
                             f"model {model})")
        return {"val_accuracy": run.best_val_accuracy, "history_rows": before + 1}

    def evaluate(self) -> dict[str, Any]:
        page, session = self.window.evaluate_page, self.window.session
        self._run("evaluate", lambda: go_to_step(self.window, 2), page.evaluation_finished,
                  page.runner, lambda: page.report is not None
                  and page.report_model == session.model_path)
        report = page.report
        if report is None or not report.images or "Accuracy" not in page.accuracy_label.text():
            raise StepFailed(f"evaluate: no accuracy shown ({page.accuracy_label.text()!r})")
        return {"accuracy": report.accuracy, "images": report.images}

    def classify(self, folder: Path, images: int) -> dict[str, Any]:
        page = self.window.classify_page
        go_to_step(self.window, 3)
        if page.model_source.currentData() != "run":
            raise StepFailed("classify: the model chooser is not on the chosen run's model")
        self.dialogs.folders.append(folder)
        self._run("classify", lambda: click(page.sources_bar.folder_button),
                  page.classification_finished, page.runner)
        items = page.model.items()
        bad = [item for item in items if item.error or not item.label]
        if len(items) != images or bad:
            raise StepFailed(f"classify: {len(items)} rows, {images} expected; "
                             f"{len(bad)} without a label, e.g. {bad[:1]}")
        right = sum(Path(item.path).name.startswith(f"{item.label}-") for item in items)
        return {"rows": len(items), "accuracy_by_file_name": right / len(items),
                "summary": page.summary.text()}


def build_window(dialogs: Dialogs, timeout: float) -> tuple[Any, float]:
    """(window, seconds until shown and warmed up), made the way `cheetahlion_gui.app`
    makes it: caches and logging configured, the application styled, settings loaded."""
    from cheetahlion_gui import app as entry

    started = time.perf_counter()
    for name in ("_configure_caches", "_configure_logging"):  # as app._run does
        configure = getattr(entry, name, None)
        if configure is not None:
            configure()
    from cheetahlion_gui.main_window import MainWindow
    from cheetahlion_gui.resources import icon, style_sheet
    from cheetahlion_gui.settings import Settings

    application = QApplication.instance() or QApplication([sys.argv[0]])
    application.setApplicationName("CheetahLion")
    application.setOrganizationName("CheetahLion")
    application.setWindowIcon(icon("cheetahlion.svg"))
    application.setStyleSheet(style_sheet())
    window = MainWindow(Settings.load())
    window.show()
    if not QTest.qWaitForWindowExposed(window, 10_000):
        raise StepFailed("start: the window was never shown")
    wait_for(lambda: not window.warming_up, timeout, "start (warm-up)", dialogs)
    return window, time.perf_counter() - started


def run_session(args: argparse.Namespace) -> dict[str, Any]:
    """Every step in a user's order; the JSON-ready results."""
    import cheetahlion_gui

    dialogs = Dialogs()
    dialogs.install()
    window, start_seconds = build_window(dialogs, args.timeout)
    session = Session(window, dialogs, args.timeout)
    produced: dict[str, Any] = {}
    steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("open", lambda: session.open(args.dataset, args.images)),
        ("find_mislabelled", session.find_mislabelled),
        ("quick_train", session.quick_train),
        ("evaluate", session.evaluate),
        ("classify", lambda: session.classify(args.gallery, args.gallery_images)),
    ]
    for name, step in steps:
        produced[name] = step()
        print(f"session: {name}: {session.seconds[name]:.2f} s {produced[name]}",
              file=sys.stderr, flush=True)
    window.close()
    return {"code": str(Path(cheetahlion_gui.__file__).resolve().parents[1]),
            "start_seconds": start_seconds, "seconds": session.seconds,
            "total_seconds": sum(session.seconds[name] for name in STEPS),
            "produced": produced}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--images", type=int, required=True,
                        help="how many images the dataset holds (checked)")
    parser.add_argument("--gallery", type=Path, required=True)
    parser.add_argument("--gallery-images", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds any one step may take")
    args = parser.parse_args()
    try:
        results = run_session(args)
    except StepFailed as failure:
        print(f"session: FAILED: {failure}", file=sys.stderr, flush=True)
        os._exit(1)
    except Exception:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    print(json.dumps(results), flush=True)
    # The window is closed and its workers ended; skip tearing Qt and torch down, which
    # only adds time (and, in some Qt versions, a crash at exit) to a finished measurement.
    os._exit(0)


if __name__ == "__main__":
    main()
