"""The Data step's overview of a scanned dataset: what blocks training, counts, split, samples."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from cheetahlion_gui.widgets.gallery_model import GalleryItem, GalleryModel
from cheetahlion_gui.widgets.icon_view import (
    fit_tiles_to_classes,
    fit_tiles_to_lines,
    make_icon_view,
)
from cheetahlion_gui.widgets.thumbnails import ThumbnailCache
from training.records.dataset import Dataset, Split
from training.records.multilabel import MultiLabelDataset

SAMPLES_PER_CLASS = 6


class DatasetOverview(QWidget):
    """A banner when training is not possible yet, a summary line with the split, a bar chart
    of images per class, and a few sample images of each class."""

    def __init__(self, thumbnails: ThumbnailCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
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
        samples_title = QLabel("Samples")
        samples_title.setObjectName("subheading")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.blocking)
        layout.addWidget(self.summary)
        layout.addWidget(self.chart, 1)
        layout.addWidget(samples_title)
        layout.addWidget(self.samples_view, 2)

    def show_dataset(self, dataset: Dataset, split: Split | None) -> None:
        """A scanned dataset and its split (None when it cannot be trained)."""
        counts = dataset.class_counts
        self.chart.setTitle("Images per class")
        self._draw_chart(counts)
        errors = dataset.report.errors
        self.blocking.setVisible(bool(errors))
        self.blocking.setText("<b>Training is not possible yet.</b><br>"
                              + "<br>".join(issue.message for issue in errors))
        self.summary.setText(
            f"<b>{len(dataset.images)}</b> usable images in <b>{len(dataset.classes)}</b> "
            f"classes: " + ", ".join(f"{name} ({count})" for name, count in counts.items())
            + _split_text(split))
        samples = []
        for label, name in enumerate(dataset.classes):
            records = [r for r in dataset.images if r.label == label][:SAMPLES_PER_CLASS]
            samples += [GalleryItem(str(r.path), caption=name) for r in records]
        fit_tiles_to_classes(self.samples_view, dataset.classes, lines=("{}",))
        self.samples.set_items(samples)

    def show_multilabel(self, dataset: MultiLabelDataset, split: Split | None) -> None:
        """A multi-label dataset: photos per label (a photo counts under each of its labels),
        those with no label, and a few samples of each label captioned with all of theirs."""
        counts = dataset.label_counts
        self.chart.setTitle("Images per label")
        self._draw_chart(counts)
        errors = dataset.report.errors
        self.blocking.setVisible(bool(errors))
        self.blocking.setText("<b>Training is not possible yet.</b><br>"
                              + "<br>".join(issue.message for issue in errors))
        unlabelled = sum(1 for image in dataset.images if not image.labels)
        self.summary.setText(
            f"<b>{len(dataset.images)}</b> usable images with <b>{len(dataset.labels)}</b> "
            f"labels (from {dataset.source}): "
            + ", ".join(f"{name} ({count})" for name, count in counts.items())
            + f"; <b>{unlabelled}</b> with no label" + _split_text(split))
        samples = []
        for label in range(len(dataset.labels)):
            records = [r for r in dataset.images if label in r.labels][:SAMPLES_PER_CLASS]
            samples += [GalleryItem(str(r.path), caption=" · ".join(
                dataset.labels[i] for i in r.labels)) for r in records]
        fit_tiles_to_lines(self.samples_view, [item.caption or "" for item in samples])
        self.samples.set_items(samples)

    def _draw_chart(self, counts: dict[str, int]) -> None:
        self.chart.clear()
        names = list(counts)
        bars = pg.BarGraphItem(x=list(range(len(names))), height=list(counts.values()),
                               width=0.6, brush="#4c8bd6")
        self.chart.addItem(bars)
        self.chart.getAxis("bottom").setTicks([list(enumerate(names))])
        self.chart.setYRange(0, max([*counts.values(), 1]) * 1.1)


def _split_text(split: Split | None) -> str:
    """"<br>Split: 239 training, 61 validation — …", or nothing without a split."""
    if split is None:
        return ""
    sizes = split.sizes()
    source = "the folder's own split" if split.source == "folder" else \
        f"a seeded split (seed {split.seed})"
    return (f"<br>Split: <b>{sizes['train']}</b> training, <b>{sizes['val']}</b> "
            f"validation" + (f", <b>{sizes['test']}</b> test" if sizes["test"] else "")
            + f" — {source}.")
