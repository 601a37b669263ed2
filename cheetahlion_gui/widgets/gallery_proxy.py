"""The gallery's sort/filter proxy: which tiles show and in what order.

It reads only the item roles of `gallery_model.GalleryModel`, so what "unsure", "none of
these" or a label means is decided there, once, and filtering never re-derives it.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel

from cheetahlion_gui.widgets.gallery_model import (
    ConfidenceRole,
    DoubtRole,
    ErrorRole,
    LabelRole,
    LabelsRole,
    NoveltyRole,
    PathRole,
    UnfamiliarRole,
    UnsureRole,
)

Index = QModelIndex | QPersistentModelIndex


class GalleryProxy(QSortFilterProxyModel):
    """Filter by label, "none of these", "unsure" or "broken"; sort by name, confidence, label
    or strangeness. A class's filter leaves out the images flagged "none of these". A
    multi-label gallery filters by one label (the photos that have it, among others), by a
    set of labels (any of them, or all of them: `set_label_set`), by "no label" or by
    "unsure", and sorts most unsure first ("doubt")."""

    ALL = "All"
    NONE_OF_THESE = "None of these"
    UNSURE = "Unsure"
    BROKEN = "Broken"
    NO_LABEL = "No label"
    ANY_OF = "Any of…"
    ALL_OF = "All of…"

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.label_filter = self.ALL
        self.with_label: str | None = None
        """The label a multi-label gallery's filter asks for; None for every other filter."""
        self.label_set: frozenset[str] = frozenset()
        """The labels ANY_OF and ALL_OF ask for; none ticked: every photo shows."""
        self.sort_key = "name"
        self.setDynamicSortFilter(True)

    def set_label_filter(self, value: str, with_label: str | None = None) -> None:
        """Show the rows of `value` (a class, or one of the names above); with `with_label`,
        the rows of a multi-label gallery that have that label."""
        self.label_filter = value
        self.with_label = with_label
        self.invalidate()

    def set_label_set(self, labels: frozenset[str]) -> None:
        """The labels the ANY_OF and ALL_OF filters ask for."""
        self.label_set = labels
        self.invalidate()

    def set_sort_key(self, key: str) -> None:
        """Sort by "name", "confidence" (lowest first, to review doubtful ones), "label",
        "novelty" (strangest first) or "doubt" (a multi-label row nearest a threshold
        first)."""
        self.sort_key = key
        self.invalidate()
        self.sort(0)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        if self.label_filter == self.ALL:
            return True
        model = self.sourceModel()
        index = model.index(source_row, 0, source_parent)
        if self.with_label is not None:
            return self.with_label in (model.data(index, LabelsRole) or ())
        if self.label_filter in (self.ANY_OF, self.ALL_OF):
            has = set(model.data(index, LabelsRole) or ())
            return not self.label_set or (self.label_set <= has if self.label_filter ==
                                          self.ALL_OF else bool(self.label_set & has))
        if self.label_filter == self.NO_LABEL:
            return model.data(index, LabelsRole) == () and model.data(index, ErrorRole) is None
        if self.label_filter == self.UNSURE:
            return bool(model.data(index, UnsureRole))
        if self.label_filter == self.BROKEN:
            return model.data(index, ErrorRole) is not None
        if self.label_filter == self.NONE_OF_THESE:
            return bool(model.data(index, UnfamiliarRole))
        return (model.data(index, LabelRole) == self.label_filter
                and not model.data(index, UnfamiliarRole))

    def lessThan(self, left: Index, right: Index) -> bool:
        model = self.sourceModel()
        if self.sort_key == "confidence":
            a = model.data(left, ConfidenceRole)
            b = model.data(right, ConfidenceRole)
            return (a if a is not None else 2.0) < (b if b is not None else 2.0)
        if self.sort_key == "doubt":
            a = model.data(left, DoubtRole)
            b = model.data(right, DoubtRole)
            return (a if a is not None else float("inf")) < (b if b is not None else float("inf"))
        if self.sort_key == "novelty":
            a = model.data(left, NoveltyRole)
            b = model.data(right, NoveltyRole)
            return (-a if a is not None else float("inf")) < (-b if b is not None else float("inf"))
        if self.sort_key == "label":
            a = (model.data(left, LabelRole) or "~", model.data(left, PathRole))
            b = (model.data(right, LabelRole) or "~", model.data(right, PathRole))
            return a < b
        return model.data(left, PathRole) < model.data(right, PathRole)
