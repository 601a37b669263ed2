"""The model file: one `.safetensors` file with everything needed to use the model.

The weights are stored as safetensors (a flat table of tensors: nothing in it can execute)
and the metadata as one JSON document in the safetensors header: format version, backbone,
class names, preprocessing, metrics, training config, seed, dataset fingerprint and library
versions. Format 2 adds the "none of these" reference (`training.models.novelty`): training
features under the tensor name `novelty.reference`, kept out of the network's weights, and
their calibration under "novelty" in the metadata. Format 1 files still open (their models
give no novelty score); an app that knows only format 1 refuses format 2 files with "update
CheetahLion" instead of failing on the extra tensor. A header may also hold "calibration"
(`training.records.calibration.ModelCalibration`: the temperature training folded into the
classifier's weights, and the validation ECE before and after); files without it open as
they were trained (temperature 1), and no loader needs it, since the weights already give the
calibrated probabilities. A header may also hold "frozen_features"
(`training.records.runtime_words.FrozenUse`: the precision, float or 8-bit, and the runtime of
the frozen features its head was trained on), which classification uses by default
(`training.predict.inference`); files without it were trained on float features. Files are
written to a temporary file beside the target, fsynced, then renamed over it, so a crash never
leaves half a model under the real name.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from training.core.atomic import write_atomically
from training.core.errors import ModelFileError
from training.models.networks import create_network
from training.models.novelty import TENSOR_NAME, NoveltyReference
from training.records.backbones import BACKBONES
from training.records.model_header import (
    FORMAT_NAME,
    FORMAT_VERSION,
    METADATA_KEY,
    MODEL_SUFFIX,
    check_header,
    checked_preprocessing,
    model_target,
)
from training.records.novelty_calibration import NoveltyCalibration
from training.records.preprocessing import Preprocessing

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "MODEL_SUFFIX", "TrainedModel", "load_model",
           "parse_model_bytes", "read_metadata", "save_model"]

MAX_MODEL_BYTES = 2**30
"""The largest model file opened (the largest backbone's is ~100 MB): a bigger one is refused
before it is read into memory."""


@dataclass
class TrainedModel:
    """A network ready to classify, with what it needs to be used the same way everywhere."""

    network: nn.Module
    backbone: str
    classes: tuple[str, ...]
    preprocessing: Preprocessing
    metadata: dict[str, Any] = field(default_factory=dict)
    """Everything else stored in the file: metrics, config, seed, fingerprint, versions."""
    novelty: NoveltyReference | None = None
    """The "none of these" reference; None for the ImageNet model and format 1 files."""


def save_model(model: TrainedModel, path: str | os.PathLike[str]) -> Path:
    """Write `model` atomically to `path` and return the path."""
    target = model_target(path)
    header = {
        **{k: v for k, v in model.metadata.items() if k != "novelty"},
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "backbone": model.backbone,
        "classes": list(model.classes),
        "preprocessing": model.preprocessing.to_dict(),
    }
    tensors = {name: tensor.detach().to("cpu").contiguous()
               for name, tensor in model.network.state_dict().items()}
    if model.novelty is not None:
        tensors[TENSOR_NAME] = model.novelty.features.detach().to("cpu", torch.float16)
        header["novelty"] = model.novelty.calibration.to_dict()
    payload = save_safetensors(tensors, metadata={METADATA_KEY: json.dumps(header)})
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, payload)
    return target


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON metadata of a model file, without building the network."""
    return _parse(Path(path))[1]


def load_model(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> TrainedModel:
    """Rebuild the network from a model file; never runs code stored in the file."""
    path = Path(path)
    tensors, header = _parse(path)
    novelty = _novelty(path, tensors, header)
    _check_finite(path, tensors)
    backbone = header["backbone"]
    classes = tuple(header["classes"])
    network = create_network(BACKBONES[backbone], num_classes=len(classes))
    try:
        network.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        first_line = str(error).splitlines()[1].strip() if "\n" in str(error) else str(error)
        raise ModelFileError(
            f"{path}: its weights do not fit a {backbone} network with {len(classes)} classes "
            f"({first_line[:200]}). The file was altered or written by another program."
        ) from None
    if novelty is not None and novelty.features.shape[1] != network.num_features:
        raise _damaged_novelty(path)
    return TrainedModel(
        network=network.to(device).eval(),
        backbone=backbone,
        classes=classes,
        preprocessing=checked_preprocessing(header["preprocessing"]),
        metadata={k: v for k, v in header.items()
                  if k not in {"backbone", "classes", "preprocessing", "novelty"}},
        novelty=novelty,
    )


def _novelty(path: Path, tensors: dict[str, torch.Tensor], header: dict[str, Any]
             ) -> NoveltyReference | None:
    """Take the novelty reference out of `tensors` (so the weights load strictly), or None."""
    features = tensors.pop(TENSOR_NAME, None)
    if features is None and "novelty" not in header:
        return None
    damaged = _damaged_novelty(path)
    if (features is None or "novelty" not in header or features.ndim != 2
            or not bool(torch.isfinite(features).all())):
        raise damaged
    try:
        calibration = NoveltyCalibration.from_dict(header["novelty"])
    except (KeyError, ValueError, TypeError):
        raise damaged from None
    if calibration.reference_size != len(features) or not 1 <= calibration.k <= len(features):
        raise damaged
    return NoveltyReference(features, calibration)


def _check_finite(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Refuse weights that are not numbers: such a model predicts NaN for every photo."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelFileError(
                f"{path}: its weights hold values that are not numbers (NaN or infinity, in "
                f"'{name}'), so it cannot classify anything. Train the model again or re-copy "
                "the file.")


def _damaged_novelty(path: Path) -> ModelFileError:
    return ModelFileError(f"{path}: its \"none of these\" data is damaged. Train the model "
                          "again or re-copy the file.")


def _parse(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if not path.exists():
        raise ModelFileError(f"{path} does not exist. Choose a model file (.safetensors).")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder. Choose a model file (.safetensors).")
    try:
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise ModelFileError(
                f"{path} is {size / 2**30:.1f} GB, far larger than any CheetahLion model; it is "
                "not a model file. Choose the .safetensors file CheetahLion wrote.")
        data = path.read_bytes()
    except OSError as error:
        raise ModelFileError(f"{path} cannot be read ({error.strerror}).") from None
    return parse_model_bytes(path, data)


def parse_model_bytes(path: Path, data: bytes
                      ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors and checked header of a model file's bytes (`path` names it in errors)."""
    not_ours = (f"{path} is not a CheetahLion model file. Model files are .safetensors files "
                "written by CheetahLion; other formats (such as pickled .pt/.pth files) are "
                "never opened, because loading them can run code.")
    if len(data) < 8:
        raise ModelFileError(f"{path} is empty or truncated. Train the model again or re-copy it.")
    header_length = int.from_bytes(data[:8], "little")
    if header_length > len(data) - 8 or data[8:9] != b"{":
        raise ModelFileError(not_ours if header_length > 100_000_000 or data[8:9] != b"{"
                             else f"{path} is truncated. Train the model again or re-copy it.")
    try:
        tensors = load_safetensors(data)
        raw = json.loads(data[8:8 + header_length]).get("__metadata__") or {}
        header = json.loads(raw[METADATA_KEY])
    except (SafetensorError, KeyError, ValueError, TypeError, AttributeError,
            RecursionError) as error:
        if isinstance(error, SafetensorError) and "incomplete" in str(error).lower():
            raise ModelFileError(f"{path} is truncated. Train the model again or re-copy it.") \
                from None
        raise ModelFileError(not_ours) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ModelFileError(not_ours)
    check_header(path, header)
    return tensors, header
