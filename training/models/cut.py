"""A network cut in two: the frozen bottom, run once per photo, and the top that trains.

A partial fine-tune (`training.fitting.partial`) trains only the last `top_blocks` blocks of
an EfficientNet (timm's `blocks.<stage>.<j>`, counted from the end), its 1×1 `conv_head`
with its batch norm, and the classifier. The activations entering the first of those blocks
are what the bottom computes; they are stored per photo and view
(`training.models.activations`), so an epoch runs the top only.

`top_blocks` 0 trains the `conv_head` and the classifier on the last block's output. Only
networks built the timm EfficientNet way (`blocks` a sequence of stages, then `conv_head`,
`bn2`, pooling, classifier) can be cut; `cuttable` says whether a network is one.
"""

from __future__ import annotations

import torch
from torch import nn

from training.core.errors import ConfigError


def flat_blocks(network: nn.Module) -> list[nn.Module]:
    """Every block of the network, in order (stages flattened)."""
    return [block for stage in network.blocks for block in stage]


def cuttable(network: nn.Module) -> bool:
    """Whether `network` has the timm EfficientNet layout a cut needs."""
    return all(hasattr(network, name) for name in ("blocks", "conv_stem", "bn1", "conv_head",
                                                   "bn2", "global_pool"))


def check_cut(network: nn.Module, top_blocks: int, backbone: str) -> None:
    """Raise `ConfigError` naming what to do when `network` cannot be cut there."""
    if not cuttable(network):
        raise ConfigError(f"A partial fine-tune needs an EfficientNet-Lite network; "
                          f"'{backbone}' cannot be cut. Choose mode finetune for it.")
    blocks = len(flat_blocks(network))
    if not 0 <= top_blocks < blocks:
        raise ConfigError(f"top blocks must be 0 to {blocks - 1} for '{backbone}', "
                          f"not {top_blocks}.")


def blocks_above(network: nn.Module, top_blocks: int) -> list[nn.Module]:
    """The blocks above the cut, in order: the ones `pooled` runs and a fine-tune trains."""
    blocks = flat_blocks(network)
    return blocks[len(blocks) - top_blocks:]


def top_modules(network: nn.Module, top_blocks: int) -> list[nn.Module]:
    """The modules above the cut, whose weights a partial fine-tune trains."""
    return [*blocks_above(network, top_blocks), network.conv_head, network.bn2,
            network.get_classifier()]


def freeze_below(network: nn.Module, top_blocks: int) -> None:
    """Gradients only for the top's parameters."""
    trained = {id(p) for module in top_modules(network, top_blocks) for p in module.parameters()}
    for parameter in network.parameters():
        parameter.requires_grad_(id(parameter) in trained)


def bottom(network: nn.Module, inputs: torch.Tensor, top_blocks: int) -> torch.Tensor:
    """Normalised pixels → the activations entering the top (no gradients asked)."""
    blocks = flat_blocks(network)
    x = network.bn1(network.conv_stem(inputs))
    for block in blocks[:len(blocks) - top_blocks]:
        x = block(x)
    return x


def pooled(network: nn.Module, activations: torch.Tensor, top_blocks: int) -> torch.Tensor:
    """Activations at the cut → the pooled features the classifier reads."""
    x = activations
    for block in blocks_above(network, top_blocks):
        x = block(x)
    x = network.bn2(network.conv_head(x))
    return network.forward_head(x, pre_logits=True)


def top(network: nn.Module, activations: torch.Tensor, top_blocks: int) -> torch.Tensor:
    """Activations at the cut → logits."""
    return network.get_classifier()(pooled(network, activations, top_blocks))


def cut_shape(network: nn.Module, crop: int, top_blocks: int) -> tuple[int, int, int]:
    """(channels, height, width) of one image's activations at the cut, for a `crop` input."""
    with torch.no_grad():
        was_training = network.training
        network.eval()
        probe = next(network.parameters()).new_zeros((1, 3, crop, crop))
        shape = tuple(bottom(network, probe, top_blocks).shape[1:])
        network.train(was_training)
    return shape  # type: ignore[return-value]
