"""The Evaluate step's scores for a multi-label model: one summary line (mAP, macro-F1,
micro-F1, exact match) above a table with a row per label (precision, recall, F1, AP, its
threshold, and the counts behind them: TP, FP, FN, positives).

The figures are the engine's `MultiLabelReport` as it is, each at the label's own threshold
(chosen on validation when the model was trained).
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.evaluate.scores import part_name
from cheetahlion_gui.widgets.table_model import RecordsTableModel
from training.records.multilabel import LabelScores, MultiLabelReport

Index = QModelIndex | QPersistentModelIndex


def score_text(value: float) -> str:
    """A score to three places; "–" where it is undefined (AP of a label with no positive)."""
    return "–" if math.isnan(value) else f"{value:.3f}"


class PerLabelModel(RecordsTableModel["LabelScores"]):
    HEADERS = ("Label", "Precision", "Recall", "F1", "AP", "Threshold", "TP", "FP", "FN",
               "Positives")

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row: LabelScores = self.records[index.row()]
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column():
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        values = (row.name, score_text(row.precision), score_text(row.recall),
                  score_text(row.f1), score_text(row.average_precision),
                  f"{row.threshold:.2f}", str(row.true_positives), str(row.false_positives),
                  str(row.false_negatives), str(row.positives))
        return values[index.column()]


class MultiLabelScoresPanel(QWidget):
    """The summary line in large type above the per-label table."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel()
        self.summary.setObjectName("bigNumber")
        self.summary.setWordWrap(True)
        self.per_label = PerLabelModel(self)
        self.per_label_view = QTableView()
        self.per_label_view.setModel(self.per_label)
        header = self.per_label_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.per_label_view.verticalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.per_label_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        box = QGroupBox("Per label, each at its own threshold")
        box.setToolTip("TP: photos with the label that the model gave it; FP: photos without "
                       "it that the model gave it; FN: photos with it that the model missed.")
        QVBoxLayout(box).addWidget(self.per_label_view)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(box, 1)

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
