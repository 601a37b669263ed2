"""Step 3, Evaluate: accuracy, per-class scores, a clickable confusion matrix, worst mistakes.

Double-clicking an image of the gallery (or "Why?") opens its explanation: where the model
looked for the class it predicted, with the true class one choice away.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.explain_view import ExplainDialog, percent
from cheetahlion_gui.gallery_model import GalleryItem, GalleryModel, make_icon_view
from cheetahlion_gui.jobs.controller import JobController, Lifecycle
from cheetahlion_gui.jobs.evaluate import EvaluateJob, EvaluateOutcome
from cheetahlion_gui.session import Session
from cheetahlion_gui.table_model import RecordsTableModel
from cheetahlion_gui.thumbnails import ThumbnailCache

Index = QModelIndex | QPersistentModelIndex
WORST_MISTAKES = 24


class PerClassModel(RecordsTableModel):
    HEADERS = ("Class", "Precision", "Recall", "F1", "Images")

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role != Qt.ItemDataRole.DisplayRole:
            return None
        row = self.records[index.row()]
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


class EvaluatePage(QWidget):
    evaluation_finished = Signal()

    def __init__(self, session: Session, thumbnails: ThumbnailCache,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.jobs = JobController(self, session)
        self.runner = self.jobs.runner
        self.report: Any = None
        self.report_model: str | None = None
        """The model file the shown report was computed with."""
        self.shown_outcomes: list[Any] = []
        self._evaluated: tuple[str | None, str | None] = (None, None)

        self.model_label = QLabel()
        self.model_label.setObjectName("heading")
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setObjectName("primary")
        self.evaluate_button.clicked.connect(self.evaluate)
        self.part = QComboBox()
        self.part.addItem("Validation images", "val")
        self.part.addItem("Test images", "test")
        header = QHBoxLayout()
        header.addWidget(self.model_label, 1)
        header.addWidget(self.part)
        header.addWidget(self.evaluate_button)
        self.progress = QProgressBar()
        self.progress.setVisible(False)

        self.accuracy_label = QLabel("Train a model or pick a run, then evaluate it.")
        self.accuracy_label.setObjectName("bigNumber")
        self.per_class = PerClassModel(self)
        self.per_class_view = _table(self.per_class)
        self.confusion = ConfusionModel(self)
        self.confusion_view = _table(self.confusion)
        self.confusion_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.confusion_view.clicked.connect(self.show_cell)
        self.gallery = GalleryModel(thumbnails, self)
        self.gallery_view = make_icon_view(self.gallery, 120)
        self.gallery_view.doubleClicked.connect(self.explain_outcome)
        self.gallery_view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.gallery_title = QLabel("Worst mistakes")
        self.gallery_title.setObjectName("subheading")
        self.explain_button = QPushButton("Why? Show where the model looked…")
        self.explain_button.setToolTip("Explain the selected image's prediction "
                                       "(or double-click an image)")
        self.explain_button.setEnabled(False)
        self.explain_button.clicked.connect(self._explain_selected)

        scores = QGroupBox("Per class")
        QVBoxLayout(scores).addWidget(self.per_class_view)
        matrix = QGroupBox("Confusion matrix — click a cell to see its images")
        QVBoxLayout(matrix).addWidget(self.confusion_view)
        tables = QHBoxLayout()
        tables.addWidget(scores)
        tables.addWidget(matrix)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.addWidget(self.accuracy_label)
        top_layout.addLayout(tables)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        gallery_header = QHBoxLayout()
        gallery_header.addWidget(self.gallery_title, 1)
        gallery_header.addWidget(self.explain_button)
        bottom_layout.addLayout(gallery_header)
        bottom_layout.addWidget(self.gallery_view)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        splitter.setSizes([300, 400])

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.progress)
        layout.addWidget(splitter, 1)
        self._evaluating = Lifecycle(
            succeeded=self._succeeded, failed=self._failed, finished=self.evaluation_finished,
            failure_title="Evaluation failed", failed_status="Evaluation failed",
            progress=self.progress, follow_progress=True, idle_only=(self.evaluate_button,))
        session.model_changed.connect(self._model_changed)
        self._model_changed()

    def activate(self) -> None:
        """Called when the page is shown: evaluate if the model or dataset changed since."""
        dataset = self.session.dataset
        if self.session.model_path is None or dataset is None or self.jobs.busy:
            return
        if (self.session.model_path, dataset.fingerprint) != self._evaluated:
            self.evaluate()

    @Slot()
    def _model_changed(self) -> None:
        title = self.session.model_title or "no model chosen"
        self.model_label.setText(f"Model: {title}")

    @Slot()
    def evaluate(self) -> bool:
        if self.session.model_path is None or self.session.dataset is None:
            QMessageBox.information(self, "Nothing to evaluate",
                                    "Open a dataset and train a model (or pick a run) first.")
            return False
        job = EvaluateJob(self.session.model_path, self.session.dataset, self.part.currentData(),
                          self.session.settings.unfamiliar_percentile)
        if not self.jobs.start(job, self._evaluating, "Evaluating…"):
            return False
        self._evaluated = (self.session.model_path, self.session.dataset.fingerprint)
        return True

    @Slot(object)
    def _succeeded(self, outcome: EvaluateOutcome) -> None:
        report = self.report = outcome.report
        self.report_model = outcome.model_path
        wrong = len(report.mistakes)
        self.accuracy_label.setText(
            f"Accuracy <b>{report.accuracy:.1%}</b> on {report.images} "
            f"{'validation' if report.part == 'val' else report.part} images "
            f"({wrong} mistake{'s' if wrong != 1 else ''})" + _none_of_these_note(report))
        self.per_class.set_records(list(report.per_class))
        self.confusion.set_matrix(report.classes, report.confusion)
        self._show_outcomes("Worst mistakes (most confident first)" if wrong else
                            "No mistakes on these images.", report.mistakes[:WORST_MISTAKES])
        self.session.report("Evaluation finished")

    @Slot(str, str)
    def _failed(self, _message: str, _details: str) -> None:
        self._evaluated = (None, None)  # evaluate again when the page is shown

    @Slot(QModelIndex)
    def show_cell(self, index: QModelIndex) -> None:
        if self.report is None or not index.isValid():
            return
        true, predicted = self.report.classes[index.row()], self.report.classes[index.column()]
        chosen = [o for o in self.report.outcomes
                  if o.true_label == true and o.predicted_label == predicted]
        chosen.sort(key=lambda o: -o.confidence)
        self._show_outcomes(f"True {true}, predicted {predicted}: {len(chosen)} image(s)", chosen)

    def _show_outcomes(self, title: str, outcomes: Any) -> None:
        self.gallery_title.setText(title)
        self.shown_outcomes = list(outcomes)
        self.explain_button.setEnabled(False)  # a model reset clears the selection silently
        self.gallery.set_items([
            GalleryItem(o.path, label=o.predicted_label, confidence=o.confidence,
                        caption=f"true: {o.true_label}") for o in outcomes
        ])

    @Slot()
    def _selection_changed(self) -> None:
        self.explain_button.setEnabled(self.gallery_view.selectionModel().hasSelection())

    @Slot()
    def _explain_selected(self) -> None:
        selected = self.gallery_view.selectionModel().selectedIndexes()
        if selected:
            self.explain_outcome(selected[0])

    @Slot(QModelIndex)
    def explain_outcome(self, index: QModelIndex) -> None:
        """Open the explanation of one shown image, with its true and predicted classes."""
        if not index.isValid() or index.row() >= len(self.shown_outcomes):
            return
        outcome = self.shown_outcomes[index.row()]
        verdict = "right" if outcome.true_label == outcome.predicted_label else "wrong"
        heading = (f"True class: {outcome.true_label} · predicted: {outcome.predicted_label} "
                   f"({percent(outcome.confidence)}, {verdict})")
        ExplainDialog(self.report_model, outcome.path, heading, self).open()


def _none_of_these_note(report: Any) -> str:
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
