"""The Evaluate step's scores for a multi-label model: one summary line (mAP, macro-F1,
micro-F1, exact match) above a table with a row per label (precision, recall, F1, AP, its
threshold, its calibration error (ECE), and the counts behind them: TP, FP, FN, TN,
positives).

The figures are the engine's `MultiLabelReport` as it is, each at the label's own threshold
(chosen on validation when the model was trained). The four counts are a per-label confusion
matrix: a click on one (or Enter on the selected one) says `cell_chosen`, and the page shows
that count's photos.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal, Slot
from PySide6.QtGui import QColor, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.evaluate.multilabel_cells import CELL_OF, Cell
from cheetahlion_gui.evaluate.scores import part_name
from cheetahlion_gui.widgets.table_model import RecordsTableModel
from training.records.multilabel import LabelScores, MultiLabelReport

Index = QModelIndex | QPersistentModelIndex
RIGHT, WRONG = (46, 160, 67), (214, 39, 40)
"""The confusion matrix's colours: counts of right answers green, of wrong ones red."""


def score_text(value: float) -> str:
    """A score to three places; "–" where it is undefined (AP of a label with no positive)."""
    return "–" if math.isnan(value) else f"{value:.3f}"


class PerLabelModel(RecordsTableModel["LabelScores"]):
    HEADERS = ("Label", "Precision", "Recall", "F1", "AP", "ECE", "Threshold", "TP", "FP", "FN",
               "TN", "Positives")

    def cell_at(self, index: Index) -> tuple[str, Cell] | None:
        """(label, cell) when `index` is one of a row's four counts, else None."""
        if not index.isValid() or index.row() >= len(self.records):
            return None
        cell = CELL_OF.get(self.HEADERS[index.column()])
        return None if cell is None else (self.records[index.row()].name, cell)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row: LabelScores = self.records[index.row()]
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column():
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        counted = self.cell_at(index)
        if counted is not None and role in (Qt.ItemDataRole.BackgroundRole,
                                            Qt.ItemDataRole.ToolTipRole):
            return _count_look(counted[0], counted[1], _count(row, counted[1]), role)
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        values = (row.name, score_text(row.precision), score_text(row.recall),
                  score_text(row.f1), score_text(row.average_precision),
                  f"{row.ece:.3f}", f"{row.threshold:.2f}", str(row.true_positives),
                  str(row.false_positives), str(row.false_negatives), str(row.true_negatives),
                  str(row.positives))
        return values[index.column()]

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        cell = CELL_OF.get(self.HEADERS[section]) \
            if orientation == Qt.Orientation.Horizontal else None
        if role == Qt.ItemDataRole.ToolTipRole and cell is not None:
            return f"{cell.name.capitalize()}: {cell.meaning.format('the label')}"
        if role == Qt.ItemDataRole.ToolTipRole and self.HEADERS[section] == "ECE" \
                and orientation == Qt.Orientation.Horizontal:
            return ("Expected calibration error of the label's probability on these photos: "
                    "among photos given about 80 %, does about 80 % of them have the label? "
                    "0 is perfect.")
        return super().headerData(section, orientation, role)


def _count(row: LabelScores, cell: Cell) -> int:
    return {"TP": row.true_positives, "FP": row.false_positives,
            "FN": row.false_negatives, "TN": row.true_negatives}[cell.column]


def _count_look(label: str, cell: Cell, count: int, role: int) -> Any:
    """A count's tint (green for right answers, red for wrong; stronger when it is not
    zero) and its tooltip."""
    if role == Qt.ItemDataRole.ToolTipRole:
        return f"{cell.title(label, count)}. Click (or press Enter) to see them."
    colour = RIGHT if cell.labelled == cell.predicted else WRONG
    return QColor(*colour, 70 if count else 15)


class CountsView(QTableView):
    """The per-label table; a click on a count, or Enter on the selected one, chooses it."""

    cell_chosen = Signal(str, object)
    """(label, `Cell`): show the photos of this count."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.clicked.connect(self._choose)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self._choose(self.currentIndex())
            return
        super().keyPressEvent(event)

    @Slot(QModelIndex)
    def _choose(self, index: QModelIndex) -> None:
        model = self.model()
        counted = model.cell_at(index) if isinstance(model, PerLabelModel) else None
        if counted is not None:
            self.cell_chosen.emit(*counted)


class MultiLabelScoresPanel(QWidget):
    """The summary line in large type above the per-label table."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel()
        self.summary.setObjectName("bigNumber")
        self.summary.setWordWrap(True)
        self.per_label = PerLabelModel(self)
        self.per_label_view = CountsView()
        self.per_label_view.setModel(self.per_label)
        header = self.per_label_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.per_label_view.verticalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.per_label_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.per_label_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.box = QGroupBox("Per label, each at its own threshold — click a TP, FP, FN or TN "
                             "count to see its photos")
        self.box.setToolTip("TP: photos with the label that the model gave it; FP: photos "
                            "without it that the model gave it; FN: photos with it that the "
                            "model missed; TN: photos without it that the model left without.")
        QVBoxLayout(self.box).addWidget(self.per_label_view)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.box, 1)

    def show_report(self, report: MultiLabelReport, model_title: str = "") -> None:
        whose = f"{model_title}: " if model_title else ""
        images = len(report.outcomes)
        unreadable = f", {len(report.unreadable)} unreadable" if report.unreadable else ""
        self.summary.setText(
            f"{whose}mAP <b>{score_text(report.mean_average_precision)}</b>, macro-F1 "
            f"<b>{score_text(report.macro_f1)}</b>, micro-F1 {score_text(report.micro_f1)}, "
            f"exact match {report.exact_match:.1%} on {images} {part_name(report.part)} "
            f"images ({len(report.mistakes)} with a label missed or spurious{unreadable})")
        self.per_label.set_records(list(report.per_label))

    def wanted_height(self) -> int:
        """The panel's height (as laid out now) that shows every label's row without
        scrolling and without empty room below the last."""
        view = self.per_label_view
        table = (view.horizontalHeader().height() + view.verticalHeader().length()
                 + 2 * view.frameWidth())
        if view.horizontalScrollBar().isVisible():
            table += view.horizontalScrollBar().height()
        return self.height() - view.height() + max(table, view.minimumSizeHint().height())
