"""Find text a user cannot read whole, widgets drawn where they cannot be seen, and plots whose
axes hide or misstate their data, in a live widget tree. Used by tests/gui/test_layout_walk.py.

`audit(top)` walks every visible descendant of a top-level widget (the window, or a dialog)
and returns one human-readable line per problem, naming the widget by its objectName or
class and its text, so a developer can find it. Each check compares what the text needs,
measured with the widget's own font metrics (the style sheet's font once polished), with the
room the style gives it:

- QLabel: without word wrap, its size hint (the text's natural size, plus margins and indent)
  against its width; with word wrap, the height it needs at its width (heightForWidth), more
  than the minimum height its author reserved for it (a label that keeps N lines' room so the
  layout does not jump), and a single word wider than the label (plain text wraps only
  between words).
- Buttons: a push button's, check box's or radio button's text (+ icon) against the contents
  rectangle of the style (SE_PushButtonContents, SE_CheckBoxContents…); a tool button's text
  (+ icon, + the menu arrow the style draws in its corner when it has a menu) against its width.
- QComboBox: the current text, and the longest item (cut as soon as it is chosen), against the
  edit field (SC_ComboBoxEditField, less the 1 px the common style keeps on each side).
- QLineEdit (a spin box's too): its text, or placeholder, against SE_LineEditContents.
- QGroupBox titles, QTabBar tabs (elided or scrolled when the bar is narrower than it needs),
  sliders squeezed below half the length the style asks for.
- QHeaderView: each visible section's header text plus the header margins against its size.
- QAbstractItemView cells (tables, icon lists): every visible cell's DisplayRole text laid out
  as the style lays it out (word wrap where the view wraps, the focus-frame margin on each
  side) in the style's text rectangle (SE_ItemViewItemText); a line wider than the room, or
  more lines than fit its height, is elided by Qt ("…"). ELIDE_ALLOWED lists views meant to
  elide; it is empty: no view of the app shows the whole text elsewhere.
- Geometry: a widget that extends outside its parent (Qt clips it there) or outside the
  top-level window. Children of a scroll area's viewport are skipped: scrolling is how they
  are reached. Window growth is the caller's check (compare sizes before and after a state).
- pyqtgraph plots: the view range must contain each visible curve's data and each visible
  infinite line; an epoch axis must not label a negative epoch (its major ticks; the minor
  ones are unlabelled grid lines); an axis label must not carry an automatic SI scale
  ("(x0.001)"); a legend must not cover a data point.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from PySide6 import QtGui
from PySide6.QtCore import QModelIndex, QPoint, QRect, QRectF, Qt
from PySide6.QtGui import QFontMetrics, QTextLayout, QTextOption
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractScrollArea,
    QAbstractSlider,
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QStyle,
    QStyleOptionButton,
    QStyleOptionComboBox,
    QStyleOptionFrame,
    QStyleOptionGroupBox,
    QStyleOptionViewItem,
    QTabBar,
    QToolButton,
    QWidget,
)

SLACK = 1
"""Pixels of rounding forgiven in every comparison."""
ELIDE_ALLOWED: dict[str, str] = {}
"""objectName of an item view → why its cells may elide (the full text is shown elsewhere).
Empty: the app has no view whose cells are meant to elide."""


def describe(widget: QWidget) -> str:
    """`Class#objectName 'text'`, enough to find the widget in the code."""
    name = type(widget).__name__
    if widget.objectName() and not widget.objectName().startswith("qt_"):
        name += f"#{widget.objectName()}"
    text = ""
    for getter in ("text", "title", "currentText", "windowTitle"):
        value = getattr(widget, getter, None)
        if callable(value):
            try:
                text = value()
            except TypeError:
                continue
            if isinstance(text, str) and text:
                break
    text = " ".join(str(text).split())
    if len(text) > 60:
        text = text[:57] + "…"
    described = f"{name} '{text}'" if text else name
    owner = _owner(widget)
    return f"{described} (in {owner})" if owner else described


def _owner(widget: QWidget) -> str:
    """The nearest ancestor of the app's own classes (a page, a panel), for a widget that has
    no objectName: where in the code it is made."""
    if widget.objectName() and not widget.objectName().startswith("qt_"):
        return ""
    parent = widget.parentWidget()
    while parent is not None:
        if not type(parent).__module__.startswith(("PySide6", "pyqtgraph", "shiboken")):
            return type(parent).__name__
        parent = parent.parentWidget()
    return ""


def seen_area(widget: QWidget, top: QWidget) -> QRect:
    """The part of `widget` its ancestors up to `top` do not clip away, in its own pixels
    (empty for a widget in a collapsed splitter pane or scrolled out of view)."""
    area = widget.rect()
    offset = QPoint(0, 0)
    child = widget
    while child is not top and child.parentWidget() is not None:
        offset += child.pos()
        parent = child.parentWidget()
        area = area.intersected(parent.rect().translated(-offset))
        child = parent
    return area


def visible_widgets(top: QWidget) -> Iterator[QWidget]:
    """`top` and every descendant a user can see: shown, and not clipped away entirely."""
    yield top
    for widget in top.findChildren(QWidget):
        if widget.isWindow() or not widget.isVisible() or seen_area(widget, top).isEmpty():
            continue
        yield widget


def audit(top: QWidget) -> list[str]:
    """Every problem found in `top` and its visible descendants, one line each."""
    problems: list[str] = []
    for widget in visible_widgets(top):
        problems += check_geometry(widget, top)
        for kind, check in CHECKS:
            if isinstance(widget, kind):
                problems += check(widget)
                break
    problems += [p for plot in _plot_items(top) for p in check_plot(plot)]
    return problems


# --- geometry ------------------------------------------------------------------------------


def _scrolled(widget: QWidget, top: QWidget) -> bool:
    """Whether `widget` sits in a scroll area's viewport (below `top`)."""
    parent = widget.parentWidget()
    while parent is not None and parent is not top:
        grand = parent.parentWidget()
        if isinstance(grand, QAbstractScrollArea) and parent is grand.viewport():
            return True
        parent = grand
    return False


def check_geometry(widget: QWidget, top: QWidget) -> list[str]:
    """Outside its parent (clipped there) or outside the window."""
    parent = widget.parentWidget()
    if widget is top or parent is None or _scrolled(widget, top):
        return []
    problems = []
    inner = parent.rect().adjusted(-SLACK, -SLACK, SLACK, SLACK)
    if not inner.contains(widget.geometry()) and parent is not top:
        problems.append(f"{describe(widget)}: at {_rect(widget.geometry())}, outside its "
                        f"parent {describe(parent)} ({parent.width()}x{parent.height()}): "
                        "cut off")
    where = QRect(widget.mapTo(top, QPoint(0, 0)), widget.size())
    if not top.rect().adjusted(-SLACK, -SLACK, SLACK, SLACK).contains(where):
        problems.append(f"{describe(widget)}: at {_rect(where)}, outside the window "
                        f"({top.width()}x{top.height()})")
    return problems


def _rect(rect: QRect) -> str:
    return f"({rect.x()},{rect.y()} {rect.width()}x{rect.height()})"


# --- text widgets --------------------------------------------------------------------------


def _is_rich(label: QLabel) -> bool:
    text_format = label.textFormat()
    return text_format == Qt.TextFormat.RichText or (
        text_format == Qt.TextFormat.AutoText and QtGui.Qt.mightBeRichText(label.text()))


def check_label(label: QLabel) -> list[str]:
    text = label.text()
    if not text or (label.pixmap() is not None and not label.pixmap().isNull()):
        return []
    if not label.wordWrap():
        need = label.sizeHint().width()
        if need > label.width() + SLACK:
            return [f"{describe(label)}: text needs {need} px, has {label.width()}: clipped"]
        return []
    need_height = label.heightForWidth(label.width())
    if need_height > label.height() + SLACK:
        return [f"{describe(label)}: wrapped text needs {need_height} px high, has "
                f"{label.height()}: last line(s) clipped"]
    reserved = label.minimumHeight()
    if 0 < reserved < need_height - SLACK:
        return [f"{describe(label)}: wraps to {need_height} px high, more than the "
                f"{reserved} px reserved for it: a line too many (what is below it moves)"]
    if not _is_rich(label):
        room = label.contentsRect().width() - 2 * label.margin()
        widest = max((label.fontMetrics().horizontalAdvance(word) for word in text.split()),
                     default=0)
        if widest > room + SLACK:
            return [f"{describe(label)}: a word needs {widest} px, the label has {room}: "
                    "clipped (plain text wraps only between words)"]
    return []


def _button_text(button: QAbstractButton) -> str:
    return button.text().replace("&&", "\x00").replace("&", "").replace("\x00", "&")


def check_button(button: QAbstractButton) -> list[str]:
    text = _button_text(button)
    if not text:
        return []
    if isinstance(button, QToolButton):
        return _check_tool_button(button, text)
    if not isinstance(button, (QPushButton, QCheckBox, QRadioButton)):
        need = button.sizeHint().width()
        if need > button.width() + SLACK:
            return [f"{describe(button)}: needs {need} px, has {button.width()}: text cut"]
        return []
    option = QStyleOptionButton()
    button.initStyleOption(option)
    if isinstance(button, QCheckBox):
        element = QStyle.SubElement.SE_CheckBoxContents
    elif isinstance(button, QRadioButton):
        element = QStyle.SubElement.SE_RadioButtonContents
    else:
        element = QStyle.SubElement.SE_PushButtonContents
    room = button.style().subElementRect(element, option, button).width()
    need = button.fontMetrics().horizontalAdvance(text)
    if not button.icon().isNull():
        need += button.iconSize().width() + 4
    if isinstance(button, QPushButton) and button.menu() is not None:
        need += button.style().pixelMetric(QStyle.PixelMetric.PM_MenuButtonIndicator,
                                           option, button)
    if need > room + SLACK:
        return [f"{describe(button)}: text needs {need} px, the style gives it {room}: cut"]
    return []


def _check_tool_button(button: QToolButton, text: str) -> list[str]:
    """A tool button's text (+ icon) inside its frame; with a menu it pops up at once, the
    style draws the menu arrow in the button's corner, over the text unless there is room
    (QToolButton's size hint leaves none)."""
    style = button.style()
    frame = style.pixelMetric(QStyle.PixelMetric.PM_DefaultFrameWidth, None, button)
    margin = style.pixelMetric(QStyle.PixelMetric.PM_ButtonMargin, None, button)
    need = button.fontMetrics().horizontalAdvance(text) + 2 * frame + margin
    if not button.icon().isNull() and \
            button.toolButtonStyle() != Qt.ToolButtonStyle.ToolButtonTextOnly:
        need += button.iconSize().width() + 4
    own = 1 if button.defaultAction() is not None else 0  # QToolButtonPrivate::hasMenu
    with_menu = button.menu() is not None or len(button.actions()) > own
    if with_menu and button.popupMode() != QToolButton.ToolButtonPopupMode.MenuButtonPopup:
        need += style.pixelMetric(QStyle.PixelMetric.PM_MenuButtonIndicator, None, button)
    if need > button.width() + SLACK:
        return [f"{describe(button)}: text{' and menu arrow' if with_menu else ''} need "
                f"{need} px, the button has {button.width()}: cut or overlapped"]
    return []


def check_line_edit(edit: QLineEdit) -> list[str]:
    """A line edit's text (a spin box's too), or its placeholder while empty."""
    text = edit.text() or edit.placeholderText()
    if not text:
        return []
    option = QStyleOptionFrame()
    edit.initStyleOption(option)
    room = edit.style().subElementRect(QStyle.SubElement.SE_LineEditContents, option,
                                       edit).marginsRemoved(edit.textMargins()).width() - 4
    need = edit.fontMetrics().horizontalAdvance(text)
    if need > room + SLACK:
        return [f"{describe(edit)} in {describe(edit.parentWidget())}: text '{text}' needs "
                f"{need} px, has {room}: scrolled out of view"]
    return []


def check_slider(slider: QAbstractSlider) -> list[str]:
    """A slider squeezed below the length the style asks for is too short to set a value."""
    horizontal = slider.orientation() == Qt.Orientation.Horizontal
    want = slider.sizeHint().width() if horizontal else slider.sizeHint().height()
    has = slider.width() if horizontal else slider.height()
    if has < want // 2:
        return [f"{describe(slider)}: {has} px long, the style asks for {want}: too short "
                "to use"]
    return []


def check_combo(combo: QComboBox) -> list[str]:
    option = QStyleOptionComboBox()
    combo.initStyleOption(option)
    field = combo.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                         QStyle.SubControl.SC_ComboBoxEditField, combo)
    room = field.width() - 2
    if not option.currentIcon.isNull():
        room -= combo.iconSize().width() + 4
    metrics = combo.fontMetrics()
    problems = []
    current = combo.currentText()
    if metrics.horizontalAdvance(current) > room + SLACK:
        problems.append(f"{describe(combo)}: current text needs "
                        f"{metrics.horizontalAdvance(current)} px, the field has {room}: cut")
    items = [combo.itemText(i) for i in range(combo.count())]
    longest = max(items, key=metrics.horizontalAdvance, default="")
    if longest != current and metrics.horizontalAdvance(longest) > room + SLACK:
        problems.append(f"{describe(combo)}: item '{longest}' needs "
                        f"{metrics.horizontalAdvance(longest)} px, the field has {room}: "
                        "cut when chosen")
    return problems


def check_group_box(box: QGroupBox) -> list[str]:
    if not box.title():
        return []
    option = QStyleOptionGroupBox()
    box.initStyleOption(option)
    label = box.style().subControlRect(QStyle.ComplexControl.CC_GroupBox, option,
                                       QStyle.SubControl.SC_GroupBoxLabel, box)
    if label.right() > box.width() + SLACK:
        return [f"{describe(box)}: title needs up to x={label.right()}, the box is "
                f"{box.width()} wide: cut"]
    return []


def check_tab_bar(bar: QTabBar) -> list[str]:
    need = bar.sizeHint().width() if bar.shape() in (
        QTabBar.Shape.RoundedNorth, QTabBar.Shape.RoundedSouth,
        QTabBar.Shape.TriangularNorth, QTabBar.Shape.TriangularSouth) else 0
    if need > bar.width() + SLACK:
        tabs = ", ".join(repr(bar.tabText(i)) for i in range(bar.count()))
        return [f"{describe(bar)} [{tabs}]: tabs need {need} px, the bar has {bar.width()}: "
                "elided or scrolled"]
    return []


# --- item views ----------------------------------------------------------------------------


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
        fits, why = text_fits(str(text), option, room, view)
        cut = room.right() > area.right() + SLACK
        if not fits or cut:
            where = f"row {index.row()}, column {index.column()}"
            reason = why if not fits else "cut by the view's right edge"
            problems.append(f"{describe(view)}: cell {where} '{' '.join(str(text).split())}': "
                            f"{reason}: elided")
    return problems


CHECKS: tuple[tuple[type, object], ...] = (
    (QLabel, check_label),
    (QAbstractButton, check_button),
    (QComboBox, check_combo),
    (QLineEdit, check_line_edit),
    (QAbstractSlider, check_slider),
    (QGroupBox, check_group_box),
    (QTabBar, check_tab_bar),
    (QHeaderView, check_header),
    (QAbstractItemView, check_item_view),
)
"""(widget class, its check), most specific first; a widget gets the first that fits. A
QGroupBox (a checkable one is no button) and a header (an item view) come before the
general kinds."""


# --- pyqtgraph plots -----------------------------------------------------------------------


def _plot_items(top: QWidget) -> Iterator[object]:
    import pyqtgraph as pg

    for widget in visible_widgets(top):
        if isinstance(widget, pg.PlotWidget):
            yield widget.getPlotItem()


def _finite(values: object) -> list[float]:
    if values is None:
        return []
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def check_plot(plot: object) -> list[str]:
    """A PlotItem: range around the data, no negative epochs, no SI scale, no legend on data."""
    import pyqtgraph as pg

    title = plot.titleLabel.text or "plot"
    view_box = plot.getViewBox()
    if getattr(view_box, "_autoRangeNeedsUpdate", False):
        view_box.updateAutoRange()  # what the next paint does with new data (prepareForPaint)
    (x0, x1), (y0, y1) = plot.viewRange()
    tolerance_x, tolerance_y = (x1 - x0) * 1e-3, (y1 - y0) * 1e-3
    problems = []
    points: list[tuple[float, float]] = []
    for item in plot.listDataItems():
        if not item.isVisible():
            continue
        xs, ys = item.getData()
        xs, ys = _finite(xs), _finite(ys)
        if not xs or not ys:
            continue
        points += list(zip(xs, ys, strict=False))
        name = item.name() or "curve"
        if min(xs) < x0 - tolerance_x or max(xs) > x1 + tolerance_x:
            problems.append(f"plot '{title}': x range {x0:.3g}..{x1:.3g} does not hold "
                            f"'{name}' (x {min(xs):.3g}..{max(xs):.3g})")
        if min(ys) < y0 - tolerance_y or max(ys) > y1 + tolerance_y:
            problems.append(f"plot '{title}': y range {y0:.3g}..{y1:.3g} does not hold "
                            f"'{name}' (y {min(ys):.3g}..{max(ys):.3g})")
    for item in view_box.addedItems:
        if isinstance(item, pg.InfiniteLine) and item.isVisible():
            low, high = (y0, y1) if item.angle % 180 == 0 else (x0, x1)
            if not low <= item.value() <= high:
                problems.append(f"plot '{title}': line at {item.value():.3g} is outside the "
                                f"range {low:.3g}..{high:.3g}")
    problems += _check_axes(plot, title, (x0, x1))
    problems += _check_legend(plot, title, points)
    return problems


def _check_axes(plot: object, title: str, x_range: tuple[float, float]) -> list[str]:
    problems = []
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        label = axis.labelString()
        if "(x" in label or "×10" in label:
            problems.append(f"plot '{title}': {side} axis label '{_plain(label)}' carries an "
                            "automatic SI scale")
    bottom = plot.getAxis("bottom")
    if "epoch" in _plain(bottom.labelString()).lower():
        low, high = x_range
        levels = bottom.tickValues(low, high, bottom.width() or 1)
        labelled = [v for v in (levels[0][1] if levels else ()) if low <= v <= high]
        if any(v < 0 for v in labelled):  # minor levels are grid lines, mostly unlabelled
            problems.append(f"plot '{title}': the epoch axis shows negative epochs "
                            f"(range {low:.3g}..{high:.3g})")
    return problems


def _check_legend(plot: object, title: str, points: list[tuple[float, float]]) -> list[str]:
    legend = plot.legend
    if legend is None or not legend.isVisible() or not legend.items or not points:
        return []
    box: QRectF = plot.getViewBox().mapSceneToView(legend.sceneBoundingRect()).boundingRect()
    covered = [(x, y) for x, y in points if box.contains(x, y)]
    if covered:
        x, y = covered[0]
        return [f"plot '{title}': the legend covers {len(covered)} data point(s), e.g. "
                f"({x:.3g}, {y:.3g})"]
    return []


def _plain(html: str) -> str:
    """An axis label's text without its HTML."""
    out, inside = [], False
    for char in html:
        if char == "<":
            inside = True
        elif char == ">":
            inside = False
        elif not inside:
            out.append(char)
    return "".join(out).replace("&nbsp;", " ")
