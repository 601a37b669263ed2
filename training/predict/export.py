"""Export a trained model for use outside CheetahLion: ONNX, TorchScript or `torch.export`.

Exported models predict differently from the app when their users preprocess differently,
so the exported network starts from the pixels themselves: it takes uint8 RGB in
(batch, height, width, 3) layout — what `numpy.asarray(pil_image)` gives — and returns
softmax probabilities, or for a multi-label model one sigmoid probability per label (its
sidecar then says `task: "multi-label"` and holds each label's threshold). Normalisation,
the channel order and the softmax or sigmoids live inside the file; what remains outside
(decode, resize, centre crop) is written into a JSON sidecar and shown step for step in the
README's example.

No export is declared done before it has been checked: the written file is loaded back with
its own runtime (onnxruntime, `torch.jit.load`, `torch.export.load`) and must give the app's
probabilities (`Predictor`'s, or `MultiLabelPredictor`'s for a multi-label model) on sample
images to within `PARITY_TOLERANCE`, at two batch sizes. Otherwise the file is deleted and
`ExportError` says by how much it differed. The file appears under its real name only after
the check, and together with its sidecar (`export_files`: both new or both as before, and the
sidecar carries the model's digest for readers to check), so a failed or interrupted export
never leaves a half-checked model or a mismatched pair.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from training.core import torch_access
from training.core.atomic import temporary_beside
from training.core.errors import ExportError
from training.core.versions import library_versions
from training.data.images import ImageProblem
from training.data.preprocessing import load_pixels
from training.data.tensors import PixelNormalisation
from training.fitting.modelfile import TrainedModel, load_model
from training.models.frozen import FrozenFeatures
from training.models.onnx_features import parity_pixels
from training.predict.export_files import (
    SIDECAR_FORMAT,
    SIDECAR_VERSION,
    SINGLE_LABEL_SIDECAR_VERSION,
    file_sha256,
    install_pair,
    refuse_folders,
)
from training.predict.inference import Predictor
from training.predict.multilabel import MultiLabelPredictor, is_multilabel
from training.records.export_result import ExportResult
from training.records.model_header import MULTI_LABEL
from training.records.preprocessing import Preprocessing

EXPORT_FORMATS: dict[str, str] = {"onnx": ".onnx", "torchscript": ".pt", "pt2": ".pt2"}
"""Export format → file suffix. `pt2` is PyTorch's current format (`torch.export`);
`torchscript` is deprecated by PyTorch but still what LibTorch (C++) and older tools load."""

PARITY_TOLERANCE = 1e-4
INPUT_NAME = "pixels"
OUTPUT_NAME = "probabilities"
MAX_SAMPLE_IMAGES = 8
_MAX_BATCH = 4096


class PixelsToProbabilities(nn.Module):
    """uint8 (N, H, W, 3) RGB pixels → (N, classes) probabilities: the whole model as shipped.
    `sigmoid`: one independent probability per label (a multi-label model), not a softmax."""

    def __init__(self, network: nn.Module, prep: Preprocessing, sigmoid: bool = False) -> None:
        super().__init__()
        self.network = network
        self.normalise = PixelNormalisation(prep)
        self.sigmoid = sigmoid

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        logits = self.network(self.normalise(pixels.permute(0, 3, 1, 2))).float()
        return logits.sigmoid() if self.sigmoid else logits.softmax(1)


def export_model(
    model_path: str | os.PathLike[str],
    target: str | os.PathLike[str],
    export_format: str,
    sample_images: Sequence[Path] = (),
) -> ExportResult:
    """Export the model file at `model_path` to `target`, check it, write its sidecar.

    `sample_images` (e.g. a few of the training photos) are added to synthetic inputs for
    the parity check; unreadable ones are skipped.
    """
    started = time.perf_counter()
    if export_format not in EXPORT_FORMATS:
        raise ExportError(f"Unknown export format '{export_format}'. "
                          f"Choose one of: {', '.join(EXPORT_FORMATS)}.")
    source, given = Path(model_path), Path(target)
    target = _with_suffix(given, EXPORT_FORMATS[export_format])
    if target.resolve() == source.resolve():
        raise ExportError(f"{target} is the model file itself. Choose another file name.")
    refuse_folders(given, target)
    if not target.parent.is_dir():
        raise ExportError(f"{target.parent} does not exist. Choose an existing folder.")
    model = load_model(source)
    wrapper = PixelsToProbabilities(model.network, model.preprocessing,
                                    sigmoid=is_multilabel(model.metadata)).eval()
    inputs = _parity_inputs(model.preprocessing, sample_images)
    expected = _app_probabilities(model, inputs)

    with temporary_beside(target) as temporary:
        try:
            with torch_access.exclusive():  # no thread runs PyTorch while it traces
                _WRITERS[export_format](wrapper, inputs[:2].clone(), temporary)
        except Exception as error:  # exporters raise many types; the user needs one message
            raise ExportError(f"Exporting {source.name} to {export_format} failed: "
                              f"{_first_line(error)}") from error
        difference = _parity(_RUNNERS[export_format](temporary), inputs, expected)
        if not difference <= PARITY_TOLERANCE:  # also catches NaN
            raise ExportError(
                f"The {export_format} export of {source.name} predicts differently from the "
                f"app (largest probability difference {difference:.2e}, allowed "
                f"{PARITY_TOLERANCE:.0e}), so it was not saved. Try another format."
            )
        sidecar = install_pair(temporary, target, _sidecar(
            model, source, target, export_format, difference, len(inputs)))
    return ExportResult(target, sidecar, export_format, difference, len(inputs),
                        time.perf_counter() - started)


def _with_suffix(target: Path, suffix: str) -> Path:
    return target if target.suffix.lower() == suffix else target.with_name(target.name + suffix)


def _app_probabilities(model: TrainedModel, inputs: torch.Tensor) -> np.ndarray:
    """What the app itself answers for uint8 NHWC `inputs`: the reference an export must
    match. A multi-label model's sigmoids come from `MultiLabelPredictor` (its features, then
    its head), as the app labels photos, on float features: the exported network computes
    in float (a model trained on 8-bit features is checked against float's answers, as
    single-label models are through the network itself)."""
    pixels = inputs.permute(0, 3, 1, 2).contiguous()
    cpu = torch.device("cpu")
    if is_multilabel(model.metadata):
        predictor = MultiLabelPredictor(model, cpu)
        features = FrozenFeatures(model.network, model.preprocessing, cpu, precision="float")
        expected = predictor.probabilities(features(pixels))
    else:
        expected = Predictor(model, cpu, keep_features=False).probabilities(pixels).numpy()
    # Predictor moved the network to channels-last in place; export in the default layout.
    model.network.to(memory_format=torch.contiguous_format)
    return expected


def _parity_inputs(prep: Preprocessing, sample_images: Sequence[Path]) -> torch.Tensor:
    """Real photos when given, plus noise, flat and gradient images: uint8 (N, H, W, 3)."""
    arrays: list[np.ndarray] = []
    for path in list(sample_images)[:MAX_SAMPLE_IMAGES]:
        with contextlib.suppress(ImageProblem, OSError):
            arrays.append(load_pixels(Path(path), prep))
    arrays += list(parity_pixels(prep.crop).transpose(0, 2, 3, 1))
    return torch.from_numpy(np.stack(arrays))


def _parity(run: Callable[[np.ndarray], np.ndarray], inputs: torch.Tensor,
            expected: np.ndarray) -> float:
    """Largest difference from the app's probabilities, one image alone and all together."""
    pixels = inputs.numpy()
    single = run(pixels[:1])
    together = run(pixels)
    if single.shape != (1, expected.shape[1]) or together.shape != expected.shape:
        return float("inf")
    return float(max(np.abs(single - expected[:1]).max(), np.abs(together - expected).max()))


def _batch_dimension() -> dict[int, Any]:
    return {0: torch.export.Dim("batch", min=1, max=_MAX_BATCH)}


def _write_onnx(wrapper: nn.Module, example: torch.Tensor, path: Path) -> None:
    torch.onnx.export(
        wrapper, (example,), str(path), dynamo=True, external_data=False, verbose=False,
        input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
        dynamic_shapes=(_batch_dimension(),),
    )
    import onnx

    onnx.checker.check_model(str(path), full_check=True)


def _write_torchscript(wrapper: nn.Module, example: torch.Tensor, path: Path) -> None:
    with _quiet_torchscript_deprecation():
        traced = torch.jit.trace(wrapper, example)
        traced.save(str(path))


def _write_pt2(wrapper: nn.Module, example: torch.Tensor, path: Path) -> None:
    program = torch.export.export(wrapper, (example,), dynamic_shapes=(_batch_dimension(),))
    torch.export.save(program, str(path))


def _run_onnx(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda pixels: session.run([OUTPUT_NAME], {INPUT_NAME: pixels})[0]


def _run_torchscript(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    with _quiet_torchscript_deprecation():
        module = torch.jit.load(str(path), map_location="cpu")
    return _torch_runner(module)


def _run_pt2(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    return _torch_runner(torch.export.load(str(path)).module())


def _torch_runner(module: Callable[[torch.Tensor], torch.Tensor]
                  ) -> Callable[[np.ndarray], np.ndarray]:
    def run(pixels: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(pixels)).numpy()
    return run


@contextlib.contextmanager
def _quiet_torchscript_deprecation() -> Iterator[None]:
    """TorchScript is exported on request; its FutureWarnings are for PyTorch developers."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit")
        yield


_WRITERS: dict[str, Callable[[nn.Module, torch.Tensor, Path], None]] = {
    "onnx": _write_onnx, "torchscript": _write_torchscript, "pt2": _write_pt2,
}
_RUNNERS: dict[str, Callable[[Path], Callable[[np.ndarray], np.ndarray]]] = {
    "onnx": _run_onnx, "torchscript": _run_torchscript, "pt2": _run_pt2,
}


def _sidecar(model: TrainedModel, source: Path, target: Path, export_format: str,
             difference: float, inputs_checked: int) -> dict[str, Any]:
    prep = model.preprocessing
    multi = is_multilabel(model.metadata)
    return {
        "format": SIDECAR_FORMAT,
        "format_version": SIDECAR_VERSION if multi else SINGLE_LABEL_SIDECAR_VERSION,
        "model_file": target.name,
        "model_format": export_format,
        **({"task": MULTI_LABEL} if multi else {}),
        "classes": list(model.classes),
        **({"thresholds": [float(t) for t in model.metadata["thresholds"]]} if multi else {}),
        # a single-label model's per-class thresholds (below one: unsure), when it has any
        **({"class_thresholds": model.metadata["class_thresholds"]}
           if not multi and model.metadata.get("class_thresholds") else {}),
        "input": {"name": INPUT_NAME, "dtype": "uint8", "layout": "NHWC", "colors": "RGB",
                  "shape": ["batch", prep.crop, prep.crop, 3]},
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": ["batch", len(model.classes)],
                   "meaning": _MULTI_LABEL_MEANING if multi else
                   "softmax probabilities, in the order of 'classes'"},
        "preprocessing": {
            **prep.to_dict(),
            "steps": [
                "decode; JPEG files (format 'JPEG') with Pillow's draft('RGB', (resize, resize))",
                "apply the EXIF orientation",
                "to 8-bit RGB; transparent pixels composited on white",
                "resize the short side to 'resize' with 'interpolation' (Pillow); the long "
                "side to round(long * resize / short), at least 'crop'",
                "centre crop 'crop' x 'crop' (left = (width - crop) // 2, same for top)",
                "the app does both in one Pillow call that resamples only that crop's box of "
                "the photo: resize((crop, crop), interpolation, box=(left / sx, top / sy, "
                "(left + crop) / sx, (top + crop) / sy)), sx and sy the resized width and "
                "height over the photo's; resizing all and cropping gives the same pixels "
                "to within a few levels (rounding; up to 7 at sharp edges)",
                "mean and std are applied inside the model: feed the uint8 pixels",
            ],
        },
        "source_model": {"file": source.name, "sha256": file_sha256(source),
                         "backbone": model.backbone,
                         "created": model.metadata.get("created")},
        "parity_check": {"max_abs_difference": difference, "tolerance": PARITY_TOLERANCE,
                         "inputs_checked": inputs_checked},
        "versions": library_versions(),
    }


_MULTI_LABEL_MEANING = (
    "sigmoid probabilities, one per label in the order of 'classes' (independent: they do "
    "not sum to 1); a photo has every label whose probability is at least that label's "
    "entry in 'thresholds'")


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]
