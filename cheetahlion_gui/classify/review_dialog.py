"""Review the gallery's unsure and "none of these" photos one at a time, labelling by keyboard.

Each photo is shown large beside the dataset's classes, each with its number key and the
model's confidence in it. A number key copies the photo into that class of the open dataset
(undoable: `review_queue`, `training.insight.adding`), 0 or Space skips, Backspace or Ctrl+Z
takes the last decision back, N types a new class, Esc finishes. No key waits for anything:
the copies run in the background, in order, and the photos are decoded ahead of their turn
(`review_picture`). At the end the dialog says how many photos went in and offers to train
again; the page passes that on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.classify.review_base import ReviewBase
from cheetahlion_gui.classify.review_picture import REVIEW_SIZE
from cheetahlion_gui.classify.review_queue import Addition
from cheetahlion_gui.widgets.gallery_model import GalleryItem
from training.insight.adding import class_name_problem

KEYED_CLASSES = 9
"""Classes reachable by a number key (1-9); the rest by a click, or N and their name."""
GUESSES_SHOWN = 3
HELP = "0 or Space: skip\n⌫ or Ctrl+Z: undo the last\nEsc: finish"


class ReviewDialog(ReviewBase):
    """One photo at a time from `items`, to put into a class of the dataset at `root`.

    `model_classes` are the classes of the model that classified the gallery (its guesses),
    `classes` the dataset's; `new_classes` is False where the dataset cannot take a new
    class from here (it has its own train/val folders). `reasons`, one per item, say why
    each comes where it does (`review_order`: what its label would teach); `note` is the
    status line the review opens with (the order it is in).
    """

    def __init__(self, items: Sequence[GalleryItem], model_classes: Sequence[str],
                 classes: Sequence[str], root: Path, new_classes: bool = True,
                 parent: QWidget | None = None, *, reasons: Sequence[str] = (),
                 note: str = "") -> None:
        super().__init__(items, root, parent, reasons)
        self.model_classes = tuple(model_classes)
        self.classes = list(classes)
        self.new_classes = new_classes
        self.made_classes: set[str] = set()
        """Classes this review added (N): an undo that leaves one empty takes it back."""
        self.class_buttons = QButtonGroup(self)
        self.class_buttons.idClicked.connect(self._class_clicked)
        self.assemble(note)

    # --- layout -----------------------------------------------------------------------------

    def _review_page(self) -> QWidget:
        heading_widgets = self._heading_widgets()
        self.guesses = QLabel()
        self.guesses.setWordWrap(True)
        self.keys_box = QVBoxLayout()
        self.keys_box.setSpacing(4)
        self.new_class_button = _key_button("N   New class…")
        self.new_class_button.clicked.connect(self.ask_new_class)
        self.new_class_button.setEnabled(self.new_classes)
        if not self.new_classes:
            self.new_class_button.setToolTip("This dataset has its own train/val folders: "
                                             "make a new class's folders in both by hand.")
        self.new_class_edit = QLineEdit()
        self.new_class_edit.setPlaceholderText("New class name, Enter to add, Esc to cancel")
        self.new_class_edit.returnPressed.connect(self._new_class_entered)
        self.new_class_edit.setVisible(False)
        # The buttons show the model's confidence in each class; its own top guesses add
        # something only where its classes are not the dataset's (ImageNet's, say).
        guesses = [_subheading("The model's guesses"), self.guesses] \
            if set(self.model_classes) != set(self.classes) else []
        column = QVBoxLayout()
        for widget in (*heading_widgets, *guesses,
                       _subheading("Put it into (press its number)")):
            column.addWidget(widget)
        column.addLayout(self.keys_box)
        column.addWidget(self.new_class_button)
        column.addWidget(self.new_class_edit)
        column.addStretch(1)
        help_text = QLabel(HELP)
        help_text.setWordWrap(True)
        column.addWidget(help_text)
        column.addWidget(self.status)
        page = QWidget()
        row = QHBoxLayout(page)
        row.addWidget(self.picture)
        row.addLayout(column, 1)
        page.setMinimumWidth(REVIEW_SIZE + 320)
        self._fill_class_buttons()
        return page

    def _fill_class_buttons(self) -> None:
        """One button per class, its number key first; classes only grow (N adds one)."""
        for index in range(len(self.class_buttons.buttons()), len(self.classes)):
            button = _key_button(self.classes[index])
            self.class_buttons.addButton(button, index)
            self.keys_box.addWidget(button)

    # --- keys -------------------------------------------------------------------------------

    def _key_first(self, event: QKeyEvent) -> bool:
        """Esc while a new class's name is typed closes the box, nothing else."""
        if event.key() == Qt.Key.Key_Escape and self.new_class_edit.isVisible():
            self._close_new_class()
            return True
        return False

    def _labelling_key(self, event: QKeyEvent) -> bool:
        """1–9 put the photo into that class; N asks for a new class."""
        key = event.key()
        if Qt.Key.Key_1 <= key <= Qt.Key.Key_9:
            index = key - Qt.Key.Key_1
            if index < len(self.classes):
                self.decide(self.classes[index])
        elif key == Qt.Key.Key_N:
            self.ask_new_class()
        else:
            return False
        return True

    # --- deciding ---------------------------------------------------------------------------

    def decide(self, class_name: str | None) -> None:
        """Put the current photo into `class_name` (None: skip it) and show the next."""
        if self.position >= len(self.items):
            return
        item = self.items[self.position]
        addition = self.queue.add(item.path, class_name) if class_name else None
        name = Path(item.path).name
        self._decided(addition, f"{name} → {class_name}" if class_name else f"Skipped {name}")

    def _undo(self, addition: Addition, name: str) -> str:
        said = (f"Taking {name} out of '{addition.class_name}' again"
                if self.queue.undo(addition) else
                f"Back to {name} (it was not copied into '{addition.class_name}')")
        self._drop_unused_class(addition.class_name)
        return said

    def _drop_unused_class(self, name: str) -> None:
        """Take back a class this review made, once no decision puts a photo into it. Undos
        go newest first, so such a class is always the last one (classes only grow)."""
        if name not in self.made_classes or any(
                addition is not None and addition.class_name == name
                for _, addition in self.decisions):
            return
        index = self.classes.index(name)
        if index != len(self.classes) - 1:
            return
        self.made_classes.discard(name)
        self.classes.pop()
        button = self.class_buttons.button(index)
        self.class_buttons.removeButton(button)
        self.keys_box.removeWidget(button)
        button.hide()  # at once: its deletion waits for the event loop
        button.deleteLater()

    @Slot(int)
    def _class_clicked(self, index: int) -> None:
        self.picture.pressed_at = time.perf_counter()
        self.decide(self.classes[index])

    @Slot()
    def ask_new_class(self) -> None:
        if self.new_classes and self.stack.currentIndex() == 0:
            self.new_class_edit.clear()
            self.new_class_edit.setVisible(True)
            self.new_class_edit.setFocus()

    @Slot()
    def _new_class_entered(self) -> None:
        name = self.new_class_edit.text().strip()
        same = next((c for c in self.classes if c.lower() == name.lower()), None)
        problem = None if same else class_name_problem(name)
        if problem:
            self._say(problem, failed=True)
            return
        if same is None:
            self.classes.append(name)
            self.made_classes.add(name)
            self._fill_class_buttons()
        self._close_new_class()
        self.decide(same or name)

    def _close_new_class(self) -> None:
        self.new_class_edit.setVisible(False)
        self.setFocus()

    @Slot()
    def finish(self) -> None:
        self._close_new_class()
        super().finish()

    # --- showing ----------------------------------------------------------------------------

    def _show_labels(self, item: GalleryItem) -> None:
        self.reason.setText(
            "None of these: unlike every photo the model was trained on, so it suggests no "
            "class. Put it into one, N for a new class, or 0 to skip." if item.unfamiliar
            else f"Unsure: a {1 - (item.confidence or 0):.0%} chance this is wrong")
        self.reason.setObjectName("unfamiliar" if item.unfamiliar else "")
        self.reason.style().polish(self.reason)
        self._show_guesses(item)

    def _show_guesses(self, item: GalleryItem) -> None:
        """The model's confidence in each class beside its key, its guess framed; none of
        that for a "none of these" photo: a share of the softmax over classes the photo is
        unlike ("jaguar 92 %" for a photo of ants) is no suggestion."""
        chance = {} if item.unfamiliar else dict(
            zip(self.model_classes, item.probabilities, strict=False))
        ranked = sorted(chance.items(), key=lambda pair: -pair[1])[:GUESSES_SHOWN]
        self.guesses.setText("   ".join(f"{name} {p:.0%}" for name, p in ranked)
                             or "none: unlike its training photos")
        for index, name in enumerate(self.classes):
            button = self.class_buttons.button(index)
            key = f"{index + 1}   " if index < KEYED_CLASSES else "     "
            known = f"   {chance[name]:.0%}" if name in chance else ""
            button.setText(f"{key}{name}{known}")
            button.setProperty("guess", name == item.label and not item.unfamiliar)
            button.style().polish(button)


def _key_button(text: str) -> QPushButton:
    """A button that never takes the keyboard focus (Space must skip, not click it)."""
    button = QPushButton(text)
    button.setObjectName("classKey")
    button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    button.setAutoDefault(False)
    return button


def _subheading(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("subheading")
    return label
