"""The photos behind a multi-label report, on the Evaluate page's thumbnail grid: the worst
mistakes (each tile says which labels were missed and which spurious), or one count of the
per-label table (each tile with the label's probability). A photo opens in the preview:
large, every label's probability, where the model looked.

Everything here is plain Python over the report in memory (the job ordered the mistakes);
the grid is the page's `GalleryModel`, the tiles sized by `fit_tiles_to_lines`.
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QLabel, QListView, QWidget

from cheetahlion_gui.evaluate.multilabel_cells import Cell, cell_outcomes, probability
from cheetahlion_gui.jobs.evaluate_multilabel import MultiLabelEvaluated
from cheetahlion_gui.widgets.gallery_model import GalleryItem, GalleryModel
from cheetahlion_gui.widgets.icon_view import fit_tiles_to_lines
from cheetahlion_gui.widgets.preview_dialog import PREVIEW_SIZE, PreviewDialog
from cheetahlion_gui.widgets.thumbnails import ThumbnailCache
from training.records.multilabel import MultiLabelOutcome, MultiLabelReport

WORST_MISTAKES = 24
"""Photos the worst-mistakes grid shows (single- and multi-label)."""
MISTAKES_TITLE = "Worst mistakes (most wrong first)"
NO_MISTAKES = "No label missed or spurious on these images."


def listed(labels: tuple[str, ...]) -> str:
    return ", ".join(labels) if labels else "none"


def mistake_caption(outcome: MultiLabelOutcome) -> str:
    """"missed: a, b" above "spurious: c" (a line each, the one that applies when only one
    does): two short lines fit a tile where one long one was cut."""
    return "\n".join(line for line in (
        f"missed: {', '.join(outcome.missed)}" if outcome.missed else "",
        f"spurious: {', '.join(outcome.spurious)}" if outcome.spurious else "") if line)


class MultiLabelImages(QObject):
    """Fills the page's grid (`gallery`, shown by `view`, titled by `title`) with the
    photos of a multi-label report; `shown` are the outcomes of its rows, in order."""

    def __init__(self, gallery: GalleryModel, view: QListView, title: QLabel,
                 parent: QWidget) -> None:
        super().__init__(parent)
        self.gallery, self.view, self.title = gallery, view, title
        self.evaluated: MultiLabelEvaluated | None = None
        self.shown: list[MultiLabelOutcome] = []
        self.previews = ThumbnailCache(self, size=PREVIEW_SIZE)

    @property
    def report(self) -> MultiLabelReport | None:
        return self.evaluated.report if self.evaluated is not None else None

    def show_report(self, evaluated: MultiLabelEvaluated) -> None:
        self.evaluated = evaluated
        self.show_mistakes()

    def show_mistakes(self) -> None:
        """The worst mistakes, worst first (`worst_first` says why in that order)."""
        if self.evaluated is None:
            return
        worst = list(self.evaluated.worst[:WORST_MISTAKES])
        self._show(MISTAKES_TITLE if worst else NO_MISTAKES, worst,
                   [mistake_caption(o) for o in worst])

    def show_cell(self, label: str, cell: Cell) -> None:
        """`label`'s photos of one count (e.g. its false positives), each tile with the
        label's probability and the photo's own labels."""
        report = self.report
        if report is None:
            return
        chosen = cell_outcomes(report, label, cell)
        captions = [f"{label} {probability(report, o, label):.0%}\n"
                    f"labels: {listed(o.true_labels)}" for o in chosen]
        self._show(cell.title(label, len(chosen)), chosen, captions)

    def _show(self, title: str, outcomes: list[MultiLabelOutcome],
              captions: list[str]) -> None:
        self.title.setText(title)
        self.shown = outcomes
        fit_tiles_to_lines(self.view, [line for caption in captions
                                       for line in caption.split("\n")])
        self.gallery.set_items([GalleryItem(o.path, caption=caption)
                                for o, caption in zip(outcomes, captions, strict=True)])

    def preview(self, row: int, parent: QWidget) -> PreviewDialog | None:
        """Open the preview of the grid's `row`: the photo large, every label's probability
        and where the model looked, with its labels and the model's above."""
        if self.evaluated is None or not 0 <= row < len(self.shown):
            return None
        outcome = self.shown[row]
        item = GalleryItem(outcome.path, probabilities=outcome.probabilities,
                           labels=outcome.predicted_labels)
        dialog = PreviewDialog(item, self.evaluated.report.labels, self.previews,
                               self.evaluated.model_path, parent=parent)
        truth = QLabel(f"Labels: {listed(outcome.true_labels)} · the model said: "
                       f"{listed(outcome.predicted_labels)}")
        truth.setObjectName("subheading")
        truth.setWordWrap(True)
        dialog.layout().insertWidget(1, truth)
        dialog.open()
        return dialog
