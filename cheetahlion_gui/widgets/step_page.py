"""What the four steps' pages share: the session they work on and the controller of their jobs."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from cheetahlion_gui.jobs.controller import JobController
from cheetahlion_gui.session import Session


class StepPage(QWidget):
    """A page of the main window. `jobs` runs the page's main job (scan, training,
    evaluation, classification) through its lifecycle; `runner` is its runner, which the
    window, the self-test and the tests wait on."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.jobs = JobController(self, session)
        self.runner = self.jobs.runner
