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
import os

import numpy as np
import torch
from torch import nn

from training.core.errors import EightBitUnavailableError
from training.core.runtime import PRECISION_ENV, frozen_precision, resolve_device
from training.data.tensors import normalize
from training.models import int8_features
from training.models.networks import load_pretrained
from training.models.onnx_features import (
    DISABLE_ENV,
    CheckedGraph,
    FeatureRunner,
    graph_path,
    has_graph,
    onnx_runner,
)
from training.records.backbones import DEFAULT_BACKBONE, get_backbone
from training.records.preprocessing import Preprocessing
from training.records.runtime_words import FrozenRun, FrozenUse, PreparedRuntime

ONNX_RUNTIME = "onnxruntime"
PYTORCH = "pytorch"
PYTORCH_MAKER = "pytorch"
"""What the feature store records as the maker of vectors PyTorch computed (a graph's
vectors name the graph's digest instead: `onnx_features.CheckedGraph.maker`)."""
EXPORT_WORTHWHILE = 200
"""Photos to embed from which exporting a network's graph pays for itself at once."""
STORED_FLOAT = "stored float"
_LAST_USED: list[str] = []
"""What computed (or, all found in the store, filed) the latest frozen features here."""


def features_used() -> str | None:
    """What the latest frozen pass of this process ran on: "onnxruntime int8", "onnxruntime
    float", "pytorch", or "stored float" when every photo's features were in the store
    (for a CLI's --json; None before any frozen pass)."""
    return _LAST_USED[-1] if _LAST_USED else None


def _used(label: str) -> None:
    """Record `label`; "stored float" only where nothing computed features yet (a job's
    later passes over stored vectors do not hide what computed them)."""
    if label != STORED_FLOAT or not _LAST_USED:
        _LAST_USED[:] = [label]


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

    `precision` ("auto", "float", "int8") overrides the process's (`frozen_precision`),
    e.g. a model's own; `trained`: the precision the network's classifier was trained on,
    so that features of the other kind are checked against it (`check`); `fallback`: when
    "int8" cannot be used, run float and say why in `note` instead of refusing.
    """

    def __init__(self, network: nn.Module, prep: Preprocessing, device: torch.device,
                 digest: str | None = None, precision: str | None = None,
                 trained: str = "float", fallback: bool = False) -> None:
        self.network = network.eval()
        self.prep = prep
        self.device = device
        self.digest = digest or weights_digest(network)
        self.width = network.get_classifier().in_features
        self.architecture: str | None = (getattr(network, "pretrained_cfg", None)
                                         or {}).get("architecture")
        """timm's name for the network, which decides whether "auto" may use 8 bits."""
        self._runner: FeatureRunner | None = None
        self.runtime: str | None = None
        """"onnxruntime" or "pytorch" once chosen; None before the first batch."""
        self.maker = PYTORCH_MAKER
        """Who computes the features once the runtime is chosen: "pytorch", or the checked
        graph's "onnx:<digest>" (the feature store files each vector under its maker)."""
        self.precision = "float"
        """"int8" once the 8-bit graph was chosen (`training.models.int8_features`)."""
        self.refusal: str | None = None
        """Why an 8-bit graph that was wanted is not used (None: none wanted, or in use)."""
        self.build_int8 = False
        """Quantize and time the 8-bit graph if this machine has none, whatever the job's
        length (`prepare_frozen_runtime`, at start-up); otherwise "auto" builds it only for a
        job long enough to export a graph, "int8" whenever it is needed."""
        self._float_only = False
        self._agreed: str | None = None
        self.wanted = precision
        self.trained = trained
        self.fallback = fallback
        self.check: str | None = None
        """Features of another precision than `trained`: how the 8-bit graph agreed with
        the float one on this network's classifier, or why it could not be checked."""
        self.note: str | None = None
        """Why the 8-bit features wanted (with `fallback`) are not used; None otherwise."""

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

    @property
    def features_label(self) -> str | None:
        """"onnxruntime int8", "onnxruntime float" or "pytorch"; None before the choice."""
        if self.runtime == ONNX_RUNTIME:
            return f"{ONNX_RUNTIME} {self.precision}"
        return self.runtime

    def use(self) -> FrozenUse:
        """What computed (or would compute) these features, for a model file's header."""
        settings = int8_features.settings_tag() if self.precision == "int8" else None
        return FrozenUse(self.precision, self.runtime, settings)

    def run_record(self) -> FrozenRun:
        """What ran, against what the classifier was trained on, for a front end."""
        return FrozenRun(self.runtime, self.precision, self.trained, self.check, self.note)

    def wanted_precision(self) -> str:
        return self.wanted or frozen_precision()

    def store_digest(self, images: int = EXPORT_WORTHWHILE) -> str:
        """What the feature store files these features under: the weights digest, plus the
        8-bit settings when the 8-bit graph computes them, so float and 8-bit vectors never
        mix. Where 8-bit may be used, the runtime is chosen here, before the store is asked."""
        if self._runner is None:
            if self._int8_possible(images):
                self.prepare(images)
            else:
                self._float_only = True  # the space is float's: no 8-bit graph mid-job
                _used(STORED_FLOAT)
        if self.precision == "int8":
            return f"{self.digest}-int8-{int8_features.settings_tag()}"
        return self.digest

    def _int8_possible(self, images: int) -> bool:
        """Whether these `images` may get 8-bit features: "int8"; or "auto" where 8 bits
        may be used and a graph timed faster is here, or the job is long enough to build
        one (as for exporting the float graph)."""
        if self.device.type != "cpu" or os.environ.get(DISABLE_ENV, "").strip() not in ("", "0"):
            return False
        wanted = self.wanted_precision()
        if wanted != "auto" or int8_features.auto_refusal(self.architecture) is not None:
            return wanted == "int8"
        return images >= EXPORT_WORTHWHILE or (
            has_graph(self.digest, self.prep)
            and int8_features.cached_and_faster(graph_path(self.digest, self.prep)))

    def _choose(self, export: bool) -> None:
        runner = None
        wanted = self.wanted_precision()
        if self.device.type == "cpu" and (export or wanted == "int8"
                                          or has_graph(self.digest, self.prep)):
            runner = onnx_runner(self.network, self.prep, self.digest, self._torch_features)
        if runner is not None and wanted != "float" and not self._float_only:
            runner = self._int8(runner, wanted, export) or runner
        elif runner is None and (wanted == "int8" or (wanted == "auto" and export)):
            self.refusal = ("8-bit features run only on the CPU" if self.device.type != "cpu"
                            else "no float graph to quantize (onnxruntime missing, turned "
                                 "off or its export failed)")
        if wanted == "int8" and self.precision != "int8" and self.fallback:
            self.note = (f"8-bit features could not be used here ({self.refusal}); float "
                         "features ran instead.")  # each front end shows it
        elif wanted == "int8" and self.precision != "int8":
            reason = self.refusal or "no reason given"
            raise EightBitUnavailableError(
                reason, f"8-bit features were asked for but cannot be used: {reason}. Use "
                        f"--feature-precision float or auto ({PRECISION_ENV}=float or auto).")
        self._runner = runner or self._torch_features
        self.runtime = ONNX_RUNTIME if runner is not None else PYTORCH
        self.maker = runner.maker if runner is not None else PYTORCH_MAKER
        _used(self.features_label or PYTORCH)
        if self.precision != self.trained:
            self.check = (_agreed_words(self._agreed) if self._agreed is not None
                          else self._check_float(runner))

    def _check_float(self, runner: FeatureRunner | None) -> str:
        """Float features for a classifier trained on 8-bit ones: how the 8-bit graph
        agrees with the float one on it (building the 8-bit graph if needed), or why that
        could not be checked."""
        if not isinstance(runner, CheckedGraph) or self.refusal is not None:
            return f"not checked ({self.refusal or 'no float graph to compare with'})"
        path = graph_path(self.digest, self.prep)
        int8, why = int8_features.int8_runner(runner, path, self.network, self.prep.crop,
                                              build=True)
        if int8 is not None:
            return _agreed_words(why)
        return f"checked: {why}" if "refused" in why else f"not checked ({why})"

    def _int8(self, float_graph: CheckedGraph, wanted: str,
              worthwhile: bool) -> CheckedGraph | None:
        """The checked 8-bit graph when `wanted` is "int8", or is "auto" and this machine
        measured it faster and 8 bits as accurate here; built (quantized, checked, timed)
        when forced, `build_int8` or the job is `worthwhile` (once per machine: ~10-25 s)."""
        if wanted == "auto":
            self.refusal = int8_features.auto_refusal(self.architecture)
            if self.refusal is not None:
                return None
        path = graph_path(self.digest, self.prep)
        build = wanted == "int8" or self.build_int8 or worthwhile
        if wanted == "auto" and not build and not int8_features.cached_and_faster(path):
            return None
        runner, why = int8_features.int8_runner(float_graph, path, self.network,
                                                self.prep.crop, build=build)
        if runner is not None:  # checked on this network's own classifier
            self._agreed = why
        if runner is not None and wanted == "auto" and not int8_features.measured_faster(
                path, float_graph.maker):
            runner, why = None, "the 8-bit graph was not faster on this machine"
        self.refusal = None if runner is not None else why
        if runner is not None:
            self.precision = "int8"
        return runner

    def _torch_features(self, pixels: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            inputs = normalize(torch.from_numpy(pixels).to(self.device), self.prep)
            if self.device.type == "cpu":
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            network = self.network
            pooled = network.forward_head(network.forward_features(inputs), pre_logits=True)
            return pooled.float().cpu().numpy()


def _agreed_words(agreement: str) -> str:
    return ("checked: the 8-bit graph agreed with the float one on this model's classifier "
            f"({agreement})")


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


def prepare_frozen_runtime(backbone: str = DEFAULT_BACKBONE) -> PreparedRuntime:
    """Export (once per machine) and check the pretrained `backbone`'s graph, and quantize,
    check and time its 8-bit graph (for "int8", and for "auto" where `auto_refusal` allows),
    so that every later frozen pass finds them, however few photos it has; returns what runs
    the features and, where 8 bits were wanted and float runs, why.

    A front end runs this in the background after start-up: the first ever start pays the
    ~10 s export and ~10 s quantization there, not in the middle of the user's first job.
    """
    chosen = get_backbone(backbone)
    device = resolve_device("auto")
    frozen = FrozenFeatures(load_pretrained(chosen).to(device), chosen.preprocessing, device)
    frozen.build_int8 = True
    frozen.prepare(EXPORT_WORTHWHILE)
    wanted_8bit = frozen.wanted_precision() != "float" and frozen.precision != "int8"
    return PreparedRuntime(frozen.features_label or PYTORCH,
                           (frozen.refusal or "no reason given") if wanted_8bit else None)
