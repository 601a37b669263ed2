"""One place that runs a page's jobs through their lifecycle, so no page writes it out again.

Every long job goes the same way: refused while another one runs; its signals connected to
the page's slots before it starts; the page shows it running (a busy progress bar, Start
disabled, Stop enabled) and follows its progress; when it ends, the busy state is undone and
a failure is reported (status bar, error dialog); last, the page's "finished" signal, after
the page's own handlers have run, so whoever waits on it finds the results in place. A
`Lifecycle` names, once per kind of job, the widgets and slots of the page that take part;
`JobController.start` runs a job through it.

The page's handlers are connected straight to the job's signals: they must be @Slot methods
of GUI-thread objects, never lambdas (DESIGN §3.4: a lambda connected to a worker's signal
runs in the worker thread). Qt calls a signal's slots in the order they were connected, so
the controller's own slots, connected first, have undone the busy state before the page's
handler runs; `done`, which a job emits after its outcome, reaches the controller after
the page's handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, SignalInstance, Slot
from PySide6.QtWidgets import QMessageBox, QProgressBar, QWidget

from cheetahlion_gui.dialogs import show_error
from cheetahlion_gui.jobs.runner import Job, JobRunner
from training.records.events import PhaseProgress, ScanProgress

if TYPE_CHECKING:
    from cheetahlion_gui.session import Session


@dataclass(frozen=True)
class Lifecycle:
    """How a page runs one kind of job: its slots for the job's signals, and what shows it."""

    succeeded: Callable[[Any], object]
    """The page's @Slot(object) for the job's result."""
    failed: Callable[[str, str], object] | None = None
    """The page's own @Slot(str, str) for a failure (message, details), after the dialog."""
    progressed: Callable[[Any], object] | None = None
    """The page's @Slot(object) for the job's events."""
    finished: SignalInstance | None = None
    """The page's signal that the job has ended, either way; emitted after its handlers."""
    failure_title: str | None = None
    """The error dialog's title when the job fails; None: the page shows failures itself."""
    failed_status: str | None = None
    """The status-bar line when the job fails."""
    busy_message: tuple[str, str] | None = None
    """(title, text) telling why a job is refused while another runs; None: refused quietly."""
    progress: QProgressBar | None = None
    """Busy while the job runs; hidden when it ends, unless `keep_progress`."""
    follow_progress: bool = False
    """`progress` follows the events' `done` of `total` (PhaseProgress, ScanProgress)."""
    keep_progress: bool = False
    idle_only: tuple[QWidget, ...] = ()
    """Enabled only while no job runs (Start, Open…)."""
    stop: QWidget | None = None
    """Stop or Cancel: enabled, and shown, only while the job runs."""
    hide_stop: bool = False
    """Hide `stop` when the job ends, not only disable it."""


class JobController(QObject):
    """Runs the jobs of one runner (one at a time) through their page's `Lifecycle`.

    `widget` is the page the dialogs belong to; with a `session`, the status bar says when
    a job starts and fails.
    """

    def __init__(self, widget: QWidget, session: Session | None = None) -> None:
        super().__init__(widget)
        self.widget = widget
        self.session = session
        self.runner = JobRunner(self)
        self._lifecycle: Lifecycle | None = None

    @property
    def busy(self) -> bool:
        return self.runner.busy

    def ready(self, lifecycle: Lifecycle) -> bool:
        """True when no job runs; else False, having told the user why (its busy message)."""
        if not self.runner.busy:
            return True
        if lifecycle.busy_message is not None:
            QMessageBox.information(self.widget, *lifecycle.busy_message)
        return False

    def start(self, job: Job, lifecycle: Lifecycle, status: str = "") -> bool:
        """Run `job` through `lifecycle`; False when another job runs (or the runner is shut
        down). `status`: the status-bar line while it runs."""
        if not self.ready(lifecycle):
            return False
        if lifecycle.follow_progress:
            job.progressed.connect(self._follow_progress)
        if lifecycle.progressed is not None:
            job.progressed.connect(lifecycle.progressed)
        job.succeeded.connect(self._succeeded)
        job.succeeded.connect(lifecycle.succeeded)
        job.failed.connect(self._failed)
        if lifecycle.failed is not None:
            job.failed.connect(lifecycle.failed)
        job.done.connect(self._done)
        self._lifecycle = lifecycle
        self._show_running(lifecycle)
        if status and self.session is not None:
            self.session.report(status)
        return self.runner.start(job)

    @Slot()
    def cancel(self) -> None:
        """Ask the running job to stop (it ends at its next check, then reports as usual)."""
        self.runner.cancel()

    def _show_running(self, lifecycle: Lifecycle) -> None:
        if lifecycle.progress is not None:
            lifecycle.progress.setRange(0, 0)
            lifecycle.progress.setVisible(True)
        for widget in lifecycle.idle_only:
            widget.setEnabled(False)
        if lifecycle.stop is not None:
            lifecycle.stop.setEnabled(True)
            lifecycle.stop.setVisible(True)

    def _show_idle(self, lifecycle: Lifecycle) -> None:
        if lifecycle.progress is not None and not lifecycle.keep_progress:
            lifecycle.progress.setVisible(False)
        for widget in lifecycle.idle_only:
            widget.setEnabled(True)
        if lifecycle.stop is not None:
            lifecycle.stop.setEnabled(False)
            lifecycle.stop.setVisible(not lifecycle.hide_stop)

    @Slot(object)
    def _follow_progress(self, event: ScanProgress | PhaseProgress) -> None:
        bar = self._lifecycle.progress if self._lifecycle is not None else None
        if bar is not None:
            bar.setRange(0, max(event.total, 1))
            bar.setValue(event.done)

    @Slot(object)
    def _succeeded(self, _result: object) -> None:
        if self._lifecycle is not None:
            self._show_idle(self._lifecycle)

    @Slot(str, str)
    def _failed(self, message: str, details: str) -> None:
        lifecycle = self._lifecycle
        if lifecycle is None:
            return
        self._show_idle(lifecycle)
        if lifecycle.failed_status and self.session is not None:
            self.session.report(lifecycle.failed_status)
        if lifecycle.failure_title is not None:
            show_error(self.widget, lifecycle.failure_title, message, details)

    @Slot()
    def _done(self) -> None:
        lifecycle, self._lifecycle = self._lifecycle, None
        if lifecycle is not None and lifecycle.finished is not None:
            lifecycle.finished.emit()
