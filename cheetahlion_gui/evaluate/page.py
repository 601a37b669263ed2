"""Step 3, Evaluate: accuracy, per-class scores, a clickable confusion matrix, worst mistakes.

The scores are a panel of their own (`evaluation_scores`); the page runs the evaluation and
shows the images behind a score: the worst mistakes, or a confusion matrix cell's images.

Double-clicking an image of the gallery (or "Why?") opens its explanation: where the model
looked for the class it predicted, with the true class one choice away.

With a multi-label dataset open (labels.csv), a multi-label model is evaluated on its
validation images instead: a summary line and a per-label table (`multilabel_scores`) whose
TP, FP, FN and TN counts show their photos below when clicked, else the worst mistakes
(`multilabel_images`).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.evaluate.multilabel_cells import Cell
from cheetahlion_gui.evaluate.multilabel_images import WORST_MISTAKES, MultiLabelImages
from cheetahlion_gui.evaluate.multilabel_scores import MultiLabelScoresPanel
from cheetahlion_gui.evaluate.reliability import ReliabilityPanel
from cheetahlion_gui.evaluate.scores import NO_REPORT, ScoresPanel, part_name
from cheetahlion_gui.evaluate.thresholds import ThresholdsPanel
from cheetahlion_gui.jobs.controller import Lifecycle
from cheetahlion_gui.jobs.evaluate import EvaluateJob, EvaluateOutcome
from cheetahlion_gui.jobs.evaluate_multilabel import MultiLabelEvaluated, MultiLabelEvaluateJob
from cheetahlion_gui.session import Session
from cheetahlion_gui.widgets.explain_view import ExplainDialog, percent
from cheetahlion_gui.widgets.gallery_model import GalleryItem, GalleryModel
from cheetahlion_gui.widgets.icon_view import (
    fit_tiles_to_classes,
    make_icon_view,
)
from cheetahlion_gui.widgets.step_page import StepPage
from cheetahlion_gui.widgets.thumbnails import ThumbnailCache
from training.records.evaluation import EvaluationReport, ImageOutcome
from training.records.multilabel import MultiLabelReport

TRAINING_NOTE = ("A model is training on the Train step: this page evaluates it when its "
                 "training has finished, and nothing until then.")


class EvaluatePage(StepPage):
    evaluation_finished = Signal()
    multilabel_report: MultiLabelReport | None = None
    """The multi-label report shown, when the open dataset is a multi-label one."""

    def __init__(self, session: Session, thumbnails: ThumbnailCache,
                 parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.report: EvaluationReport | None = None
        self.report_model: str | None = None
        """The model file the shown report was computed with."""
        self.shown_outcomes: list[ImageOutcome] = []
        self._evaluated: tuple[str | None, str | None] = (None, None)
        self._evaluating_title = ""
        self.report_title = ""
        """The name of the model the shown report is about ("run …")."""

        self.model_label = QLabel()
        self.model_label.setObjectName("heading")
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setObjectName("primary")
        self.evaluate_button.clicked.connect(self.evaluate)
        self.part = QComboBox()
        header = QHBoxLayout()
        header.addWidget(self.model_label, 1)
        header.addWidget(self.part)
        header.addWidget(self.evaluate_button)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.training_note = QLabel(TRAINING_NOTE)
        self.training_note.setWordWrap(True)
        self.training_note.setVisible(False)

        self.scores = ScoresPanel()
        self.scores.confusion_view.clicked.connect(self.show_cell)
        self.accuracy_label, self.per_class = self.scores.accuracy_label, self.scores.per_class
        self.confusion, self.confusion_view = self.scores.confusion, self.scores.confusion_view
        self.gallery = GalleryModel(thumbnails, self)
        self.gallery.set_unsure_threshold(0.0)  # its tiles show the confidence; no "unsure"
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
        self.mistakes_button = QPushButton("Show worst mistakes")
        self.mistakes_button.setToolTip("Back from the images of a confusion matrix cell "
                                        "(or of a label's count)")
        self.mistakes_button.setVisible(False)
        self.mistakes_button.clicked.connect(self.show_mistakes)
        self._lay_out(header)
        self._evaluating = Lifecycle(
            succeeded=self._succeeded, failed=self._failed, finished=self.evaluation_finished,
            failure_title="Evaluation failed", failed_status="Evaluation failed",
            progress=self.progress, follow_progress=True, idle_only=(self.evaluate_button,))
        session.model_changed.connect(self._model_changed)
        session.runs_changed.connect(self._offer_parts)
        session.dataset_changed.connect(self._offer_parts)
        session.training_changed.connect(self._training_changed)
        session.multilabel_changed.connect(self._multilabel_changed)
        self._model_changed()

    def _lay_out(self, header: QHBoxLayout) -> None:
        """The model and Evaluate above; the scores above the images they are about."""
        images = QWidget()
        images_layout = QVBoxLayout(images)
        gallery_header = QHBoxLayout()
        gallery_header.addWidget(self.gallery_title, 1)
        gallery_header.addWidget(self.mistakes_button)
        gallery_header.addWidget(self.explain_button)
        images_layout.addLayout(gallery_header)
        self.reliability = ReliabilityPanel.placed(images_layout, self.gallery_view, self)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.multilabel_scores = MultiLabelScoresPanel()
        self.multilabel_scores.per_label_view.cell_chosen.connect(self.show_label_cell)
        self.multilabel_images = MultiLabelImages(self.gallery, self.gallery_view,
                                                  self.gallery_title, self)
        self.score_panels = QStackedWidget()
        self.score_panels.addWidget(self.scores)
        self.score_panels.addWidget(self.multilabel_scores)
        self.splitter.addWidget(self.score_panels)
        self.thresholds = ThresholdsPanel()  # a tab beside the photos: the operating points
        self.below = QTabWidget()
        self.below.addTab(images, "Photos")
        self.below.addTab(self.thresholds, "Per-class thresholds")
        self.splitter.addWidget(self.below)
        self.splitter.setSizes([340, 360])
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.training_note)
        layout.addWidget(self.progress)
        layout.addWidget(self.splitter, 1)

    def activate(self) -> None:
        """Called when the page is shown: evaluate if the model or dataset changed since.
        Not while a run trains: its model is not there yet (the page says so)."""
        dataset = self.session.multilabel or self.session.dataset
        if self.session.model_path is None or dataset is None or self.jobs.busy \
                or self.session.training:
            return
        if (self.session.model_path, dataset.fingerprint) != self._evaluated:
            self.evaluate()

    @Slot()
    def _model_changed(self) -> None:
        title = self.session.model_title or "no model chosen"
        self.model_label.setText(f"Model: {title}")
        self._offer_parts()
        if self.isVisible():  # e.g. a model file opened from the menu while on this page
            self.activate()

    @Slot()
    def _training_changed(self) -> None:
        self._show_training()
        if not self.session.training:  # once the run's model is chosen (the Train step
            QTimer.singleShot(0, self._evaluate_if_shown)  # does it next)

    def _show_training(self, evaluating: bool | None = None) -> None:
        """While a run trains: a note above, Evaluate held back (its model is not there).
        `evaluating`: whether an evaluation runs (default: whether the page's job does)."""
        training = self.session.training
        evaluating = self.jobs.busy if evaluating is None else evaluating
        # Above an earlier report; without one the accuracy's place says it.
        self.training_note.setVisible(training and self.report is not None)
        self.evaluate_button.setEnabled(not training)  # refused anyway while one runs
        self.evaluate_button.setToolTip(TRAINING_NOTE if training else "")
        if self.report is None and not evaluating:
            self.scores.show_message(TRAINING_NOTE if training else NO_REPORT)

    @Slot()
    def _evaluate_if_shown(self) -> None:
        if self.isVisible():
            self.activate()

    @Slot()
    def _offer_parts(self) -> None:
        """The parts of the dataset the chosen model's split has: a test part only where
        there is one (evaluating an empty one failed)."""
        sizes = self._part_sizes()
        chosen = self.part.currentData()
        self.part.clear()
        for part in ("val", "test"):
            if sizes.get(part):
                self.part.addItem(f"{part_name(part).capitalize()} images ({sizes[part]})", part)
        self.part.setCurrentIndex(max(self.part.findData(chosen), 0))
        self.part.setVisible(self.part.count() > 1)

    def _part_sizes(self) -> dict[str, int]:
        """Images per part: the chosen run's split, else the open dataset's."""
        record = next((r for r in self.session.runs
                       if r.model_path and r.model_path == self.session.model_path), None)
        if record is not None:
            return {k: v for k, v in record.split.items() if isinstance(v, int)}
        if self.session.split is not None:
            return self.session.split.sizes()
        return {"val": 0}

    @Slot()
    def _multilabel_changed(self) -> None:
        self._evaluated = (None, None)
        self._evaluate_if_shown()

    def _evaluate_multilabel(self) -> bool:
        """The model in use on the open multi-label dataset's validation images."""
        model, dataset = self.session.model_path, self.session.multilabel
        split = self.session.multilabel_split
        if model is None or dataset is None or split is None:
            QMessageBox.information(self, "Nothing to evaluate",
                                    "Train a model on this dataset (Train step) first.")
            return False
        if self.session.training or not self.jobs.start(
                MultiLabelEvaluateJob(model, dataset, split), self._evaluating, "Evaluating…"):
            return False
        self._evaluated = (model, dataset.fingerprint)
        self._evaluating_title = self.session.model_title
        self.score_panels.setCurrentWidget(self.multilabel_scores)
        self.multilabel_scores.summary.setText(
            f"Evaluating {self.session.model_title or 'the model'} on the validation images…")
        return True

    def _show_multilabel(self, outcome: MultiLabelEvaluated) -> None:
        """The scores, and the worst mistakes below (a count of the table shows its photos
        there instead)."""
        self.multilabel_report = outcome.report
        self.report_model = outcome.model_path
        self.report_title = self._evaluating_title
        self.shown_outcomes = []
        self.score_panels.setCurrentWidget(self.multilabel_scores)
        self.multilabel_scores.show_report(outcome.report, self.report_title)
        self.multilabel_images.show_report(outcome)
        self.thresholds.show_report(None)  # a multi-label model's are chosen in training
        self.below.setTabVisible(1, False)
        self.mistakes_button.setVisible(False)
        self.explain_button.setEnabled(False)
        QTimer.singleShot(0, self._fit_multilabel)  # once the table has laid out its rows
        self.session.report("Evaluation finished")

    @Slot()
    def _fit_multilabel(self) -> None:
        """The per-label table as high as its rows (up to two thirds of the page); the
        photos get the rest."""
        total = sum(self.splitter.sizes())
        wanted = min(self.multilabel_scores.wanted_height(), total * 2 // 3)
        self.splitter.setSizes([wanted, total - wanted])

    @Slot(str, object)
    def show_label_cell(self, label: str, cell: Cell) -> None:
        """One count of the per-label table: its photos below."""
        self.explain_button.setEnabled(False)
        self.below.setCurrentIndex(0)
        self.multilabel_images.show_cell(label, cell)
        self.mistakes_button.setVisible(True)

    @Slot()
    def evaluate(self) -> bool:
        if self.session.multilabel is not None:
            return self._evaluate_multilabel()
        if self.session.model_path is None or self.session.dataset is None:
            QMessageBox.information(self, "Nothing to evaluate",
                                    "Open a dataset and train a model (or pick a run) first.")
            return False
        if self.session.training:
            return False
        part = self.part.currentData() or "val"
        job = EvaluateJob(self.session.model_path, self.session.dataset, part,
                          self.session.settings.unfamiliar_percentile)
        if not self.jobs.start(job, self._evaluating, "Evaluating…"):
            return False
        self._evaluated = (self.session.model_path, self.session.dataset.fingerprint)
        self._evaluating_title = self.session.model_title
        self.score_panels.setCurrentWidget(self.scores)
        self.scores.show_message(f"Evaluating {self.session.model_title or 'the model'} on "
                                 f"the {part_name(part)} images…")
        return True

    @Slot(object)
    def _succeeded(self, outcome: EvaluateOutcome | MultiLabelEvaluated) -> None:
        if isinstance(outcome, MultiLabelEvaluated):
            self._show_multilabel(outcome)
            return
        self.score_panels.setCurrentWidget(self.scores)
        report = self.report = outcome.report
        self.report_model = outcome.model_path
        self.report_title = self._evaluating_title
        self.scores.show_report(report, self.report_title)
        self.thresholds.show_report(report, outcome.model_path, outcome.model_digest)
        self.below.setTabVisible(1, True)
        QTimer.singleShot(0, self._make_room)  # once the tables have laid out their rows
        self.show_mistakes()
        self._show_training(evaluating=False)  # a run may have started meanwhile
        self.session.report("Evaluation finished")

    @Slot()
    def _make_room(self) -> None:
        """Give the scores the height their tables need (eight classes' rows under names
        written upwards), up to two thirds of the page; the images get the rest."""
        total = sum(self.splitter.sizes())
        wanted = min(self.scores.height() + self.scores.missing_height(), total * 2 // 3)
        if wanted > self.splitter.sizes()[0]:
            self.splitter.setSizes([wanted, total - wanted])

    @Slot()
    def show_mistakes(self) -> None:
        """The worst mistakes (again, after a confusion matrix cell's images)."""
        if self._multilabel_shown():
            self.explain_button.setEnabled(False)
            self.multilabel_images.show_mistakes()
            self.mistakes_button.setVisible(False)
            self.multilabel_scores.per_label_view.clearSelection()
            return
        if self.report is None:
            return
        mistakes = self.report.mistakes
        self._show_outcomes("Worst mistakes (most confident first)" if mistakes else
                            "No mistakes on these images.", mistakes[:WORST_MISTAKES])
        self.mistakes_button.setVisible(False)
        self.confusion_view.clearSelection()

    @Slot(str, str)
    def _failed(self, _message: str, _details: str) -> None:
        self._evaluated = (None, None)  # evaluate again when the page is shown
        if self.report is not None:  # its line again, in place of "Evaluating …"
            self.scores.show_report(self.report, self.report_title)
        self._show_training(evaluating=False)

    @Slot(QModelIndex)
    def show_cell(self, index: QModelIndex) -> None:
        if self.report is None or not index.isValid():
            return
        true, predicted = self.report.classes[index.row()], self.report.classes[index.column()]
        chosen = [o for o in self.report.outcomes
                  if o.true_label == true and o.predicted_label == predicted]
        chosen.sort(key=lambda o: -o.confidence)
        self.below.setCurrentIndex(0)  # the photos' tab
        self._show_outcomes(f"True {true}, predicted {predicted}: {len(chosen)} image(s)", chosen)
        self.mistakes_button.setVisible(True)

    def _show_outcomes(self, title: str, outcomes: Sequence[ImageOutcome]) -> None:
        self.gallery_title.setText(title)
        self.shown_outcomes = list(outcomes)
        self.explain_button.setEnabled(False)  # a model reset clears the selection silently
        if self.report is not None:
            fit_tiles_to_classes(self.gallery_view, self.report.classes,
                                 lines=("{} 100%", "true: {}"))
        self.gallery.set_items([
            GalleryItem(o.path, label=o.predicted_label, confidence=o.confidence,
                        caption=f"true: {o.true_label}") for o in outcomes
        ])

    def _multilabel_shown(self) -> bool:
        return self.score_panels.currentWidget() is self.multilabel_scores

    @Slot()
    def _selection_changed(self) -> None:
        shown = self.multilabel_images.shown if self._multilabel_shown() else self.shown_outcomes
        self.explain_button.setEnabled(self.gallery_view.selectionModel().hasSelection()
                                       and bool(shown))

    @Slot()
    def _explain_selected(self) -> None:
        selected = self.gallery_view.selectionModel().selectedIndexes()
        if selected:
            self.explain_outcome(selected[0])

    @Slot(QModelIndex)
    def explain_outcome(self, index: QModelIndex) -> None:
        """Open the explanation of one shown image, with its true and predicted classes
        (a multi-label model's: the preview, with every label's probability)."""
        if self._multilabel_shown():
            self.multilabel_images.preview(index.row(), self)
            return
        if not index.isValid() or index.row() >= len(self.shown_outcomes):
            return
        outcome = self.shown_outcomes[index.row()]
        verdict = "right" if outcome.true_label == outcome.predicted_label else "wrong"
        heading = (f"True class: {outcome.true_label} · predicted: {outcome.predicted_label} "
                   f"({percent(outcome.confidence)}, {verdict})")
        ExplainDialog(self.report_model, outcome.path, heading, self).open()
