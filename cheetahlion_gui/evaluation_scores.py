"""The Evaluate step's scores: the accuracy, per-class precision and recall, the confusion
matrix (a click on a cell shows its images on the page)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.table_model import RecordsTableModel

if TYPE_CHECKING:
    from cheetahlion_gui.jobs.engine_types import ClassScores, EvaluationReport

Index = QModelIndex | QPersistentModelIndex


class PerClassModel(RecordsTableModel["ClassScores"]):
    HEADERS = ("Class", "Precision", "Recall", "F1", "Images")

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role != Qt.ItemDataRole.DisplayRole:
            return None
        row: ClassScores = self.records[index.row()]
        values = (row.name, f"{row.precision:.3f}", f"{row.recall:.3f}", f"{row.f1:.3f}",
                  str(row.support))
        return values[index.column()]


class ConfusionModel(QAbstractTableModel):
    """Rows: true class; columns: predicted class. Darker cells hold more images."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.classes: tuple[str, ...] = ()
        self.counts: tuple[tuple[int, ...], ...] = ()

    def set_matrix(self, classes: tuple[str, ...], counts: tuple[tuple[int, ...], ...]) -> None:
        self.beginResetModel()
        self.classes, self.counts = classes, counts
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.classes)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.classes)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole or section >= len(self.classes):
            return None
        prefix = "predicted " if orientation == Qt.Orientation.Horizontal else "true "
        return prefix + self.classes[section]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        count = self.counts[index.row()][index.column()]
        diagonal = index.row() == index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return str(count)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return Qt.AlignmentFlag.AlignCenter
        if role == Qt.ItemDataRole.BackgroundRole:
            row_total = max(sum(self.counts[index.row()]), 1)
            share = count / row_total
            base = (46, 160, 67) if diagonal else (214, 39, 40)
            alpha = int(40 + 200 * share) if count else 0
            return QColor(*base, alpha)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{count} image(s): true {self.classes[index.row()]}, predicted " \
                   f"{self.classes[index.column()]}. Click to see them."
        return None


class ScoresPanel(QWidget):
    """The accuracy in large type above the per-class table and the confusion matrix."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.accuracy_label = QLabel("Train a model or pick a run, then evaluate it.")
        self.accuracy_label.setObjectName("bigNumber")
        self.per_class = PerClassModel(self)
        self.per_class_view = _table(self.per_class)
        self.confusion = ConfusionModel(self)
        self.confusion_view = _table(self.confusion)
        self.confusion_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        scores = QGroupBox("Per class")
        QVBoxLayout(scores).addWidget(self.per_class_view)
        matrix = QGroupBox("Confusion matrix — click a cell to see its images")
        QVBoxLayout(matrix).addWidget(self.confusion_view)
        tables = QHBoxLayout()
        tables.addWidget(scores)
        tables.addWidget(matrix)
        layout = QVBoxLayout(self)
        layout.addWidget(self.accuracy_label)
        layout.addLayout(tables)

    def show_report(self, report: EvaluationReport) -> None:
        wrong = len(report.mistakes)
        self.accuracy_label.setText(
            f"Accuracy <b>{report.accuracy:.1%}</b> on {report.images} "
            f"{'validation' if report.part == 'val' else report.part} images "
            f"({wrong} mistake{'s' if wrong != 1 else ''})" + _none_of_these_note(report))
        self.per_class.set_records(list(report.per_class))
        self.confusion.set_matrix(report.classes, report.confusion)


def _none_of_these_note(report: EvaluationReport) -> str:
    """How many images the model calls unlike its training data (nothing for old models)."""
    if report.unfamiliar_fraction is None:
        return ""
    flagged = round(report.unfamiliar_fraction * report.images)
    return (f"<br><small>{flagged} of them ({report.unfamiliar_fraction:.0%}) look unlike the "
            f"training photos (“none of these”: stranger than "
            f"{report.unfamiliar_percentile:g} % of the validation photos)</small>")


def _table(model: QAbstractTableModel) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    return view
