"""The Evaluate step's scores: the accuracy and balanced accuracy (the mean per-class recall,
which a rare class cannot hide in), a line naming any class with too few images to trust,
per-class precision and recall, the confusion matrix (a click on a cell shows its images on
the page)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
)
from PySide6.QtGui import QColor, QPainter, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QStyle,
    QStyleOptionHeader,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.widgets.table_model import RecordsTableModel
from training.records.evaluation import ClassScores, EvaluationReport, small_class_note

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
        """The class's name alone (the panel says which side is which): "predicted
        cheetah" in a column as narrow as its count was cut to "edicted cheet"."""
        if section >= len(self.classes):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.classes[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            side = "predicted" if orientation == Qt.Orientation.Horizontal else "true"
            return f"{side} class: {self.classes[section]}"
        return None

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
        self.accuracy_label = QLabel(NO_REPORT)
        self.accuracy_label.setObjectName("bigNumber")
        self.accuracy_label.setWordWrap(True)
        self.per_class = PerClassModel(self)
        self.per_class_view = _table(self.per_class)
        self.per_class_view.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.ResizeToContents)  # the class names, whole
        self.confusion = ConfusionModel(self)
        self.names_header = NamesHeader()
        self.confusion_view = _table(self.confusion, self.names_header)
        self.confusion_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        scores = QGroupBox("Per class")
        QVBoxLayout(scores).addWidget(self.per_class_view)
        # Which side is which is said once here, so the headers need only the names.
        matrix = QGroupBox("Confusion matrix: rows true class, columns predicted — click a cell")
        matrix.setToolTip("Each cell counts the images of its row's class that the model "
                          "took for its column's; a click shows them below.")
        QVBoxLayout(matrix).addWidget(self.confusion_view)
        tables = QHBoxLayout()
        tables.addWidget(scores)
        tables.addWidget(matrix)
        layout = QVBoxLayout(self)
        layout.addWidget(self.accuracy_label)
        layout.addLayout(tables, 1)

    def show_message(self, text: str) -> None:
        """A line in place of the accuracy: what is being evaluated, or why nothing is."""
        self.accuracy_label.setText(text)

    def show_report(self, report: EvaluationReport, model_title: str = "") -> None:
        """The report's scores; `model_title` names the model they are about ("run …")."""
        wrong = len(report.mistakes)
        whose = f"{model_title}: " if model_title else ""
        self.accuracy_label.setText(
            f"{whose}accuracy <b>{report.accuracy:.1%}</b>, balanced accuracy "
            f"<b>{report.balanced_accuracy:.1%}</b> on {report.images} "
            f"{part_name(report.part)} images "
            f"({wrong} mistake{'s' if wrong != 1 else ''})" + _small_class_line(report)
            + _none_of_these_note(report))
        self.per_class.set_records(list(report.per_class))
        self.confusion.set_matrix(report.classes, report.confusion)
        self._fit_names()

    def missing_height(self) -> int:
        """Pixels the confusion matrix lacks to show every row without scrolling."""
        view = self.confusion_view
        needed = (view.horizontalHeader().sizeHint().height()
                  + view.verticalHeader().length() + 2 * view.frameWidth())
        if view.horizontalScrollBar().isVisible():
            needed += view.horizontalScrollBar().height()
        return max(0, needed - view.height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_names()

    def _fit_names(self) -> None:
        view = self.confusion_view
        self.names_header.fit(view.viewport().width())


NO_REPORT = "Train a model or pick a run, then evaluate it."


def part_name(part: str) -> str:
    """"validation" for "val"; the other parts by their own name ("test")."""
    return "validation" if part == "val" else part


def _small_class_line(report: EvaluationReport) -> str:
    """A warning line naming the classes with too few images here to trust their recall."""
    support = {scores.name: scores.support for scores in report.per_class}
    note = small_class_note(support, part_name(report.part))
    return f"<br><small><b>⚠</b> {note}</small>" if note else ""


def _none_of_these_note(report: EvaluationReport) -> str:
    """How many images the model calls unlike its training data (nothing for old models)."""
    if report.unfamiliar_fraction is None:
        return ""
    flagged = round(report.unfamiliar_fraction * report.images)
    return (f"<br><small>{flagged} of the {report.images} {part_name(report.part)} photos "
            f"({report.unfamiliar_fraction:.0%}) look unlike the training photos "
            f"(“none of these”: stranger than {report.unfamiliar_percentile:g} % of the "
            "validation photos)</small>")


class NamesHeader(QHeaderView):
    """The confusion matrix's column header: the class names across while they fit side by
    side, else written upwards, so that each column needs only a line's height."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.upwards = False
        self.setSectionsClickable(True)

    def fit(self, width: int) -> None:
        """Lay the names out for a matrix `width` pixels wide (without the row names)."""
        self.upwards = False
        across = max((self.sectionSizeFromContents(c).width() for c in range(self.count())),
                     default=0)
        self.upwards = across * self.count() > width
        needed = max((self.sectionSizeFromContents(c).width() for c in range(self.count())),
                     default=0)
        self.setMinimumSectionSize(max(needed, MIN_COLUMN))
        if self.model() is not None and self.count():  # the header's height is cached
            self.headerDataChanged(self.orientation(), 0, self.count() - 1)

    def sectionSizeFromContents(self, logical_index: int) -> QSize:
        size = super().sectionSizeFromContents(logical_index)
        return size.transposed() if self.upwards else size

    def paintSection(self, painter: QPainter, rect: QRect, logical_index: int) -> None:
        if not self.upwards:
            super().paintSection(painter, rect, logical_index)
            return
        option = QStyleOptionHeader()
        option.initFrom(self)
        option.rect, option.section = rect, logical_index
        option.orientation = self.orientation()
        self.style().drawControl(QStyle.ControlElement.CE_Header, option, painter, self)
        text = self.model().headerData(logical_index, self.orientation())
        painter.save()
        painter.translate(rect.left(), rect.bottom())
        painter.rotate(-90)
        painter.drawText(QRect(TEXT_PADDING, 0, rect.height() - 2 * TEXT_PADDING, rect.width()),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, str(text))
        painter.restore()


MIN_COLUMN = 36
TEXT_PADDING = 4


def _table(model: QAbstractTableModel, header: QHeaderView | None = None) -> QTableView:
    view = QTableView()
    if header is not None:
        view.setHorizontalHeader(header)
    view.setModel(model)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    return view
