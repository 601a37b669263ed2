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

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from cheetahlion_gui.classify.review_base import ReviewBase
from cheetahlion_gui.classify.review_picture import REVIEW_SIZE
from cheetahlion_gui.classify.review_queue import Addition
from cheetahlion_gui.widgets.gallery_model import GalleryItem
from training.records.multilabel import LABEL_SEPARATOR, UNSURE_BAND, label_doubt

KEYED_LABELS = 9
"""Labels a number key toggles (1-9); the rest by a click."""
HELP = ("Enter: add it with the ticked labels\n0 or Space: skip\n⌫ or Ctrl+Z: back to the "
        "last photo\nEsc: finish")


class MultiLabelReviewDialog(ReviewBase):
    """One photo at a time from `items`, into the multi-label dataset at `root` with the
    labels the user ticks among `labels` (the dataset's). `model_labels` and `thresholds`
    are the model's, whose probabilities the items carry. `reasons`, one per item, say why
    each comes where it does (`review_order`); `note` is the status line the review opens
    with (the order it is in)."""

    def __init__(self, items: Sequence[GalleryItem], model_labels: Sequence[str],
                 thresholds: Sequence[float], labels: Sequence[str], root: Path,
                 parent: QWidget | None = None, *, reasons: Sequence[str] = (),
                 note: str = "") -> None:
        super().__init__(items, root, parent, reasons)
        self.model_labels, self.thresholds = tuple(model_labels), tuple(thresholds)
        self.labels = tuple(labels)
        self.ticks: dict[int, frozenset[str]] = {}
        """The labels ticked for each photo reviewed (shown again when going back)."""
        self.assemble(note)

    def _review_page(self) -> QWidget:
        heading_widgets = self._heading_widgets()
        self.reason.setVisible(not self.reasons)  # "Why now" names the unsure labels too
        heading = QLabel("Its labels (press a number to tick or untick)")
        heading.setObjectName("subheading")
        column = QVBoxLayout()
        for widget in (*heading_widgets, heading):
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
        column.addWidget(self.status)
        page = QWidget()
        row = QHBoxLayout(page)
        row.addWidget(self.picture)
        row.addLayout(column, 1)
        page.setMinimumWidth(REVIEW_SIZE + 360)
        return page

    # --- keys -------------------------------------------------------------------------------

    def _labelling_key(self, event: QKeyEvent) -> bool:
        """Enter adds the photo with the ticked labels; 1–9 tick or untick a label."""
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.decide(self.ticked())
        elif Qt.Key.Key_1 <= key <= Qt.Key.Key_9:
            index = key - Qt.Key.Key_1
            if index < len(self.toggles):
                self.toggles[index].toggle()
        else:
            return False
        return True

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
        name = Path(item.path).name
        self._decided(addition, f"Skipped {name}" if labels is None else
                      f"{name} → {', '.join(labels) or 'no label'}")

    def _undo(self, addition: Addition, name: str) -> str:
        """The photo's ticks come back as they were: `ticks` keeps them per position."""
        if self.queue.undo(addition):
            return f"Taking {name} out of the dataset again"
        return f"Back to {name} (it was not added)"

    # --- showing ----------------------------------------------------------------------------

    def _show_labels(self, item: GalleryItem) -> None:
        chance = dict(zip(self.model_labels, zip(item.probabilities, self.thresholds,
                                                 strict=False), strict=False))
        self.reason.setText(self._reason(chance))
        ticked = self.ticks.get(self.position, frozenset(item.labels or ()))
        for index, (toggle, label) in enumerate(zip(self.toggles, self.labels, strict=True)):
            key = f"{index + 1}   " if index < KEYED_LABELS else "     "
            known = chance.get(label)
            shown = f"   {known[0]:.0%} (threshold {known[1]:.0%})" if known else ""
            toggle.setText(f"{key}{label.replace('&', '&&')}{shown}")  # & is no shortcut
            toggle.setChecked(label in ticked)

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

    def _end_extras(self) -> dict[str, int]:
        return {"photos": self.queue.added}
