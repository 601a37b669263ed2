"""Step 1, Data: open a dataset folder, see its classes, samples, split and health report.

The overview (`dataset_overview`) sits beside four tabs: the health report
(`health_report`), and three that clean the data: "Likely mislabelled" (the finder's ranked
grid, `suspects_view`), "Map" (every photo as a point, cleaned up by region, `map_view`) and
"Moves (undo)" (the clean-up journal, `cleanup_actions`). The scan, the finder, the map and
every file move share the page's one job runner, so files never move while they are being
scanned or looked at; clean-up actions wait their turn, and after
a move the folder is scanned again, so counts and the next training use the cleaned data.

A multi-label dataset (a labels.csv folder, or class folders scanned as multi-label with
the switch, `multilabel_switch`) shows its labels in the overview, and in place of the
single-label finder the "Likely wrong labels" tab (`label_suspects_view`), whose edits also
end with a scan; the map and the moves know only class folders, so their tabs are off.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.data.cleanup_actions import CleanupController, MovesPanel
from cheetahlion_gui.data.health_report import HealthReportPanel
from cheetahlion_gui.data.label_suspects_view import LabelSuspectsView
from cheetahlion_gui.data.map_view import MapView
from cheetahlion_gui.data.multilabel_switch import MultiLabelSwitch
from cheetahlion_gui.data.overview import DatasetOverview
from cheetahlion_gui.data.suspects_view import SuspectsView
from cheetahlion_gui.dialogs import choose_folder
from cheetahlion_gui.jobs import Job
from cheetahlion_gui.jobs.cleanup import CleanupOutcome
from cheetahlion_gui.jobs.controller import Lifecycle
from cheetahlion_gui.jobs.dataset import MultiLabelScanOutcome, ScanJob, ScanOutcome
from cheetahlion_gui.session import Session
from cheetahlion_gui.widgets.path_label import PathLabel
from cheetahlion_gui.widgets.step_page import StepPage
from cheetahlion_gui.widgets.thumbnails import ThumbnailCache

LAYOUT_HELP = """
<h2>Open a folder of photos to start</h2>
<p>Put the photos of each kind in its own sub-folder. The folder names become the class names:</p>
<pre style="font-size: 13px; background: #f4f6f8; padding: 10px;">
  my-photos/
  ├── cheetah/     0.jpg  1.jpg  2.jpg  …
  ├── lion/        0.jpg  1.jpg  …
  └── leopard/     …               (any number of classes)
</pre>
<p>Already split your photos? <code>train/</code>, <code>val/</code> and an optional
<code>test/</code> folder, each with the same class folders, are used as they are.</p>
<p>You can also drop a folder onto this window.</p>
"""


class DataPage(StepPage):
    """Choose a folder; the scan runs in a worker with a progress bar."""

    scan_finished = Signal()
    """Emitted after a scan completes or fails (its results are in the session)."""

    def __init__(self, session: Session, thumbnails: ThumbnailCache,
                 parent: QWidget | None = None) -> None:
        super().__init__(session, parent)  # its jobs: the scan, the finder, every file move
        self.jobs.runner.finished.connect(self._runner_idle)
        self._queued: list[tuple[Job, Lifecycle]] = []
        self._closing = False
        self._rescan_when_idle = False
        self._switching: tuple[Path, bool] | None = None
        """The folder being scanned again because the switch was flipped, and to what."""
        self.cleanup = CleanupController(session, self.queue_job, self)
        self.cleanup.acted.connect(self._cleaned_up)

        self.open_button = QPushButton("Open dataset folder…")
        self.open_button.setObjectName("primary")
        self.open_button.clicked.connect(self.choose_folder)
        self.rescan_button = QPushButton("Scan again")
        self.rescan_button.clicked.connect(self.rescan)
        self.rescan_button.setEnabled(False)
        self.folder_label = PathLabel("No dataset open")
        self.folder_label.setObjectName("heading")
        self.multilabel_switch = MultiLabelSwitch()
        self.multilabel_switch.switched.connect(self._switch_multilabel)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.progress.setFormat("Scanning %v / %m images")
        self.empty_state = _empty_state(self.choose_folder)
        self.scanning_state = QLabel()
        self.scanning_state.setObjectName("emptyState")
        self.scanning_state.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scanning_state.setWordWrap(True)
        self.overview = DatasetOverview(thumbnails)
        self.health = HealthReportPanel(session, thumbnails, self.cleanup)
        self.suspects_view = SuspectsView(session, thumbnails, self.cleanup, self.jobs)
        self.suspects_view.search_finished.connect(self._search_finished)
        self.label_suspects_view = LabelSuspectsView(session, thumbnails, self.jobs,
                                                     self.queue_job)
        self.label_suspects_view.labels_changed.connect(self._labels_changed)
        self.map_view = MapView(session, thumbnails, self.cleanup, self.jobs)
        self.moves_panel = MovesPanel(self.cleanup)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.health, "Health report")
        self.tabs.addTab(self.suspects_view, "Likely mislabelled")
        self.tabs.addTab(self.label_suspects_view, "Likely wrong labels")
        self.tabs.setTabVisible(self.tabs.indexOf(self.label_suspects_view), False)
        self.tabs.addTab(self.map_view, "Map")
        self.tabs.addTab(self.moves_panel, "Moves (undo)")
        self.stack = QStackedWidget()
        self._lay_out()
        self._scanning = Lifecycle(
            succeeded=self._scan_succeeded, failed=self._scan_failed,
            finished=self.scan_finished, failure_title="The folder cannot be used",
            failed_status="Scan failed",
            busy_message=("Busy", "The dataset is being scanned, checked or cleaned up; wait "
                          "for it to finish."),
            progress=self.progress, follow_progress=True,
            idle_only=(self.open_button, self.rescan_button, self.multilabel_switch))

    def _lay_out(self) -> None:
        """The folder and its buttons above; the overview beside the tabs, or the help."""
        header = QHBoxLayout()
        header.addWidget(self.folder_label, 1)
        header.addWidget(self.rescan_button)
        header.addWidget(self.open_button)
        content = QSplitter()
        content.addWidget(self.overview)
        content.addWidget(self.tabs)
        content.setSizes([520, 560])
        self.stack.addWidget(self.empty_state)
        self.stack.addWidget(content)
        self.stack.addWidget(self.scanning_state)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.multilabel_switch)
        layout.addWidget(self.progress)
        layout.addWidget(self.stack, 1)

    # --- actions ----------------------------------------------------------------------------

    @Slot()
    def choose_folder(self) -> None:
        folder = choose_folder(self, "Open dataset folder", self.session.settings)
        if folder is not None:
            self.open_folder(folder)

    @property
    def open_root(self) -> Path | None:
        """The folder shown: the multi-label dataset's, else the single-label one's."""
        multilabel = self.session.multilabel
        return multilabel.root if multilabel is not None else self.session.dataset_root

    @Slot()
    def rescan(self) -> None:
        if self.open_root is not None:
            self.open_folder(self.open_root)

    def open_folder(self, folder: Path) -> bool:
        """Scan `folder` in the background; False (with a message) if a scan is running."""
        if not self.jobs.ready(self._scanning):
            return False
        self.folder_label.setText(f"Scanning {folder} …")
        if self.session.dataset is None:  # not "Open a folder to start" while it opens
            self.scanning_state.setText(
                f"<h2>Opening {escape(folder.name)}…</h2><p>Each photo is read and checked "
                "once. The classes, sample photos and the health report appear here when "
                "that is done.</p>")
            self.stack.setCurrentWidget(self.scanning_state)
        job = ScanJob(folder, self.session.settings.multilabel_folders)
        return self.jobs.start(job, self._scanning, f"Scanning {folder.name}…")

    def queue_job(self, job: Job, lifecycle: Lifecycle) -> None:
        """Start `job` now, or as soon as the jobs running or queued before it have ended."""
        if not self.jobs.start(job, lifecycle):
            self._queued.append((job, lifecycle))

    def shutdown(self) -> None:
        """The window is closing: drop queued clean-up jobs and rescans, start nothing new."""
        self._closing = True
        self._queued.clear()
        self._rescan_when_idle = False

    @Slot()
    def _runner_idle(self) -> None:
        if self._closing:
            return
        if self._queued:
            self.jobs.start(*self._queued.pop(0))
        elif self._rescan_when_idle:
            self._rescan_when_idle = False
            self.rescan()

    @Slot(object)
    def _cleaned_up(self, outcome: CleanupOutcome) -> None:
        """Files moved: scan again, so counts, the report and the next training see it."""
        if outcome.action.moves_files:
            self._rescan_when_idle = True

    @Slot(bool)
    def _switch_multilabel(self, multilabel: bool) -> None:
        """The switch was flipped: scan the open folder again as multi-label, or not, now or
        as soon as the job running ends; the choice is remembered for the folder."""
        root = self.open_root
        if root is None:
            return
        self._remember_multilabel(root, multilabel)
        self._switching = (root, multilabel)
        if self.runner.busy:
            self._rescan_when_idle = True
            self.session.report("The folder is scanned again when the job running ends")
        elif not self.open_folder(root):
            self._switch_back()

    def _remember_multilabel(self, root: Path, multilabel: bool) -> None:
        self.session.settings.remember_multilabel(root, multilabel)
        self.session.settings.save()

    def _switch_back(self) -> None:
        """The switched scan did not happen or failed: the folder stays as it was."""
        if self._switching is not None:
            root, multilabel = self._switching
            self._switching = None
            self._remember_multilabel(root, not multilabel)
            self.multilabel_switch.check.setChecked(not multilabel)

    @Slot()
    def _labels_changed(self) -> None:
        """A label edit or its undo: scan again, so the overview counts the labels now."""
        self._rescan_when_idle = True

    @Slot()
    def _search_finished(self) -> None:
        """The finder's flags go on the map too."""
        self.map_view.show_report(self.suspects_view.report)

    @Slot(object)
    def _scan_succeeded(self, outcome: ScanOutcome | MultiLabelScanOutcome) -> None:
        self._switching = None
        if isinstance(outcome, MultiLabelScanOutcome):
            self._show_multilabel(outcome)
            return
        self._set_tabs_enabled(True)
        self.multilabel_switch.show_state(False, outcome.cross_folder_copies, outcome.photos)
        self.session.set_dataset(outcome.dataset, outcome.split, outcome.runs)
        self.cleanup.load_journal()
        self.show_dataset()
        self.session.report(f"Scanned {outcome.dataset.root.name}: "
                            f"{len(outcome.dataset.images)} images")

    @Slot(str, str)
    def _scan_failed(self, _message: str, _details: str) -> None:
        self._switch_back()
        shown = self.open_root
        self.folder_label.setText("No dataset open" if shown is None else str(shown))
        if shown is None:
            self.stack.setCurrentWidget(self.empty_state)

    def _show_multilabel(self, outcome: MultiLabelScanOutcome) -> None:
        """A multi-label dataset: its labels and counts, its health report and the label
        finder; the single-label finder, the map and the moves know only class folders, so
        their tabs are off."""
        dataset = outcome.dataset
        self.session.set_multilabel(dataset, outcome.split, outcome.runs)
        self.stack.setCurrentIndex(1)
        self.folder_label.setText(str(dataset.root))
        self.multilabel_switch.show_state(True if dataset.source == "folders" else None)
        self.overview.show_multilabel(dataset, outcome.split)
        self.health.show_report(dataset.report)
        self._set_tabs_enabled(False)
        self.session.report(f"Scanned {dataset.root.name}: {len(dataset.images)} images, "
                            f"{len(dataset.labels)} labels")

    def _set_tabs_enabled(self, enabled: bool) -> None:
        """The single-label tabs on (`enabled`), or the multi-label ones: the label finder
        in the single-label finder's place; the map and the moves off. The tab shown stays
        (a scan after a label edit keeps the finder in view) unless it went off."""
        for widget in (self.suspects_view, self.map_view, self.moves_panel):
            index = self.tabs.indexOf(widget)
            self.tabs.setTabEnabled(index, enabled)
            self.tabs.setTabToolTip(index, "" if enabled else
                                    "Not for multi-label datasets yet")
        self.tabs.setTabVisible(self.tabs.indexOf(self.suspects_view), enabled)
        self.tabs.setTabVisible(self.tabs.indexOf(self.label_suspects_view), not enabled)
        current = self.tabs.currentIndex()
        if not (self.tabs.isTabEnabled(current) and self.tabs.isTabVisible(current)):
            self.tabs.setCurrentWidget(self.health)

    def show_dataset(self) -> None:
        dataset = self.session.dataset
        self.stack.setCurrentIndex(1)
        self.folder_label.setText(str(dataset.root))
        self.overview.show_dataset(dataset, self.session.split)
        self.health.show_report(dataset.report)


def _empty_state(open_folder: object) -> QWidget:
    """First start: the expected folder layout in one picture, and the button to start."""
    text = QLabel(LAYOUT_HELP)
    text.setObjectName("emptyState")
    text.setWordWrap(True)
    text.setMaximumWidth(640)
    button = QPushButton("Open dataset folder…")
    button.setObjectName("primary")
    button.clicked.connect(open_folder)
    column = QVBoxLayout()
    column.addStretch(1)
    column.addWidget(text)
    column.addWidget(button, 0, Qt.AlignmentFlag.AlignLeft)
    column.addStretch(2)
    row = QHBoxLayout()
    row.addStretch(1)
    row.addLayout(column)
    row.addStretch(1)
    widget = QWidget()
    widget.setLayout(row)
    return widget
