"""File → Preferences…: the settings that are the app's, not one step's.

One so far, the frozen network's precision: float (the default, most accurate), automatic
(8-bit where it classified as accurately and was faster) or 8-bit (faster, may lose accuracy
on small or grey photos). A dialog rather than a
menu of checkable actions: each choice needs its sentence of what it costs, and the user
should see what runs now before changing it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QLabel,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from cheetahlion_gui.frozen_runtime import PRECISION_CHOICES, FrozenRuntime

HINT = ("Used for training, the finder and the map. A trained model classifies with the "
        "precision it was trained on. Changing it prepares the network again in the "
        "background (8-bit: up to half a minute, once per computer).")


class PreferencesDialog(QDialog):
    """Window-modal; OK hands the chosen precision to `runtime` (which saves and applies
    it in the background); Cancel changes nothing."""

    def __init__(self, runtime: FrozenRuntime, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("preferencesDialog")
        self.setWindowTitle("Preferences")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.runtime = runtime
        self.choices = QButtonGroup(self)
        group = QGroupBox("Frozen network precision")
        rows = QVBoxLayout(group)
        for number, (value, name, meaning) in enumerate(PRECISION_CHOICES):
            button = QRadioButton(name)
            button.setObjectName(f"precision_{value}")
            button.setProperty("precision", value)
            button.setChecked(value == runtime.settings.frozen_precision)
            self.choices.addButton(button, number)
            explanation = QLabel(meaning)
            explanation.setWordWrap(True)
            explanation.setIndent(24)
            rows.addWidget(button)
            rows.addWidget(explanation)
        hint = QLabel(HINT)
        hint.setWordWrap(True)
        rows.addWidget(hint)
        prepared = runtime.prepared
        why = (f" (Automatic chose float here: {prepared.automatic_float}.)"
               if prepared is not None and prepared.automatic_float else "")
        self.in_use = QLabel(f"Running now: {runtime.words}{why}")
        self.in_use.setWordWrap(True)
        rows.addWidget(self.in_use)
        rows.addStretch(1)  # spare height below, not between a choice and its sentence
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(group)
        layout.addWidget(buttons)
        self.setMinimumWidth(460)
        self.resize(460, self.heightForWidth(460))  # wrapped sentences: no empty band below
        self.accepted.connect(self._apply)

    def chosen(self) -> str:
        """The precision whose button is checked ("float", "int8" or "auto")."""
        return str(self.choices.checkedButton().property("precision"))

    def button(self, precision: str) -> QRadioButton:
        found = self.findChild(QRadioButton, f"precision_{precision}")
        assert found is not None, precision
        return found

    @Slot()
    def _apply(self) -> None:
        self.runtime.choose(self.chosen())
