"""The Classify step's view controls: which tiles show, their order, "unsure" and "none of these".

A multi-label model's gallery shows "With <label>" for each label, "Any of…" and "All of…"
the labels ticked in the menu beside it, "Unsure" (some label's probability close to its
threshold: `training.records.multilabel.is_unsure`; sorted most unsure first) and "No
label" instead of the classes and "none of these": each label has its own threshold, stored
in the model, so the two threshold controls stay off.

Both thresholds only re-read the stored results (GalleryModel), so moving them re-flags the
whole gallery at once, without running the model again; their values are remembered in the
settings.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSlider,
    QSpinBox,
    QWidget,
)

from cheetahlion_gui.settings import Settings
from cheetahlion_gui.widgets.gallery_model import GalleryModel
from cheetahlion_gui.widgets.gallery_proxy import GalleryProxy

SORT_KEYS = (("Name", "name"), ("Confidence, lowest first", "confidence"),
             ("Label", "label"), ("Strangeness, highest first", "novelty"))
DOUBT_SORT = ("Most unsure first", "doubt")
"""A multi-label gallery's extra order: the photo nearest a label's threshold first."""
LABEL_SET_FILTERS = (GalleryProxy.ANY_OF, GalleryProxy.ALL_OF)
SHOWN_NAMES = 24
"""Characters of ticked label names the labels button shows before it counts them."""


class GalleryFilters(QWidget):
    """Show (a class, none of these, unsure, broken), sort by, and the two thresholds."""

    percentile_changed = Signal()
    """The "none of these" percentile moved: the gallery's flags changed."""

    def __init__(self, model: GalleryModel, proxy: GalleryProxy, settings: Settings,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model, self.proxy, self.settings = model, proxy, settings
        # Long class names show whole in the lists, not in the row, whose width is the page's
        self.show_filter = _narrow_combo(12)
        self.show_filter.currentIndexChanged.connect(self._filter_chosen)
        self.sort = _narrow_combo(16)
        for text, key in SORT_KEYS:
            self.sort.addItem(text, key)
        self.sort.currentIndexChanged.connect(self._sort_chosen)
        self.labels_menu = QMenu(self)
        # A push button with a menu sizes itself for its text and its arrow (a tool button
        # draws the arrow over its text's end).
        self.labels_button = QPushButton()
        self.labels_button.setMenu(self.labels_menu)
        self.labels_button.setToolTip("The labels \"Any of…\" and \"All of…\" ask for")
        self.threshold = QSlider(Qt.Orientation.Horizontal)
        self.threshold.setRange(50, 99)
        self.threshold.setValue(round(settings.unsure_threshold * 100))
        self.threshold.setMaximumWidth(160)
        self.threshold.valueChanged.connect(self._threshold_changed)
        self.threshold_label = QLabel()
        self._threshold_changed(self.threshold.value())
        self.unfamiliar_percentile = QSpinBox()
        self.unfamiliar_percentile.setRange(50, 100)
        self.unfamiliar_percentile.setValue(round(model.unfamiliar_percentile))
        self.unfamiliar_percentile.setSuffix(" %")
        self.unfamiliar_percentile.setPrefix("stranger than ")
        self.unfamiliar_percentile.setToolTip(
            "Call an image \"none of these\" when it looks less like the training photos than "
            "this share of the model's validation photos do. At 95 %, about 1 in 20 ordinary "
            "photos is flagged; raise it to flag fewer.")
        self.unfamiliar_percentile.valueChanged.connect(self._unfamiliar_changed)
        self.unfamiliar_label = QLabel("None of these:")
        self.unfamiliar_suffix = QLabel("of validation photos")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Show"))
        layout.addWidget(self.show_filter)
        layout.addWidget(self.labels_button)
        layout.addWidget(QLabel("Sort by"))
        layout.addWidget(self.sort)
        layout.addStretch(1)
        layout.addWidget(self.unfamiliar_label)
        layout.addWidget(self.unfamiliar_percentile)
        layout.addWidget(self.unfamiliar_suffix)
        layout.addWidget(self.threshold_label)
        layout.addWidget(self.threshold)
        self.refresh(())

    def refresh(self, classes: tuple[str, ...], multilabel: bool = False) -> None:
        """Offer the classes (or a multi-label model's labels) of the gallery's model; keep
        the chosen filter where it still exists."""
        current = self.show_filter.currentText()
        self.show_filter.blockSignals(True)
        self.show_filter.clear()
        if multilabel:
            self.show_filter.addItem(GalleryProxy.ALL)
            for label in classes:
                self.show_filter.addItem(f"With {label}", label)
            self.show_filter.addItems([*LABEL_SET_FILTERS, GalleryProxy.UNSURE,
                                       GalleryProxy.NO_LABEL, GalleryProxy.BROKEN])
        else:
            novel = [GalleryProxy.NONE_OF_THESE] if classes and self.model.calibration else []
            self.show_filter.addItems([GalleryProxy.ALL, *classes, *novel, GalleryProxy.UNSURE,
                                       GalleryProxy.BROKEN])
        index = self.show_filter.findText(current)
        self.show_filter.setCurrentIndex(max(index, 0))
        self.show_filter.blockSignals(False)
        self._show_controls(classes, multilabel)
        self._offer_doubt_sort(multilabel)
        self._filter_chosen(self.show_filter.currentIndex())
        self.threshold.setEnabled(not multilabel)
        self.threshold_label.setEnabled(not multilabel)
        self.threshold_label.setToolTip(
            "A multi-label model gives each label its own threshold, chosen on its "
            "validation photos; a photo is unsure when some label's probability is close "
            "to its threshold (for a threshold of 50 %: between 30 % and 70 %)"
            if multilabel else "")
        scored = bool(classes) and self.model.calibration is not None
        self.unfamiliar_percentile.setEnabled(scored)
        self.unfamiliar_label.setEnabled(scored)
        self.unfamiliar_label.setToolTip("" if scored or not classes else
                                         "This model has no \"none of these\" data: models "
                                         "trained by this version have it; the built-in "
                                         "ImageNet model does not.")

    def _show_controls(self, classes: tuple[str, ...], multilabel: bool) -> None:
        """The labels menu for a multi-label gallery, in the place of "none of these" (a
        single-label idea). What leaves is hidden first: a row that held both for a moment
        would widen the window."""
        unfamiliar = (self.unfamiliar_label, self.unfamiliar_percentile, self.unfamiliar_suffix)
        if multilabel:
            for widget in unfamiliar:
                widget.setVisible(False)
        self._fill_labels_menu(classes if multilabel else ())
        if not multilabel:
            for widget in unfamiliar:
                widget.setVisible(True)

    def _fill_labels_menu(self, labels: tuple[str, ...]) -> None:
        """One checkable entry per label (ticks kept for labels still there); hidden for a
        single-label gallery."""
        ticked = self.ticked_labels() & set(labels)
        self.labels_menu.clear()
        for label in labels:
            action = self.labels_menu.addAction(label.replace("&", "&&"))  # not a shortcut
            action.setData(label)
            action.setCheckable(True)
            action.setChecked(label in ticked)
            action.toggled.connect(self._labels_ticked)
        self.labels_button.setVisible(bool(labels))
        self._labels_ticked()

    def ticked_labels(self) -> frozenset[str]:
        return frozenset(action.data() for action in self.labels_menu.actions()
                         if action.isChecked())

    @Slot()
    def _labels_ticked(self) -> None:
        ticked = sorted(self.ticked_labels())
        names = ", ".join(ticked)
        self.labels_button.setText("Tick labels" if not ticked else names
                                   if len(names) <= SHOWN_NAMES else f"{len(ticked)} labels")
        self.proxy.set_label_set(frozenset(ticked))

    def _offer_doubt_sort(self, multilabel: bool) -> None:
        at = self.sort.findData(DOUBT_SORT[1])
        if multilabel and at < 0:
            self.sort.addItem(*DOUBT_SORT)
        elif not multilabel and at >= 0:
            if self.sort.currentIndex() == at:
                self.sort.setCurrentIndex(0)
            self.sort.removeItem(at)

    @Slot(int)
    def _filter_chosen(self, _index: int) -> None:
        chosen = self.show_filter.currentText() or GalleryProxy.ALL
        self.proxy.set_label_filter(chosen, self.show_filter.currentData())
        self.labels_button.setEnabled(chosen in LABEL_SET_FILTERS)
        if chosen == GalleryProxy.UNSURE and self.sort.findData(DOUBT_SORT[1]) >= 0:
            self.sort.setCurrentIndex(self.sort.findData(DOUBT_SORT[1]))

    @Slot(int)
    def _sort_chosen(self, _index: int) -> None:
        self.proxy.set_sort_key(self.sort.currentData())

    @Slot(int)
    def _threshold_changed(self, value: int) -> None:
        self.threshold_label.setText(f"Unsure: >{100 - value}% wrong")  # a chance, calibrated
        self.threshold.setToolTip(f"Unsure: more than a {100 - value} % chance of being wrong "
                                  f"(confidence below {value} %)")
        self.model.set_unsure_threshold(value / 100)
        self.settings.unsure_threshold = value / 100
        self.proxy.invalidate()

    @Slot(int)
    def _unfamiliar_changed(self, value: int) -> None:
        self.model.set_unfamiliar_percentile(float(value))
        self.settings.unfamiliar_percentile = float(value)
        self.proxy.invalidate()
        self.percentile_changed.emit()


def _narrow_combo(characters: int) -> QComboBox:
    """A combo box about `characters` wide, whatever its entries; its list shows them whole."""
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(characters)
    return combo
