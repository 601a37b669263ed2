"""What the Data step's long-running tabs share: one job at a time, Start and Cancel, a bar.

The mislabelled-photo finder, the multi-label label finder and the dataset map each start
one job on the Data step's runner (it refuses while a scan or a file move runs), show
"Loading the network…" until the first event, let Cancel stop it at the next batch, and lay
out the same way: the start bar, a status paragraph, the body (grid or plot), the
selection's details and the action buttons. Written once here, so the three tabs behave
(and say "Busy" and "Cancelling…") the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from cheetahlion_gui.dialogs import show_error
from cheetahlion_gui.jobs import Job
from cheetahlion_gui.jobs.controller import JobController, Lifecycle

if TYPE_CHECKING:
    from threading import Event

    from training.insight.suspect_progress import FinderProgress

PHASE_NAMES = {"decode": "Reading images", "features": "Looking at each image",
               "check": "Checking each image against the others"}


class _Cancellable(Protocol):
    cancel: Event


class JobTab(QWidget):
    """A Data-step tab whose one job runs with a progress bar and a Cancel button."""

    def __init__(self, jobs: JobController, intro: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        """The Data step's jobs: this tab's runs when no scan or file move does."""
        self.job: _Cancellable | None = None
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = QLabel(intro)
        self.status.setWordWrap(True)

    def job_lifecycle(self, start_button: QPushButton, failure_title: str,
                      **slots: object) -> Lifecycle:
        """The tab's job lifecycle: `slots` (succeeded, failed, progressed, finished) get
        its outcome; the bar and Cancel show while it runs and `start_button` waits."""
        return Lifecycle(failure_title=failure_title, progress=self.progress,
                         idle_only=(start_button,), stop=self.cancel_button, hide_stop=True,
                         **slots)

    def start_job(self, job: Job, lifecycle: Lifecycle, activity: str) -> bool:
        """Start `job` on the step's runner, or say why not; True when it started."""
        if not self.jobs.start(job, lifecycle, activity):
            show_error(self, "Busy", "The dataset is being scanned or changed; try again when "
                       "it is done.")
            return False
        self.job = job
        self.status.setText("Loading the network…")
        return True

    @Slot()
    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel.set()
            self.cancel_button.setEnabled(False)
            self.status.setText("Cancelling…")

    def show_phase(self, event: FinderProgress) -> None:
        """One bar over the whole search (`fraction` never goes back), the phase in words."""
        self.progress.setRange(0, 1000)
        self.progress.setValue(round(1000 * event.fraction))
        self.status.setText(f"{PHASE_NAMES.get(event.phase, event.phase)}: "
                            f"{event.done} / {event.total}")

    def lay_out_tab(self, start: Sequence[QWidget], after_bar: Sequence[QWidget],
                    body: QWidget, details: QWidget, actions: Sequence[QWidget]) -> None:
        """The start bar (`start`, Cancel, the bar, `after_bar`), the status, `body`,
        `details` and the action buttons, left-aligned."""
        top = QHBoxLayout()
        for widget in (*start, self.cancel_button):
            top.addWidget(widget)
        top.addWidget(self.progress, 1)
        top.addStretch(0 if after_bar else 1)  # the buttons keep their size with no bar
        for widget in after_bar:
            top.addWidget(widget)
        bottom = QHBoxLayout()
        for widget in actions:
            bottom.addWidget(widget)
        bottom.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(body, 1)
        layout.addWidget(details)
        layout.addLayout(bottom)
