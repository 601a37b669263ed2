"""Review a multi-label gallery's unsure photos one at a time, ticking labels by keyboard.

Each photo is shown large beside every label of the open dataset as a toggle with the
model's probability and threshold for it, ticked where the model gave the label. Keys 1–9
toggle labels 1–9, Enter puts the photo into the dataset with the ticked labels and shows
the next, 0 or Space skips, Backspace (or Ctrl+Z) goes back to the photo before and takes
its addition back, Esc finishes. The additions run in the background, in order
(`review_queue`, `training.insight.multilabel_adding`): in a labels.csv dataset the photo is
copied in and its row appended; in label folders it is copied into each ticked label's
folder. The photos come in the order a label teaches most (`review_order`, which the page
runs first) with a "Why now" line each, or most unsure first with a note when that ordering
failed. The end page counts the photos labelled and skipped and each label, and offers to
train again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.classify.review_end import ReviewEnd
from cheetahlion_gui.classify.review_picture import REVIEW_SIZE, ReviewPicture
from cheetahlion_gui.classify.review_queue import Addition, AdditionQueue
from cheetahlion_gui.widgets.gallery_model import GalleryItem
from training.records.multilabel import LABEL_SEPARATOR, UNSURE_BAND, label_doubt

KEYED_LABELS = 9
"""Labels a number key toggles (1-9); the rest by a click."""
HELP = ("Enter: add it with the ticked labels\n0 or Space: skip\n⌫ or Ctrl+Z: back to the "
        "last photo\nEsc: finish")


class MultiLabelReviewDialog(QDialog):
    """One photo at a time from `items`, into the multi-label dataset at `root` with the
    labels the user ticks among `labels` (the dataset's). `model_labels` and `thresholds`
    are the model's, whose probabilities the items carry. `reasons`, one per item, say why
    each comes where it does (`review_order`); `note` is the status line the review opens
    with (the order it is in)."""

    photo_shown = Signal(int, bool, float)
    """(position, whether it had to wait for decoding, seconds since the key was pressed)"""

    def __init__(self, items: Sequence[GalleryItem], model_labels: Sequence[str],
                 thresholds: Sequence[float], labels: Sequence[str], root: Path,
                 parent: QWidget | None = None, *, reasons: Sequence[str] = (),
                 note: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Review unsure photos")
        self.items = list(items)
        self.reasons = tuple(reasons)
        self.model_labels, self.thresholds = tuple(model_labels), tuple(thresholds)
        self.labels = tuple(labels)
        self.position = 0
        self.decisions: list[tuple[int, Addition | None]] = []
        self.ticks: dict[int, frozenset[str]] = {}
        """The labels ticked for each photo reviewed (shown again when going back)."""
        self.train_requested = False
        self.queue = AdditionQueue(root, self)
        self.queue.changed.connect(self._queue_changed)
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
        self.reason.setVisible(not self.reasons)  # "Why now" names the unsure labels too
        heading = QLabel("Its labels (press a number to tick or untick)")
        heading.setObjectName("subheading")
        column = QVBoxLayout()
        for widget in (self.counter, self.file_name, self.reason, self.teaches, heading):
            column.addWidget(widget)
        self.toggles: list[QCheckBox] = []
        for index in range(len(self.labels)):
            toggle = QCheckBox()
            toggle.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space skips, never ticks
            toggle.setToolTip(f"Key {index + 1}" if index < KEYED_LABELS else "")
            self.toggles.append(toggle)
            column.addWidget(toggle)
        column.addStretch(1)
        help_text = QLabel(HELP)
        help_text.setWordWrap(True)
        column.addWidget(help_text)
        self.status = QLabel()
        self.status.setObjectName("reviewStatus")
        self.status.setWordWrap(True)
        column.addWidget(self.status)
        page = QWidget()
        row = QHBoxLayout(page)
        row.addWidget(self.picture)
        row.addLayout(column, 1)
        page.setMinimumWidth(REVIEW_SIZE + 360)
        return page

    # --- keys -------------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        self.picture.pressed_at = time.perf_counter()
        key = event.key()
        if key == Qt.Key.Key_Backspace or event.matches(QKeySequence.StandardKey.Undo):
            self.back()
        elif key == Qt.Key.Key_Escape:
            self.reject()
        elif self.stack.currentIndex() == 1:
            super().keyPressEvent(event)  # the end page: its buttons
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.decide(self.ticked())
        elif key in (Qt.Key.Key_0, Qt.Key.Key_Space):
            self.decide(None)
        elif Qt.Key.Key_1 <= key <= Qt.Key.Key_9:
            index = key - Qt.Key.Key_1
            if index < len(self.toggles):
                self.toggles[index].toggle()
        else:
            super().keyPressEvent(event)

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

    # --- deciding ---------------------------------------------------------------------------

    def ticked(self) -> tuple[str, ...]:
        return tuple(label for toggle, label in zip(self.toggles, self.labels, strict=True)
                     if toggle.isChecked())

    def decide(self, labels: tuple[str, ...] | None) -> None:
        """Add the current photo with `labels` (None: skip it) and show the next."""
        if self.position >= len(self.items):
            return
        item = self.items[self.position]
        self.ticks[self.position] = frozenset(self.ticked())
        addition = None if labels is None else self.queue.add(
            item.path, LABEL_SEPARATOR.join(labels), labels=labels)
        self.decisions.append((self.position, addition))
        name = Path(item.path).name
        self._say(f"Skipped {name}" if labels is None else
                  f"{name} → {', '.join(labels) or 'no label'}")
        self.position += 1
        self._show_current()

    def back(self) -> None:
        """Back to the photo before, its addition taken back, its ticks as they were."""
        if not self.decisions:
            self._say("Nothing to go back to yet.")
            return
        self.position, addition = self.decisions.pop()
        name = Path(self.items[self.position].path).name
        if addition is None:
            self._say(f"Back to {name}")
        elif self.queue.undo(addition):
            self._say(f"Taking {name} out of the dataset again")
        else:
            self._say(f"Back to {name} (it was not added)")
        self.stack.setCurrentIndex(0)
        self._show_current()

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
        self.counter.setText(f"{self.position + 1} of {len(self.items)}"
                             f"   ·   {self.queue.added} added")
        self.file_name.setText(Path(item.path).name)
        self.file_name.setToolTip(item.path)
        chance = dict(zip(self.model_labels, zip(item.probabilities, self.thresholds,
                                                 strict=False), strict=False))
        self.reason.setText(self._reason(chance))
        if self.position < len(self.reasons):
            self.teaches.setText(f"Why now: {self.reasons[self.position]}")
        ticked = self.ticks.get(self.position, frozenset(item.labels or ()))
        for index, (toggle, label) in enumerate(zip(self.toggles, self.labels, strict=True)):
            key = f"{index + 1}   " if index < KEYED_LABELS else "     "
            known = chance.get(label)
            shown = f"   {known[0]:.0%} (threshold {known[1]:.0%})" if known else ""
            toggle.setText(f"{key}{label.replace('&', '&&')}{shown}")  # & is no shortcut
            toggle.setChecked(label in ticked)
        self.picture.show_photo([later.path for later in self.items], self.position)

    def _reason(self, chance: dict[str, tuple[float, float]]) -> str:
        """Which label is in doubt: the one nearest its threshold (`label_doubt`)."""
        doubts = {label: label_doubt([p], [t]) or 0.0 for label, (p, t) in chance.items()}
        if not doubts:
            return "Unsure"
        label = min(doubts, key=lambda name: doubts[name])
        p, t = chance[label]
        close = sum(1 for doubt in doubts.values() if doubt < UNSURE_BAND) - 1
        others = f"; {close} more near theirs" if close > 0 else ""
        return f"Unsure: '{label}' is at {p:.0%}, its threshold {t:.0%}{others}"

    @Slot()
    def _queue_changed(self) -> None:
        if self.queue.failed:
            self._say(self.queue.message, failed=True)
        if self.stack.currentIndex() == 1:
            self._show_end()
        elif self.position < len(self.items):
            self.counter.setText(f"{self.position + 1} of {len(self.items)}"
                                 f"   ·   {self.queue.added} added")

    def _show_end(self) -> None:
        skipped = sum(1 for _, addition in self.decisions if addition is None)
        self.end.show_outcome(self.queue.added_per_class(), not self.queue.idle,
                              len(self.decisions), len(self.items), photos=self.queue.added,
                              skipped=skipped)

    def _say(self, text: str, failed: bool = False) -> None:
        self.status.setText(text)
        self.status.setProperty("failed", failed)
        self.status.style().polish(self.status)
