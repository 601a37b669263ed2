"""The Train step's settings: network, mode, epochs… and the advanced ones, as a TrainConfig.

Choosing a mode loads that mode's preset (keeping the network and the seed); the tutorial's
recipe is one click. Settings the form does not show keep the preset's values.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from training.records.backbones import BACKBONES, DEFAULT_BACKBONE, Backbone
from training.records.config import TrainConfig

MODES = (("Quick (seconds)", "quick",
          "Quick: train only the last layer, on the frozen network's features (seconds). "
          "Often all that is needed."),
         ("Fine-tune the top (a few minutes)", "partial",
          "Fine-tune the top: quick mode first, then the network's last block and the last "
          "layer train on activations stored once per photo (a few minutes on a CPU). Keeps "
          "quick mode's model when it is no better on validation."),
         ("Fine-tune everything (slow)", "finetune",
          "Fine-tune everything: every weight of the network trains (minutes to hours on a "
          "CPU). For a GPU, or when you want it."))
"""Each mode's text in the list, its engine name, and its tooltip."""
PRESETS = {"quick": TrainConfig.quick, "partial": TrainConfig.partial,
           "finetune": TrainConfig.finetune}


class TrainForm(QWidget):
    """The settings of the next run; `config()` reads them back, validated."""

    finetune_chosen = Signal()
    """The form now holds a fine-tune (picked, or a preset): time to get a process ready."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.backbone = QComboBox()
        for index, backbone in enumerate(BACKBONES.values()):
            self.backbone.addItem(_choice_text(backbone), backbone.name)
            self.backbone.setItemData(index, f"{backbone.title}: {backbone.availability}",
                                      Qt.ItemDataRole.ToolTipRole)
        self.backbone.setCurrentIndex(list(BACKBONES).index(DEFAULT_BACKBONE))
        # As wide as its longest choice, which the short texts keep within the Train step's
        # 1280-px layout: a choice cut when chosen ("…— downloads on fir") reads wrong.
        self.backbone.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.mode = QComboBox()
        for index, (text, name, tip) in enumerate(MODES):
            self.mode.addItem(text, name)
            self.mode.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)
        self.mode.setToolTip("\n".join(tip for _text, _name, tip in MODES))
        self.mode.currentIndexChanged.connect(self._mode_chosen)
        self._multilabel = False
        self.backbone.currentIndexChanged.connect(self._offer_partial)
        self.recipe_button = QPushButton("Use the tutorial's recipe")
        self.recipe_button.setToolTip("Adam, lr 1e-4, cosine, 5 epochs, batch 32, 256 px, "
                                      "rotate ±45°, flip, cut-out")
        self.recipe_button.clicked.connect(self.use_tutorial_recipe)
        self.epochs = _spin(1, 10_000)
        self.learning_rate = QDoubleSpinBox()
        self.learning_rate.setDecimals(5)
        self.learning_rate.setRange(0.00001, 1.0)
        self.learning_rate.setSingleStep(0.0001)
        self.batch_size = _spin(1, 1024)
        self.augment = QCheckBox("Augment images (flips, rotations)")
        self.seed = _spin(0, 2**31 - 1)
        form = QFormLayout()
        form.addRow("Network", self.backbone)
        form.addRow("Mode", self.mode)
        form.addRow("", self.recipe_button)
        form.addRow("Epochs", self.epochs)
        form.addRow("Learning rate", self.learning_rate)
        form.addRow("Batch size", self.batch_size)
        form.addRow("", self.augment)
        form.addRow("Seed", self.seed)
        self.advanced = self._advanced_settings()
        self._advanced_toggled(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.advanced)
        self.apply_config(TrainConfig.quick())
        self._offer_partial()

    def _advanced_settings(self) -> QGroupBox:
        """The settings few runs change, folded away until the box is ticked."""
        advanced = QGroupBox("Advanced")
        advanced.setCheckable(True)
        advanced.setChecked(False)
        self.image_size = _spin(0, 1024)
        self.image_size.setSpecialValueText("backbone default")
        self.patience = _spin(0, 10_000)
        self.patience.setSpecialValueText("never stop early")
        self.val_fraction = QDoubleSpinBox()
        self.val_fraction.setRange(0.05, 0.5)
        self.val_fraction.setSingleStep(0.05)
        self.feature_views = _spin(0, 16)
        self.weight_decay = QDoubleSpinBox()
        self.weight_decay.setDecimals(4)
        self.weight_decay.setRange(0, 1)
        self.patience.setToolTip("Early stopping: how many epochs without a better "
                                 "validation loss before training stops")
        self.feature_views.setToolTip("Quick mode: extra augmented views of each training "
                                      "image whose features are computed and kept")
        form = QFormLayout(advanced)
        form.addRow("Image size (px)", self.image_size)
        form.addRow("Patience (epochs)", self.patience)
        form.addRow("Validation fraction", self.val_fraction)
        form.addRow("Extra views (quick)", self.feature_views)
        form.addRow("Weight decay", self.weight_decay)
        advanced.toggled.connect(self._advanced_toggled)
        return advanced

    def apply_config(self, config: TrainConfig) -> None:
        """Show `config` (a preset, or the settings of the run about to train)."""
        self.backbone.setCurrentIndex(max(0, self.backbone.findData(config.backbone)))
        self.mode.blockSignals(True)
        self.mode.setCurrentIndex(self.mode.findData(config.mode))
        self.mode.blockSignals(False)
        self.epochs.setValue(config.epochs)
        self.learning_rate.setValue(config.learning_rate)
        self.batch_size.setValue(config.batch_size)
        self.augment.setChecked(config.augment)
        self.seed.setValue(config.seed)
        self.image_size.setValue(config.image_size or 0)
        self.patience.setValue(config.early_stopping_patience)
        self.val_fraction.setValue(config.val_fraction)
        self.feature_views.setValue(config.feature_views)
        self.weight_decay.setValue(config.weight_decay)
        self._preset = config

    def _chosen(self, config: TrainConfig) -> None:
        """The user picked a preset: show it, and have a fine-tune's process got ready."""
        self.apply_config(config)
        if config.mode == "finetune":
            self.finetune_chosen.emit()

    def config(self) -> TrainConfig:
        """The form as a validated `TrainConfig`, keeping the preset's other settings."""
        return replace(
            self._preset,
            backbone=self.backbone.currentData(), mode=self.mode.currentData(),
            epochs=self.epochs.value(), learning_rate=self.learning_rate.value(),
            batch_size=self.batch_size.value(), augment=self.augment.isChecked(),
            seed=self.seed.value(), image_size=self.image_size.value() or None,
            early_stopping_patience=self.patience.value(),
            val_fraction=round(self.val_fraction.value(), 4),
            feature_views=self.feature_views.value(),
            weight_decay=self.weight_decay.value(),
        ).validated()

    @Slot(int)
    def _mode_chosen(self, _index: int) -> None:
        keep = {"backbone": self.backbone.currentData(), "seed": self.seed.value()}
        self._chosen(PRESETS[self.mode.currentData()](**keep))

    def set_multilabel(self, multilabel: bool) -> None:
        """The open dataset is multi-label (True) or has class folders: what it offers."""
        self._multilabel = multilabel
        self._offer_partial()

    def partial_unavailable(self) -> str | None:
        """Why "Fine-tune the top" cannot train this network or dataset, or None."""
        if self._multilabel:
            return ("Fine-tune the top trains class-folder datasets only for now: use Quick "
                    "or Fine-tune everything for a multi-label dataset.")
        backbone = self.backbone.currentData()
        if not str(backbone).startswith("efficientnet_lite"):
            return (f"Fine-tune the top needs an EfficientNet-Lite network; "
                    f"{self.backbone.currentText()} cannot be cut there. Choose "
                    "EfficientNet-Lite0, -Lite1 or -Lite2, or Fine-tune everything.")
        return None

    @Slot()
    def _offer_partial(self) -> None:
        """Enable "Fine-tune the top" only where the engine can train it; else grey it, its
        tooltip saying why, and leave it for quick mode if it was chosen."""
        index = self.mode.findData("partial")
        item = self.mode.model().item(index)  # type: ignore[attr-defined]
        reason = self.partial_unavailable()
        item.setEnabled(reason is None)
        item.setToolTip(reason or MODES[index][2])
        if reason is not None and self.mode.currentIndex() == index:
            self.mode.setCurrentIndex(self.mode.findData("quick"))

    @Slot()
    def use_tutorial_recipe(self) -> None:
        self._chosen(TrainConfig.tutorial_recipe(seed=self.seed.value()))
        self.advanced.setChecked(True)

    @Slot(bool)
    def _advanced_toggled(self, shown: bool) -> None:
        for child in self.advanced.findChildren(QWidget):
            child.setVisible(shown)
        self.advanced.setFlat(not shown)  # folded: its title alone, not an empty frame


def _spin(low: int, high: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    return spin


def _choice_text(backbone: Backbone) -> str:
    """A network's line in the list: its title when its weights are here, else its name and
    what it needs in one word ("ResNet-50 (download)"); the tooltip says it in full."""
    if backbone.availability in ("available offline", "downloaded"):
        return backbone.title
    need = "download" if backbone.needs_download else "missing"
    return f"{backbone.title.split(' (')[0]} ({need})"
