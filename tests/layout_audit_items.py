"""The layout audit's checks of item views: header sections and the cells of tables and icon
lists (see layout_audit for what is checked and why)."""

from __future__ import annotations

import math
from collections.abc import Iterator

from layout_audit_names import describe
from PySide6.QtCore import QModelIndex, QRect, Qt
from PySide6.QtGui import QFontMetrics, QTextLayout, QTextOption
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QListView,
    QStyle,
    QStyleOptionViewItem,
    QWidget,
)

SLACK = 1
"""Pixels of rounding forgiven in every comparison (as in layout_audit)."""
ELIDE_ALLOWED: dict[str, str] = {}
"""objectName of an item view → why its cells may elide (its full text is shown elsewhere,
e.g. in a tooltip, and the view is meant to elide). Empty: no view of the app is meant to
elide as a whole (a thumbnail's file name is the one exception, `_shown_lines`)."""


def check_header(header: QHeaderView) -> list[str]:
    model = header.model()
    if model is None:
        return []
    horizontal = header.orientation() == Qt.Orientation.Horizontal
    margin = header.style().pixelMetric(QStyle.PixelMetric.PM_HeaderMargin, None, header)
    metrics = header.fontMetrics()
    extent = header.width() if horizontal else header.height()
    problems = []
    bold = header.font()
    bold.setBold(True)
    for section in range(header.count()):
        position = header.sectionViewportPosition(section)
        size = header.sectionSize(section)
        if header.isSectionHidden(section) or position >= extent or position + size <= 0:
            continue
        text = model.headerData(section, header.orientation(), Qt.ItemDataRole.DisplayRole)
        if text is None or not str(text):
            continue
        text = str(text)
        fonts = QFontMetrics(bold) if _highlighted(header, section) else metrics
        need = max(fonts.horizontalAdvance(line) for line in text.split("\n")) + 2 * margin
        if header.isSortIndicatorShown() and header.sortIndicatorSection() == section:
            need += metrics.height()
        room = size if horizontal else header.width()
        if need > room + SLACK:
            problems.append(f"{describe(header)} of {describe(header.parentWidget())}: "
                            f"section '{text}' needs {need} px, has {room}: clipped")
        elif horizontal and position + size > extent + SLACK:
            problems.append(f"{describe(header)} of {describe(header.parentWidget())}: "
                            f"section '{text}' is cut by the header's right edge "
                            f"({extent - position} of {size} px shown)")
    return problems


def _highlighted(header: QHeaderView, section: int) -> bool:
    """Whether the header draws `section` in bold: highlightSections is on and the view's
    selection crosses it (QHeaderView::paintSection)."""
    view = header.parentWidget()
    while view is not None and not isinstance(view, QAbstractItemView):
        view = view.parentWidget()
    if not header.highlightSections() or view is None or view.selectionModel() is None:
        return False
    selection, root = view.selectionModel(), view.rootIndex()
    if header.orientation() == Qt.Orientation.Horizontal:
        return selection.columnIntersectsSelection(section, root)
    return selection.rowIntersectsSelection(section, root)


def _visible_indexes(view: QAbstractItemView) -> Iterator[QModelIndex]:
    model, area = view.model(), view.viewport().rect()
    root = view.rootIndex()
    try:
        columns = model.columnCount(root)
    except TypeError:  # a list model keeps columnCount private: one column
        columns = 1
    for row in range(model.rowCount(root)):
        for column in range(columns):
            index = model.index(row, column, root)
            if view.isIndexHidden(index):
                continue
            rect = view.visualRect(index)
            if rect.isValid() and rect.intersects(area):
                yield index


def text_fits(text: str, option: QStyleOptionViewItem, room: QRect, widget: QWidget
              ) -> tuple[bool, str]:
    """Whether `text` shows whole in `room` as the common style draws an item's text: the
    focus-frame margin (+1) on each side, word wrap if the option asks for it, a line that
    is too wide or below the last that fits elided. (fits, why not)."""
    margin = widget.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None,
                                        widget) + 1
    width = room.width() - 2 * margin
    layout = QTextLayout(text.replace("\n", "\u2028"), option.font)
    text_option = QTextOption()
    wrap = bool(option.features & QStyleOptionViewItem.ViewItemFeature.WrapText)
    text_option.setWrapMode(QTextOption.WrapMode.WordWrap if wrap
                            else QTextOption.WrapMode.ManualWrap)
    layout.setTextOption(text_option)
    layout.beginLayout()
    height, lines = 0.0, 0
    widest = 0.0
    while True:
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(width)
        height += line.height()
        widest = max(widest, line.naturalTextWidth())
        lines += 1
    layout.endLayout()
    if widest > width + SLACK:
        return False, f"a line needs {math.ceil(widest) + 2 * margin} px, has {room.width()}"
    if height > room.height() + SLACK:
        return False, f"{lines} line(s) need {math.ceil(height)} px high, have {room.height()}"
    return True, ""


def check_item_view(view: QAbstractItemView) -> list[str]:
    model = view.model()
    if model is None or view.objectName() in ELIDE_ALLOWED:
        return []
    delegate = view.itemDelegate()
    area = view.viewport().rect()
    problems = []
    for index in _visible_indexes(view):
        text = index.data(Qt.ItemDataRole.DisplayRole)
        if text is None or str(text) == "":
            continue
        option = QStyleOptionViewItem()
        option.initFrom(view)
        view.initViewItemOption(option)
        option.rect = view.visualRect(index)
        delegate.initStyleOption(option, index)
        room = view.style().subElementRect(QStyle.SubElement.SE_ItemViewItemText, option, view)
        fits, why = text_fits(_shown_lines(view, index, str(text)), option, room, view)
        cut = room.right() > area.right() + SLACK
        if not fits or cut:
            where = f"row {index.row()}, column {index.column()}"
            reason = why if not fits else "cut by the view's right edge"
            problems.append(f"{describe(view)}: cell {where} '{' '.join(str(text).split())}': "
                            f"{reason}: elided")
    return problems




def _shown_lines(view: QAbstractItemView, index: QModelIndex, text: str) -> str:
    """The lines of a cell that must show whole. A thumbnail tile's first line, its file
    name, may be shortened in its middle as every file manager does, when its tooltip holds
    it whole; the lines below it (label, confidence, true class) may not."""
    first, _, rest = text.partition("\n")
    tooltip = str(index.data(Qt.ItemDataRole.ToolTipRole) or "")
    icons = isinstance(view, QListView) and view.viewMode() == QListView.ViewMode.IconMode
    return rest if icons and rest and first in tooltip else text
