"""Step 1, Data: open a dataset folder, see its classes, samples, split and health report.

Beside the health report, two tabs clean the data: "Likely mislabelled" (the finder's
ranked grid, `suspects_view`) and "Moves (undo)" (the clean-up journal, `cleanup_actions`).
The scan, the finder and every file move share the page's one job runner, so files never
move while they are being scanned or looked at; clean-up actions wait their turn, and after
a move the folder is scanned again, so counts and the next training use the cleaned data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QSize,
    QSortFilterProxyModel,
    Qt,
    QUrl,
    Signal,
    Slot,
)
from PySide6.QtGui import QAction, QDesktopServices, QIcon
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QStyle,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.cleanup_actions import CleanupController, MovesPanel
from cheetahlion_gui.gallery_model import GalleryItem, GalleryModel, make_icon_view
from cheetahlion_gui.jobs import Job
from cheetahlion_gui.jobs.cleanup import CleanupOutcome
from cheetahlion_gui.jobs.controller import JobController, Lifecycle
from cheetahlion_gui.jobs.dataset import ScanJob, ScanOutcome
from cheetahlion_gui.session import Session
from cheetahlion_gui.suspects_view import SuspectsView
from cheetahlion_gui.thumbnails import ThumbnailCache
from training.data.images import is_supported

SAMPLES_PER_CLASS = 6
SeverityRole = Qt.ItemDataRole.UserRole + 1
PathsRole = Qt.ItemDataRole.UserRole + 2
KindRole = Qt.ItemDataRole.UserRole + 3
CONFLICT = "conflicting_labels"
Index = QModelIndex | QPersistentModelIndex

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


class IssueModel(QAbstractListModel):
    """The health report as a list: message, severity icon or the file's thumbnail."""

    def __init__(self, thumbnails: ThumbnailCache, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails
        self._issues: list[Any] = []
        self._rows_showing: dict[str, list[int]] = {}
        thumbnails.changed.connect(self._thumbnail_changed)

    def set_issues(self, issues: list[Any]) -> None:
        self.beginResetModel()
        self._issues = list(issues)
        self._rows_showing = {}
        for row, issue in enumerate(self._issues):
            image = _first_image(issue.paths)
            if image is not None:
                self._rows_showing.setdefault(str(image), []).append(row)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._issues)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._issues):
            return None
        issue = self._issues[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return issue.message
        if role == Qt.ItemDataRole.DecorationRole:
            image = _first_image(issue.paths)
            if image is not None:
                thumbnail = self.thumbnails.icon(str(image))
                if thumbnail is not None:
                    return thumbnail
            return _severity_icon(issue.severity)
        if role == Qt.ItemDataRole.ToolTipRole:
            return "\n".join(str(p) for p in issue.paths[:20]) or issue.message
        if role == SeverityRole:
            return issue.severity
        if role == PathsRole:
            return issue.paths
        if role == KindRole:
            return issue.kind
        return None

    @Slot(str)
    def _thumbnail_changed(self, path: str) -> None:
        for row in self._rows_showing.get(path, ()):
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])


def _first_image(paths: tuple[Path, ...]) -> Path | None:
    for path in paths:
        if is_supported(path):
            return path
    return None


def _severity_icon(severity: str) -> QIcon:
    from PySide6.QtWidgets import QApplication

    pixmap = {
        "error": QStyle.StandardPixmap.SP_MessageBoxCritical,
        "warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
    }.get(severity, QStyle.StandardPixmap.SP_MessageBoxInformation)
    return QApplication.style().standardIcon(pixmap)


class SeverityFilter(QSortFilterProxyModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.severity: str | None = None

    def set_severity(self, severity: str | None) -> None:
        self.severity = severity
        self.invalidate()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        if self.severity is None:
            return True
        index = self.sourceModel().index(source_row, 0, source_parent)
        return self.sourceModel().data(index, SeverityRole) == self.severity


class DataPage(QWidget):
    """Choose a folder; the scan runs in a worker with a progress bar."""

    scan_finished = Signal()
    """Emitted after a scan completes or fails (its results are in the session)."""

    def __init__(self, session: Session, thumbnails: ThumbnailCache,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.jobs = JobController(self, session)
        """The scan, the finder and every file move: one at a time."""
        self.runner = self.jobs.runner
        self.jobs.runner.finished.connect(self._runner_idle)
        self._queued: list[tuple[Job, Lifecycle]] = []
        self._closing = False
        self._rescan_when_idle = False
        self.cleanup = CleanupController(session, self.queue_job, self)
        self.cleanup.acted.connect(self._cleaned_up)

        self.open_button = QPushButton("Open dataset folder…")
        self.open_button.setObjectName("primary")
        self.open_button.clicked.connect(self.choose_folder)
        self.rescan_button = QPushButton("Scan again")
        self.rescan_button.clicked.connect(self.rescan)
        self.rescan_button.setEnabled(False)
        self.folder_label = QLabel("No dataset open")
        self.folder_label.setObjectName("heading")
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.progress.setFormat("Scanning %v / %m images")

        header = QHBoxLayout()
        header.addWidget(self.folder_label, 1)
        header.addWidget(self.rescan_button)
        header.addWidget(self.open_button)

        self.empty_state = _empty_state(self.choose_folder)

        self.blocking = QLabel()
        self.blocking.setObjectName("errorBanner")
        self.blocking.setWordWrap(True)
        self.blocking.setVisible(False)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.chart = pg.PlotWidget(title="Images per class")
        self.chart.setBackground("w")
        self.chart.setMouseEnabled(x=False, y=False)
        self.chart.setMinimumHeight(180)

        self.samples = GalleryModel(thumbnails, self)
        self.samples_view = make_icon_view(self.samples, thumbnails.size // 2 + 40)
        self.issues = IssueModel(thumbnails, self)
        self.issue_filter = SeverityFilter(self)
        self.issue_filter.setSourceModel(self.issues)
        self.issues_view = QListView()
        self.issues_view.setModel(self.issue_filter)
        self.issues_view.setWordWrap(True)
        self.issues_view.setIconSize(QSize(48, 48))
        self.issues_view.setUniformItemSizes(False)
        self.issues_view.setAlternatingRowColors(True)
        self.issues_view.setLayoutMode(QListView.LayoutMode.Batched)  # thousands of findings
        self.issues_view.doubleClicked.connect(self.show_selected_in_folder)
        self.issues_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.issues_view.customContextMenuRequested.connect(self._issue_menu_requested)
        self.issues_view.selectionModel().currentChanged.connect(self._issue_chosen)
        self.severity_combo = QComboBox()
        for text, value in (("All findings", None), ("Errors", "error"),
                            ("Warnings", "warning"), ("Notes", "info")):
            self.severity_combo.addItem(text, value)
        self.severity_combo.currentIndexChanged.connect(self._severity_chosen)
        self.show_button = QPushButton("Show in folder")
        self.show_button.clicked.connect(self.show_selected_in_folder)
        self.fix_menu = QMenu(self)
        self.fix_button = QPushButton("Fix…")
        self.fix_button.setToolTip("The same photo sits in two class folders: keep the copy "
                                   "in one class and move the others to quarantine (undoable)")
        self.fix_button.setMenu(self.fix_menu)
        self.fix_button.setEnabled(False)
        self.issues_label = QLabel("Health report")
        self.issues_label.setObjectName("subheading")

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.blocking)
        left_layout.addWidget(self.summary)
        left_layout.addWidget(self.chart, 1)
        samples_title = QLabel("Samples")
        samples_title.setObjectName("subheading")
        left_layout.addWidget(samples_title)
        left_layout.addWidget(self.samples_view, 2)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        issue_bar = QHBoxLayout()
        issue_bar.addWidget(self.issues_label, 1)
        issue_bar.addWidget(self.severity_combo)
        issue_bar.addWidget(self.fix_button)
        issue_bar.addWidget(self.show_button)
        right_layout.addLayout(issue_bar)
        right_layout.addWidget(self.issues_view, 1)

        self.suspects_view = SuspectsView(session, thumbnails, self.cleanup, self.jobs)
        self.moves_panel = MovesPanel(self.cleanup)
        self.tabs = QTabWidget()
        self.tabs.addTab(right, "Health report")
        self.tabs.addTab(self.suspects_view, "Likely mislabelled")
        self.tabs.addTab(self.moves_panel, "Moves (undo)")

        content = QSplitter()
        content.addWidget(left)
        content.addWidget(self.tabs)
        content.setSizes([520, 560])
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty_state)
        self.stack.addWidget(content)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.progress)
        layout.addWidget(self.stack, 1)
        self._scanning = Lifecycle(
            succeeded=self._scan_succeeded, failed=self._scan_failed,
            finished=self.scan_finished, failure_title="The folder cannot be used",
            failed_status="Scan failed",
            busy_message=("Busy", "The dataset is being scanned, checked or cleaned up; wait "
                          "for it to finish."),
            progress=self.progress, follow_progress=True,
            idle_only=(self.open_button, self.rescan_button))

    # --- actions ----------------------------------------------------------------------------

    @Slot()
    def choose_folder(self) -> None:
        start = self.session.settings.recent_datasets[0] if \
            self.session.settings.recent_datasets else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open dataset folder", start)
        if folder:
            self.open_folder(Path(folder))

    @Slot()
    def rescan(self) -> None:
        if self.session.dataset_root is not None:
            self.open_folder(self.session.dataset_root)

    def open_folder(self, folder: Path) -> bool:
        """Scan `folder` in the background; False (with a message) if a scan is running."""
        if not self.jobs.ready(self._scanning):
            return False
        self.folder_label.setText(f"Scanning {folder} …")
        return self.jobs.start(ScanJob(folder), self._scanning, f"Scanning {folder.name}…")

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

    @Slot(object)
    def _scan_succeeded(self, outcome: ScanOutcome) -> None:
        self.session.set_dataset(outcome.dataset, outcome.split, outcome.runs)
        self.cleanup.load_journal()
        self.show_dataset()
        self.session.report(f"Scanned {outcome.dataset.root.name}: "
                            f"{len(outcome.dataset.images)} images")

    @Slot(str, str)
    def _scan_failed(self, _message: str, _details: str) -> None:
        self.folder_label.setText("No dataset open" if self.session.dataset is None
                                  else str(self.session.dataset.root))

    def show_dataset(self) -> None:
        dataset, split = self.session.dataset, self.session.split
        self.stack.setCurrentIndex(1)
        self.folder_label.setText(str(dataset.root))
        counts = dataset.class_counts
        self._draw_chart(counts)
        errors = dataset.report.errors
        self.blocking.setVisible(bool(errors))
        self.blocking.setText("<b>Training is not possible yet.</b><br>"
                              + "<br>".join(issue.message for issue in errors))
        split_text = ""
        if split is not None:
            sizes = split.sizes()
            source = "the folder's own split" if split.source == "folder" else \
                f"a seeded split (seed {split.seed})"
            split_text = (f"<br>Split: <b>{sizes['train']}</b> training, <b>{sizes['val']}</b> "
                          f"validation" + (f", <b>{sizes['test']}</b> test" if sizes["test"]
                                           else "") + f" — {source}.")
        self.summary.setText(
            f"<b>{len(dataset.images)}</b> usable images in <b>{len(dataset.classes)}</b> "
            f"classes: " + ", ".join(f"{name} ({count})" for name, count in counts.items())
            + split_text)
        samples = []
        for label, name in enumerate(dataset.classes):
            records = [r for r in dataset.images if r.label == label][:SAMPLES_PER_CLASS]
            samples += [GalleryItem(str(r.path), caption=name) for r in records]
        self.samples.set_items(samples)
        self.issues.set_issues(list(dataset.report.issues))
        self.fix_button.setEnabled(False)
        warnings = len(dataset.report.warnings)
        self.issues_label.setText(
            f"Health report: {len(errors)} error(s), {warnings} warning(s), "
            f"{len(dataset.report.issues) - len(errors) - warnings} note(s)")

    def _draw_chart(self, counts: dict[str, int]) -> None:
        self.chart.clear()
        names = list(counts)
        bars = pg.BarGraphItem(x=list(range(len(names))), height=list(counts.values()),
                               width=0.6, brush="#4c8bd6")
        self.chart.addItem(bars)
        self.chart.getAxis("bottom").setTicks([list(enumerate(names))])
        self.chart.setYRange(0, max([*counts.values(), 1]) * 1.1)

    @Slot(int)
    def _severity_chosen(self, _index: int) -> None:
        self.issue_filter.set_severity(self.severity_combo.currentData())

    # --- conflicting labels: one click keeps one class's copy ----------------------------------

    def conflict_fixes(self, paths: tuple[Path, ...]) -> dict[str, list[Path]]:
        """For each class holding a copy: the other copies to move out if that one is kept."""
        dataset = self.session.dataset
        if dataset is None:
            return {}
        class_of = {record.path: dataset.classes[record.label] for record in dataset.images}
        classes = sorted({class_of[p] for p in paths if p in class_of})
        return {name: [p for p in paths if p in class_of and class_of[p] != name]
                for name in classes}

    def fix_conflict(self, paths: tuple[Path, ...], keep_class: str) -> bool:
        """Keep the copies in `keep_class`; move the others to quarantine (undoable)."""
        others = self.conflict_fixes(paths).get(keep_class)
        return bool(others) and self.cleanup.quarantine(others)

    def _fill_fix_menu(self, menu: QMenu, index: QModelIndex) -> bool:
        menu.clear()
        if not index.isValid() or index.data(KindRole) != CONFLICT:
            return False
        paths = tuple(index.data(PathsRole))
        for name, others in self.conflict_fixes(paths).items():
            action = QAction(f"Keep the copy in '{name}' (quarantine {len(others)} other"
                             f"{'s' if len(others) != 1 else ''})", menu)
            action.setData((paths, name))
            action.triggered.connect(self._fix_chosen)
            menu.addAction(action)
        return not menu.isEmpty()

    @Slot(QModelIndex, QModelIndex)
    def _issue_chosen(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.fix_button.setEnabled(self._fill_fix_menu(self.fix_menu, current))

    @Slot(QPoint)
    def _issue_menu_requested(self, point: QPoint) -> None:
        menu = QMenu(self)
        if self._fill_fix_menu(menu, self.issues_view.indexAt(point)):
            menu.popup(self.issues_view.viewport().mapToGlobal(point))

    @Slot()
    def _fix_chosen(self) -> None:
        action = self.sender()
        if isinstance(action, QAction):
            paths, name = action.data()
            self.fix_conflict(paths, name)

    @Slot()
    def show_selected_in_folder(self) -> None:
        index = self.issues_view.currentIndex()
        paths = index.data(PathsRole) if index.isValid() else None
        if paths:
            target = Path(paths[0])
            folder = target if target.is_dir() else target.parent
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


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
