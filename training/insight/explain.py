"""Why did the model say that? Grad-CAM heatmaps over the pixels the model saw.

Grad-CAM (Selvaraju et al., 2017) weighs each channel of the network's last convolutional
feature map by how much the chosen class's logit grows with it (the spatially averaged
gradient), sums the weighted channels and keeps the positive part: the regions whose
features pushed the model towards that class. Only the head (pooling + classifier) sits
between that feature map and the logits, so the backbone runs once without gradients and
only the head is differentiated: an explanation costs little more than a prediction.

The image is decoded with `load_pixels`, the very function prediction uses, so the heatmap
covers exactly the resized centre crop the model classified; that crop is returned with it,
and the two align pixel for pixel.

An `Explainer` serves one model and remembers its recent explanations (keyed by the image's
path, modification time and size, and the class), so asking again is instant and a changed
file is explained afresh. `explainer_for` keeps one long-lived explainer per model file
(identified by path, modification time and size) for front ends that open many images.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from training.core.errors import CheetahLionError
from training.core.runtime import resolve_device
from training.data.preprocessing import load_pixels
from training.data.tensors import normalize, to_uint8_batch
from training.fitting.modelfile import TrainedModel, load_model
from training.predict.inference import imagenet_model
from training.records.backbones import IMAGENET_MODEL
from training.records.explanation import Explanation
from training.records.model_header import MULTI_LABEL, task_of

CACHE_SIZE = 64
"""Explanations an explainer keeps; one is ~0.35 MB at 224 px."""
EXPLAINERS_KEPT = 3
"""Models `explainer_for` keeps loaded (each holds its network, ~20 MB for the default)."""

ModelKey = tuple[str, int, int]
"""(resolved path, mtime_ns, size) of a model file, or ("imagenet", 0, 0)."""


class Explainer:
    """Grad-CAM for one model; thread-safe (one explanation computes at a time)."""

    def __init__(self, model: TrainedModel, device: torch.device | None = None,
                 cache_size: int = CACHE_SIZE) -> None:
        self.device = device or resolve_device("auto")
        self.network = model.network.to(self.device).eval()
        self.classes = model.classes
        self.preprocessing = model.preprocessing
        self.multilabel = task_of(model.metadata) == MULTI_LABEL
        """Each label's own sigmoid probability, not a softmax share among the labels."""
        self._cache: OrderedDict[tuple[str, int, int, int | None], Explanation] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | Path, device: torch.device | None = None) -> Explainer:
        return cls(load_model(path), device)

    @classmethod
    def imagenet(cls, device: torch.device | None = None) -> Explainer:
        """The untouched pretrained model with its 1000 ImageNet classes (as `Predictor`'s)."""
        return cls(imagenet_model(), device)

    def class_index(self, name: str | int) -> int:
        """The index of class `name` (exact, then case-insensitive), or a clear error."""
        if isinstance(name, int):
            if 0 <= name < len(self.classes):
                return name
            raise CheetahLionError(
                f"Class number {name} does not exist: this model has {len(self.classes)} "
                f"classes (0 to {len(self.classes) - 1})."
            )
        if name in self.classes:
            return self.classes.index(name)
        folded = [c.casefold() for c in self.classes]
        if name.strip().casefold() in folded:
            return folded.index(name.strip().casefold())
        shown = ", ".join(self.classes[:12]) + (", …" if len(self.classes) > 12 else "")
        raise CheetahLionError(
            f"'{name}' is not one of this model's classes ({shown}). Choose one of them."
        )

    def explain(self, image: str | Path, target: str | int | None = None) -> Explanation:
        """Grad-CAM of class `target` (name or index; default: the predicted class)."""
        path = Path(image)
        wanted = None if target is None else self.class_index(target)
        try:
            info = path.stat()
        except OSError as error:
            raise CheetahLionError(
                f"{path}: cannot be read ({error.strerror or error}). Check that the file "
                "exists and that you may read it."
            ) from None
        stamp = (str(path.resolve()), info.st_mtime_ns, info.st_size)
        with self._lock:
            found = self._cache.get((*stamp, wanted))
            if found is not None:
                self._cache.move_to_end((*stamp, wanted))
                return found
            explanation = self._compute(path, wanted)
            self._remember((*stamp, wanted), explanation)
            if wanted is None:  # asking for the predicted class by name is the same answer
                self._remember((*stamp, explanation.class_index), explanation)
            return explanation

    def _remember(self, key: tuple[str, int, int, int | None], value: Explanation) -> None:
        self._cache[key] = value
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _compute(self, path: Path, wanted: int | None) -> Explanation:
        pixels = load_pixels(path, self.preprocessing)
        inputs = normalize(to_uint8_batch([pixels]).to(self.device), self.preprocessing)
        with torch.no_grad():
            features = self.network.forward_features(inputs)
        # The backbone ran without gradients; differentiate only the head, from this leaf.
        features = features.detach().float().requires_grad_(True)
        with torch.enable_grad():
            logits = self.network.forward_head(features)
            scores = logits.detach().float()
            probabilities = (scores.sigmoid() if self.multilabel else scores.softmax(1))[0]
            index = int(probabilities.argmax()) if wanted is None else wanted
            (gradient,) = torch.autograd.grad(logits[0, index], features)
        heatmap = grad_cam(features.detach(), gradient, pixels.shape[:2])
        pixels.flags.writeable = False
        return Explanation(
            path=path, image=pixels, heatmap=heatmap, class_index=index,
            class_name=self.classes[index], probability=float(probabilities[index]),
            probabilities=tuple(probabilities.tolist()), classes=self.classes,
        )


def grad_cam(features: torch.Tensor, gradient: torch.Tensor, size: tuple[int, int]
             ) -> np.ndarray:
    """ReLU(Σ_k mean(∂y/∂A_k) · A_k) for one (1, K, h, w) map, upsampled to `size`, in [0, 1]."""
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * features).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=size, mode="bilinear", align_corners=False)[0, 0]
    peak = float(cam.max())
    heat = (cam / peak if peak > 0 else torch.zeros_like(cam)).clamp(0, 1)
    array = heat.cpu().numpy().astype(np.float32)
    array.flags.writeable = False
    return array


# --- long-lived explainers, one per model -----------------------------------------------------

_explainers: OrderedDict[ModelKey, Explainer] = OrderedDict()
_explainers_lock = threading.Lock()


def model_key(model: str | Path | None) -> ModelKey:
    """What identifies a model: its file's path, mtime and size (None/'imagenet': built-in)."""
    if model is None or str(model) == IMAGENET_MODEL:
        return (IMAGENET_MODEL, 0, 0)
    path = Path(model)
    try:
        info = path.stat()
    except OSError as error:
        raise CheetahLionError(
            f"{path}: the model file cannot be read ({error.strerror or error}). Choose "
            "another model file."
        ) from None
    return (str(path.resolve()), info.st_mtime_ns, info.st_size)


def explainer_for(model: str | Path | None) -> Explainer:
    """A shared explainer for a model file (or None / 'imagenet' for the built-in model).

    The same file, unchanged, gets the same explainer, with its cache of explanations; a
    file rewritten since (a new training run saved to the same path) gets a new one.
    """
    key = model_key(model)
    with _explainers_lock:
        found = _explainers.get(key)
        if found is None:
            found = (Explainer.imagenet() if key[0] == IMAGENET_MODEL
                     else Explainer.from_file(key[0]))
            _explainers[key] = found
            while len(_explainers) > EXPLAINERS_KEPT:
                _explainers.popitem(last=False)
        _explainers.move_to_end(key)
        return found


# --- pictures for people ----------------------------------------------------------------------

def heat_colours(heatmap: np.ndarray) -> np.ndarray:
    """A [0, 1] heatmap → uint8 (H, W, 3) colours: dark blue (cold) → cyan → yellow → dark red.

    A jet-like ramp, the look Grad-CAM figures are known by, computed in numpy so the engine
    needs no plotting library.
    """
    x = np.clip(np.asarray(heatmap, dtype=np.float32), 0.0, 1.0)[..., None]
    centres = np.array([0.75, 0.5, 0.25], dtype=np.float32)  # where red, green, blue peak
    colours = np.clip(1.5 - np.abs(4.0 * x - 4.0 * centres), 0.0, 1.0)
    return (colours * 255.0 + 0.5).astype(np.uint8)


def overlay(image: np.ndarray, heatmap: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """The heatmap's colours blended over `image` (uint8 (H, W, 3)) at `opacity` in [0, 1]."""
    if not 0.0 <= opacity <= 1.0:
        raise CheetahLionError(f"Opacity must be between 0 and 1, not {opacity}.")
    blended = (1.0 - opacity) * image.astype(np.float32) + \
        opacity * heat_colours(heatmap).astype(np.float32)
    return (blended + 0.5).astype(np.uint8)


def write_png(array: np.ndarray, target: Path) -> Path:
    """Write an RGB array as a PNG at `target`, or at a free name beside it if taken.

    The file is created exclusively, so even a file appearing in the meantime is never
    overwritten; the path actually written is returned.
    """
    from PIL import Image

    from training.core.file_ops import free_name

    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        candidate = free_name(target.parent, target.name)
        try:
            handle = open(candidate, "xb")  # noqa: SIM115 (closed below, removed on failure)
        except FileExistsError:
            continue  # taken between free_name and now: try the next free name
        try:
            with handle:
                Image.fromarray(array, "RGB").save(handle, format="PNG")
        except BaseException:
            candidate.unlink(missing_ok=True)  # our own file: leave nothing half-written
            raise
        return candidate
