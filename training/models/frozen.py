"""A network whose backbone does not change, seen as a function from pixels to features.

Everything that runs a network without training it needs only the pooled features (what
the classifier reads): the classifier itself is one small matrix product applied after. So
`FrozenFeatures` gives features for uint8 pixels on the fastest runtime that agrees with
PyTorch (`training.models.onnx_features`), and `weights_digest` names the backbone's
weights, which is what the feature store files features under: a quick-mode model shares
its backbone with the pretrained network, so its features are the finder's.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import nn

from training.core.runtime import resolve_device
from training.data.tensors import normalize
from training.models.networks import load_pretrained
from training.models.onnx_features import FeatureRunner, has_graph, onnx_runner
from training.records.backbones import DEFAULT_BACKBONE, get_backbone
from training.records.preprocessing import Preprocessing

ONNX_RUNTIME = "onnxruntime"
PYTORCH = "pytorch"
PYTORCH_MAKER = "pytorch"
"""What the feature store records as the maker of vectors PyTorch computed (a graph's
vectors name the graph's digest instead: `onnx_features.CheckedGraph.maker`)."""
EXPORT_WORTHWHILE = 200
"""Photos to embed from which exporting a network's graph pays for itself at once."""


def weights_digest(network: nn.Module) -> str:
    """A hash of every weight and buffer except the classifier's: equal for any two
    networks that compute the same features."""
    head = network.get_classifier()
    prefix = next(f"{name}." for name, module in network.named_modules() if module is head)
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(network.state_dict().items()):
        if name.startswith(prefix):
            continue
        data = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{tuple(data.shape)}:{data.dtype}\0".encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class FrozenFeatures:
    """uint8 (N, 3, crop, crop) pixels → float32 (N, D) features of `network`.

    The runtime is chosen on first use, not on construction: a caller whose features are
    all in the store never pays for exporting or loading a graph.
    """

    def __init__(self, network: nn.Module, prep: Preprocessing, device: torch.device,
                 digest: str | None = None) -> None:
        self.network = network.eval()
        self.prep = prep
        self.device = device
        self.digest = digest or weights_digest(network)
        self.width = network.get_classifier().in_features
        self._runner: FeatureRunner | None = None
        self.runtime: str | None = None
        """"onnxruntime" or "pytorch" once chosen; None before the first batch."""
        self.maker = PYTORCH_MAKER
        """Who computes the features once the runtime is chosen: "pytorch", or the checked
        graph's "onnx:<digest>" (the feature store files each vector under its maker)."""

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        if self._runner is None:
            self.prepare(len(pixels))
        assert self._runner is not None
        return torch.from_numpy(self._runner(pixels.numpy()))

    def prepare(self, images: int = EXPORT_WORTHWHILE) -> str:
        """Choose (and build) the runtime for about `images` photos; returns its name.

        Exporting a graph takes about as long as embedding a few hundred photos with
        PyTorch, so a network without a cached graph is exported only for a job at least
        `EXPORT_WORTHWHILE` photos long; later jobs, however small, find the graph.
        """
        if self._runner is None:
            self._choose(export=images >= EXPORT_WORTHWHILE)
        assert self.runtime is not None
        return self.runtime

    def _choose(self, export: bool) -> None:
        runner = None
        if self.device.type == "cpu" and (export or has_graph(self.digest, self.prep)):
            runner = onnx_runner(self.network, self.prep, self.digest, self._torch_features)
        self._runner = runner or self._torch_features
        self.runtime = ONNX_RUNTIME if runner is not None else PYTORCH
        self.maker = runner.maker if runner is not None else PYTORCH_MAKER

    def _torch_features(self, pixels: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            inputs = normalize(torch.from_numpy(pixels).to(self.device), self.prep)
            if self.device.type == "cpu":
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            network = self.network
            pooled = network.forward_head(network.forward_features(inputs), pre_logits=True)
            return pooled.float().cpu().numpy()


def pretrained_frozen(backbone: str = DEFAULT_BACKBONE) -> FrozenFeatures:
    """The ImageNet-pretrained `backbone` as frozen features, on the best device (channels
    last on the CPU, where that is faster), for every pass that looks at a dataset through
    ImageNet's eyes (the likely-mislabelled finder, the dataset map): they share one
    recipe, so they share the feature store's vectors."""
    chosen = get_backbone(backbone)
    device = resolve_device()
    network = load_pretrained(chosen).to(device)
    if device.type == "cpu":
        network = network.to(memory_format=torch.channels_last)
    return FrozenFeatures(network.eval(), chosen.preprocessing, device)


def prepare_frozen_runtime(backbone: str = DEFAULT_BACKBONE) -> str:
    """Export (once per machine) and check the pretrained `backbone`'s graph, so that every
    later frozen pass finds it, however few photos it has; returns the runtime name.

    A front end runs this in the background after start-up: the first ever start pays the
    ~10 s export there, not in the middle of the user's first job.
    """
    chosen = get_backbone(backbone)
    device = resolve_device("auto")
    frozen = FrozenFeatures(load_pretrained(chosen).to(device), chosen.preprocessing, device)
    return frozen.prepare(EXPORT_WORTHWHILE)
