"""A label for a folder's path that never makes the window wider than the screen."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QWidget


class PathLabel(QLabel):
    """One line of text, shortened in its middle when it is wider than the label (the whole
    text in its tooltip), so both ends of a path show: "/home/anna/…/wildlife_2024".

    A plain label's least width is its whole text: a 90-character dataset path made the
    window 1390 px wide, wider than a 1280-px laptop screen, and it never shrank back.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._whole = ""
        self.setText(text)

    def setText(self, text: str) -> None:
        self._whole = text
        self.setToolTip(text)
        self._shorten()

    def whole_text(self) -> str:
        """The text as given, before any shortening."""
        return self._whole

    def minimumSizeHint(self) -> QSize:
        return QSize(self.fontMetrics().horizontalAdvance("/…/") * 3, super().minimumSizeHint()
                     .height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._shorten()

    def _shorten(self) -> None:
        shown = self.fontMetrics().elidedText(self._whole, Qt.TextElideMode.ElideMiddle,
                                              self.contentsRect().width())
        super().setText(shown)
