"""Training settings: one frozen record, checked up front with messages a user can act on."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from training.core.errors import ConfigError
from training.records.backbones import BACKBONES, DEFAULT_BACKBONE

Mode = Literal["quick", "partial", "finetune"]
MODES = ("quick", "partial", "finetune")
OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "constant")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run. `quick()` is the default.

    quick: the pretrained backbone is frozen; its features are computed once per image and a
    linear head is trained on them (seconds on a few hundred photos).
    partial: quick mode first, then the last `top_blocks` blocks and the head train on
    activations at the cut, stored once per photo and view (`training.fitting.partial`).
    finetune: every weight of the network trains (minutes to hours on a CPU).
    """

    backbone: str = DEFAULT_BACKBONE
    mode: Mode = "quick"
    epochs: int = 30
    """Quick mode's 30 and patience 5 were measured on the real photos made harder (few-shot,
    greyscale thumbnails, mislabelled photos; docs/benchmarks.md "Quick mode's epochs"): the
    best epoch came at 1-3 from ImageNet's rows and 2-8 from scratch, and 30 epochs with
    patience 5 (stopping after 6-12) kept the very model 60 epochs without stopping found."""
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 1e-2
    optimizer: str = "adamw"
    schedule: str = "cosine"
    image_size: int | None = None
    """Input side in pixels; None uses the backbone's own (224; EfficientNet-Lite1: 240,
    -Lite2: 260)."""
    augment: bool = False
    rotate_degrees: float = 15.0
    flip_probability: float = 0.5
    rotate_probability: float = 0.5
    cutout_size: int = 0
    cutout_probability: float = 0.0
    feature_views: int = 0
    """quick and partial modes: extra augmented views of each training image whose features
    (partial: and activations at the cut) are cached."""
    top_blocks: int = 1
    """partial mode: how many of the network's last blocks train (with its conv_head and
    head); the activations entering them are stored (docs/benchmarks.md "CPU fine-tune")."""
    init_from_imagenet: bool = True
    """Start the head from ImageNet's classifier rows for classes whose names match."""
    label_smoothing: float = 0.0
    val_fraction: float = 0.2
    test_fraction: float = 0.0
    seed: int = 0
    early_stopping_patience: int = 5
    """Epochs without a better validation loss before stopping; 0 never stops early."""
    device: str = "auto"
    precision: str = "auto"
    """Fine-tuning on CUDA: "bf16"/"fp16" autocast (fp16 with loss scaling); "auto" is
    bf16 where the GPU supports it. CPUs always train in float32 ("fp32")."""

    @classmethod
    def quick(cls, **overrides: Any) -> TrainConfig:
        return cls(**overrides).validated()

    @classmethod
    def finetune(cls, **overrides: Any) -> TrainConfig:
        """Full fine-tuning tuned for a CPU: small batches (they avoid the page-fault storm of
        batch 32 on small machines), a few epochs, gentle augmentation."""
        base = cls(mode="finetune", epochs=5, batch_size=16, learning_rate=2e-4,
                   weight_decay=1e-2, augment=True, early_stopping_patience=3)
        return replace(base, **overrides).validated()

    @classmethod
    def partial(cls, **overrides: Any) -> TrainConfig:
        """The CPU fine-tune (issue 25): the last block, conv_head and head on stored
        activations of the centre crop and two augmented views; AdamW at 1e-4 (1e-3 threw
        the loss from 0.1 to 17 in one step), a few epochs, early stopping on validation.
        On 585 hard training images (docs/benchmarks.md "CPU fine-tune", the hard set) these
        won on validation on both seeds tried: 0.816 / 0.857 against 3e-4's 0.810 / 0.823
        and no augmented views' 0.776 / 0.769; the best epoch came at 1-3."""
        base = cls(mode="partial", epochs=8, batch_size=32, learning_rate=1e-4,
                   weight_decay=1e-2, feature_views=2, early_stopping_patience=3)
        return replace(base, **overrides).validated()

    @classmethod
    def tutorial_recipe(cls, **overrides: Any) -> TrainConfig:
        """The beginners' tutorial's recipe: Adam, lr 1e-4, cosine per batch, 5 epochs,
        batch 32, 256 px, rotate ±45° p=0.6, flip p=0.6, one 64 px cut-out p=0.3."""
        base = cls(
            mode="finetune", epochs=5, batch_size=32, learning_rate=1e-4, weight_decay=0.0,
            optimizer="adam", schedule="cosine", image_size=256, augment=True,
            rotate_degrees=45.0, rotate_probability=0.6, flip_probability=0.6,
            cutout_size=64, cutout_probability=0.3, init_from_imagenet=False,
            early_stopping_patience=0,
        )
        return replace(base, **overrides).validated()

    def validated(self) -> TrainConfig:
        """Return self, or raise `ConfigError` saying which setting is wrong and why."""
        problems: list[str] = []

        def need(ok: bool, message: str) -> None:
            if not ok:
                problems.append(message)

        need(self.backbone in BACKBONES,
             f"backbone '{self.backbone}' is unknown (choose from {', '.join(BACKBONES)})")
        need(self.mode in MODES, f"mode must be one of {', '.join(MODES)}, not '{self.mode}'")
        need(1 <= self.epochs <= 10_000, f"epochs must be 1 to 10000, not {self.epochs}")
        need(1 <= self.batch_size <= 4096, f"batch size must be 1 to 4096, not {self.batch_size}")
        need(0 < self.learning_rate <= 10,
             f"learning rate must be above 0 and at most 10, not {self.learning_rate:g}")
        need(0 <= self.weight_decay <= 1, f"weight decay must be 0 to 1, not {self.weight_decay:g}")
        need(self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}")
        need(self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}")
        need(self.image_size is None or 32 <= self.image_size <= 1024,
             f"image size must be 32 to 1024 pixels, not {self.image_size}")
        need(0 <= self.rotate_degrees <= 180, "rotation must be 0 to 180 degrees")
        for name in ("flip_probability", "rotate_probability", "cutout_probability"):
            need(0 <= getattr(self, name) <= 1, f"{name.replace('_', ' ')} must be 0 to 1")
        need(0 <= self.cutout_size <= 1024, "cut-out size must be 0 to 1024 pixels")
        need(0 <= self.feature_views <= 16, "feature views must be 0 to 16")
        need(0 <= self.top_blocks <= 64, f"top blocks must be 0 to 64, not {self.top_blocks}")
        need(0 <= self.label_smoothing < 1, "label smoothing must be at least 0 and below 1")
        need(0 < self.val_fraction < 1, "validation fraction must be between 0 and 1")
        need(0 <= self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1,
             "validation and test fractions together must leave images for training")
        need(0 <= self.early_stopping_patience <= 10_000, "patience must be 0 or more")
        need(self.device in DEVICES, f"device must be one of {', '.join(DEVICES)}")
        need(self.precision in PRECISIONS,
             f"precision must be one of {', '.join(PRECISIONS)}, not '{self.precision}'")
        need(isinstance(self.seed, int) and self.seed >= 0, "seed must be a whole number ≥ 0")
        if problems:
            raise ConfigError("Invalid training settings: " + "; ".join(problems) + ".")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a plain dict (e.g. a model file's metadata), ignoring unknown keys."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known}).validated()
