"""What the two Review unsure dialogs share: one photo at a time, additions queued, an end page.

The single-label review (`review_dialog`: a number key puts the photo into a class) and the
multi-label one (`multilabel_review`: number keys tick labels, Enter adds) differ in how a
photo is labelled and agree on everything around it, written once here: the photo shown
large and decoded ahead (`review_picture`), the counter and file name, the "Why now" line
(`review_order`), the status line, the background additions in order (`review_queue`),
Esc to the end page first (it waits for the last additions), and the end page's counts and
"train again".
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import QDialog, QLabel, QStackedWidget, QVBoxLayout, QWidget

from cheetahlion_gui.classify.review_end import ReviewEnd
from cheetahlion_gui.classify.review_picture import ReviewPicture
from cheetahlion_gui.classify.review_queue import Addition, AdditionQueue
from cheetahlion_gui.widgets.gallery_model import GalleryItem


class ReviewBase(QDialog):
    """A review of `items` into the dataset at `root`. A subclass sets its own state, then
    calls `assemble`, and gives `_review_page` (its labelling column) and `_show_labels`."""

    photo_shown = Signal(int, bool, float)
    """(position, whether it had to wait for decoding, seconds since the key was pressed)"""

    def __init__(self, items: Sequence[GalleryItem], root: Path, parent: QWidget | None,
                 reasons: Sequence[str]) -> None:
        super().__init__(parent)
        self.setWindowTitle("Review unsure photos")
        self.items = list(items)
        self.reasons = tuple(reasons)
        self.position = 0
        self.decisions: list[tuple[int, Addition | None]] = []
        self.train_requested = False
        self.queue = AdditionQueue(root, self)
        self.queue.changed.connect(self._queue_changed)

    def assemble(self, note: str) -> None:
        """The review page and the end page, the first photo, and `note` (the order the
        photos come in) on the status line."""
        self.stack = QStackedWidget()
        self.stack.addWidget(self._review_page())
        self.end = ReviewEnd()
        self.end_text, self.train_button = self.end.text, self.end.train_button
        self.close_button = self.end.close_button
        self.train_button.clicked.connect(self._train_again)
        self.close_button.clicked.connect(self.accept)
        self.stack.addWidget(self.end)
        QVBoxLayout(self).addWidget(self.stack)
        self._show_current()
        if note:
            self._say(note)

    def _review_page(self) -> QWidget:
        raise NotImplementedError

    def _show_labels(self, item: GalleryItem) -> None:
        """The subclass's part of showing `item`: its reason and its classes or labels."""
        raise NotImplementedError

    def _heading_widgets(self) -> tuple[QLabel, ...]:
        """The picture, and the column's top: counter, file name, reason, "Why now"."""
        self.picture = ReviewPicture()
        self.picture.photo_shown.connect(self.photo_shown)
        self.counter = QLabel()
        self.counter.setObjectName("heading")
        self.file_name = QLabel()
        self.file_name.setWordWrap(True)
        self.reason = QLabel()
        self.reason.setWordWrap(True)
        self.teaches = QLabel()
        self.teaches.setObjectName("teaches")
        self.teaches.setWordWrap(True)
        self.teaches.setVisible(bool(self.reasons))
        self.status = QLabel()
        self.status.setObjectName("reviewStatus")
        self.status.setWordWrap(True)
        return self.counter, self.file_name, self.reason, self.teaches

    # --- keys and closing -------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Backspace or Ctrl+Z back, Esc to the end page, 0 or Space skip; the subclass's
        own keys (`_labelling_key`) label the photo."""
        self.picture.pressed_at = time.perf_counter()
        key = event.key()
        if self._key_first(event):
            return
        if key == Qt.Key.Key_Backspace or event.matches(QKeySequence.StandardKey.Undo):
            self.back()
        elif key == Qt.Key.Key_Escape:
            self.reject()
        elif self.stack.currentIndex() == 1:
            super().keyPressEvent(event)  # the end page: its buttons
        elif key in (Qt.Key.Key_0, Qt.Key.Key_Space):
            self.decide(None)
        elif not self._labelling_key(event):
            super().keyPressEvent(event)

    def _key_first(self, event: QKeyEvent) -> bool:
        """A key the subclass takes before all others (True: taken)."""
        return False

    def _labelling_key(self, event: QKeyEvent) -> bool:
        """The subclass's keys on the review page (True: taken)."""
        raise NotImplementedError

    def decide(self, labels: object) -> None:
        raise NotImplementedError

    def _decided(self, addition: Addition | None, said: str) -> None:
        """The current photo's decision recorded (its addition, if any, can be taken back)
        and said; on to the next photo."""
        self.decisions.append((self.position, addition))
        self._say(said)
        self.position += 1
        self._show_current()

    def back(self) -> None:
        """Take the last decision back and show its photo again."""
        if not self.decisions:
            self._say("Nothing to go back to yet.")
            return
        self.position, addition = self.decisions.pop()
        name = Path(self.items[self.position].path).name
        self._say(f"Back to {name}" if addition is None else self._undo(addition, name))
        self.stack.setCurrentIndex(0)
        self._show_current()

    def _undo(self, addition: Addition, name: str) -> str:
        """Take `addition` (of the photo `name`) out of the dataset; what to say."""
        raise NotImplementedError

    def reject(self) -> None:
        """Esc or the window's close button: to the end page first (it waits for the last
        additions), then closed."""
        if self.stack.currentIndex() == 0:
            self.finish()
        elif self.queue.idle:
            super().reject()

    def done(self, result: int) -> None:
        self.picture.reset()  # drop decodes still queued
        super().done(result)

    @Slot()
    def finish(self) -> None:
        self.stack.setCurrentIndex(1)
        self._show_end()

    @Slot()
    def _train_again(self) -> None:
        self.train_requested = True
        self.accept()

    # --- showing ----------------------------------------------------------------------------

    def _show_current(self) -> None:
        if self.position >= len(self.items):
            self.finish()
            return
        item = self.items[self.position]
        self._show_counter()
        self.file_name.setText(Path(item.path).name)
        self.file_name.setToolTip(item.path)
        if self.position < len(self.reasons):
            self.teaches.setText(f"Why now: {self.reasons[self.position]}")
        self._show_labels(item)
        self.picture.show_photo([later.path for later in self.items], self.position)

    def _show_counter(self) -> None:
        self.counter.setText(f"{self.position + 1} of {len(self.items)}"
                             f"   ·   {self.queue.added} added")

    @Slot()
    def _queue_changed(self) -> None:
        if self.queue.failed:
            self._say(self.queue.message, failed=True)
        if self.stack.currentIndex() == 1:
            self._show_end()
        elif self.position < len(self.items):
            self._show_counter()

    def _show_end(self) -> None:
        skipped = sum(1 for _, addition in self.decisions if addition is None)
        self.end.show_outcome(self.queue.added_per_class(), not self.queue.idle,
                              len(self.decisions), len(self.items), skipped=skipped,
                              **self._end_extras())

    def _end_extras(self) -> dict[str, int]:
        """What else the end page counts (the multi-label review: photos added)."""
        return {}

    def _say(self, text: str, failed: bool = False) -> None:
        self.status.setText(text)
        self.status.setProperty("failed", failed)
        self.status.style().polish(self.status)
