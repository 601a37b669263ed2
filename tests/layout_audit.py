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
- QHeaderView: each visible section's text plus the header margins against its size (in
  bold where the view's selection crosses it, as Qt draws it), and a section cut by the edge.
- QAbstractItemView cells (tables, icon lists): every visible cell's DisplayRole text laid out
  as the style lays it out (word wrap where the view wraps, the focus-frame margin on each
  side) in the style's text rectangle (SE_ItemViewItemText); a line wider than the room, or
  more lines than fit its height, is elided by Qt ("…"); a column cut by the view's edge too.
  ELIDE_ALLOWED (layout_audit_items) lists views meant to elide; it is empty.
- Geometry: a widget that extends outside its parent (Qt clips it there) or outside the
  top-level window. Children of a scroll area's viewport are skipped: scrolling is how they
  are reached. Window growth is the caller's check (compare sizes before and after a state).
- pyqtgraph plots: the view range must contain each visible curve's data and each visible
  infinite line; an epoch axis must not label a negative epoch (its major ticks; the minor
  ones are unlabelled grid lines); an axis label must not carry an automatic SI scale
  ("(x0.001)"); a legend must not cover a data point.

The item views' checks are in layout_audit_items, the plots' in layout_audit_plots, how a
widget is named in layout_audit_names.
"""

from __future__ import annotations

from collections.abc import Iterator

from layout_audit_items import check_header, check_item_view
from layout_audit_names import describe
from layout_audit_plots import check_plot, plot_items
from PySide6 import QtGui
from PySide6.QtCore import QCoreApplication, QEvent, QPoint, QRect, Qt
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
    QTabBar,
    QToolButton,
    QWidget,
)

SLACK = 1
"""Pixels of rounding forgiven in every comparison."""


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
    """Every problem found in `top` and its visible descendants, one line each.

    Pending layout requests are carried out first, as the event loop's next pass would: a
    label whose text changed a moment ago has asked for room it is not given yet. Seen once
    in two runs under load: the status bar's "Device: CPU (2 threads)" measured at the
    105 px of its "Device: loading…" (not reproduced on demand, so no test pins it)."""
    for _ in range(3):  # a layout's new size can ask its parent's layout for room in turn
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
    problems: list[str] = []
    for widget in visible_widgets(top):
        problems += check_geometry(widget, top)
        for kind, check in CHECKS:
            if isinstance(widget, kind):
                problems += check(widget)
                break
    problems += [p for plot in plot_items(visible_widgets(top)) for p in check_plot(plot)]
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
