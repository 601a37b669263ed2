"""The Data step's health report: every finding of the scan, filtered by severity, with fixes.

Each finding shows the thumbnail of its first image (or a severity icon); double-click, or
Show in folder, opens the folder it is about. A "conflicting labels" finding (the same photo
in two class folders) offers Fix…: keep the copy in one class and quarantine the others, an
undoable clean-up move. A "blank or nearly one colour" finding (placeholders) offers to
quarantine them all, undoable too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    Slot,
)
from PySide6.QtGui import QAction, QDesktopServices, QIcon
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.data.cleanup_actions import CleanupController
from cheetahlion_gui.session import Session
from cheetahlion_gui.widgets.thumbnails import ThumbnailCache
from training.data.images import is_supported
from training.records.dataset import HealthReport, Issue

SeverityRole = Qt.ItemDataRole.UserRole + 1
PathsRole = Qt.ItemDataRole.UserRole + 2
KindRole = Qt.ItemDataRole.UserRole + 3
CONFLICT = "conflicting_labels"
ONE_COLOUR = "one_colour"
Index = QModelIndex | QPersistentModelIndex


class IssueModel(QAbstractListModel):
    """The health report as a list: message, severity icon or the file's thumbnail."""

    def __init__(self, thumbnails: ThumbnailCache, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails
        self._issues: list[Issue] = []
        self._rows_showing: dict[str, list[int]] = {}
        thumbnails.changed.connect(self._thumbnail_changed)

    def set_issues(self, issues: list[Issue]) -> None:
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


class HealthReportPanel(QWidget):
    """The findings list with its severity filter, Fix… and Show in folder."""

    def __init__(self, session: Session, thumbnails: ThumbnailCache,
                 cleanup: CleanupController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.cleanup = cleanup
        self.issues = IssueModel(thumbnails, self)
        self.issue_filter = SeverityFilter(self)
        self.issue_filter.setSourceModel(self.issues)
        self.issues_view = _findings_view(self.issue_filter)
        self.issues_view.doubleClicked.connect(self.show_selected_in_folder)
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
        self.fix_button.setToolTip("Move the photos this finding is about to quarantine "
                                   "(undoable): the extra copies of a photo in two classes, "
                                   "or the blank placeholders")
        self.fix_button.setMenu(self.fix_menu)
        self.fix_button.setEnabled(False)
        self.issues_label = QLabel("Health report")
        self.issues_label.setObjectName("subheading")
        bar = QHBoxLayout()
        bar.addWidget(self.issues_label, 1)
        bar.addWidget(self.severity_combo)
        bar.addWidget(self.fix_button)
        bar.addWidget(self.show_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.issues_view, 1)

    def show_report(self, report: HealthReport) -> None:
        """The scan's findings."""
        self.issues.set_issues(list(report.issues))
        self.fix_button.setEnabled(False)
        errors, warnings = len(report.errors), len(report.warnings)
        self.issues_label.setText(
            f"Health report: {errors} error(s), {warnings} warning(s), "
            f"{len(report.issues) - errors - warnings} note(s)")

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
        kind = index.data(KindRole) if index.isValid() else None
        if kind == ONE_COLOUR:
            paths = tuple(index.data(PathsRole))
            action = QAction(f"Move {'it' if len(paths) == 1 else f'all {len(paths)}'} to "
                             "quarantine (undoable)", menu)
            action.setData(paths)
            action.triggered.connect(self._quarantine_chosen)
            menu.addAction(action)
            return True
        if kind != CONFLICT:
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
    def _quarantine_chosen(self) -> None:
        action = self.sender()
        if isinstance(action, QAction):
            self.cleanup.quarantine(list(action.data()))

    @Slot()
    def show_selected_in_folder(self) -> None:
        index = self.issues_view.currentIndex()
        paths = index.data(PathsRole) if index.isValid() else None
        if paths:
            target = Path(paths[0])
            folder = target if target.is_dir() else target.parent
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


def _findings_view(model: SeverityFilter) -> QListView:
    view = QListView()
    view.setModel(model)
    view.setWordWrap(True)
    view.setIconSize(QSize(48, 48))
    view.setUniformItemSizes(False)
    view.setAlternatingRowColors(True)
    view.setLayoutMode(QListView.LayoutMode.Batched)  # thousands of findings
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    return view
