"""The model file's JSON header, checked field by field before anything uses it.

A model file comes from anywhere: a colleague, a download, a hand edit. Its weights are
safetensors (nothing in them can run), but its header decides how large an image is resized
to, how pixels are scaled and what folder names classification writes. An unchecked
`crop` of 100000 once drove prediction to 23 GB of memory; a `std` of 0 turns every photo into
infinities. So every field is type- and range-checked here when the file opens, and the first
bad one is named in a `ModelFileError` that tells the user what to do.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from training.core.errors import CheetahLionError, ModelFileError
from training.records.backbones import BACKBONES
from training.records.calibration import HEADER_KEY as CALIBRATION_KEY
from training.records.calibration import ModelCalibration
from training.records.config import TrainConfig
from training.records.multilabel_calibration import HEADER_KEY as LABEL_CALIBRATION_KEY
from training.records.multilabel_calibration import MultiLabelCalibration
from training.records.preprocessing import INTERPOLATIONS, Preprocessing
from training.records.runtime_words import HEADER_KEY as FROZEN_KEY
from training.records.runtime_words import FrozenUse

FORMAT_NAME = "cheetahlion-model"
FORMAT_VERSION = 2
MODEL_SUFFIX = ".safetensors"
METADATA_KEY = "cheetahlion"
"""Where the safetensors header's "__metadata__" keeps this header, as one JSON string."""
MIN_INPUT_SIDE = 32
MAX_INPUT_SIDE = 1024
"""The input sizes training accepts (`TrainConfig.image_size`); a file cannot ask for more."""
MAX_RESIZE_RATIO = 2.0
"""The short side is resized to at most this multiple of the crop (the backbones use ~1.14)."""
MAX_CLASSES = 10_000
MAX_CLASS_NAME_LENGTH = 255
SINGLE_LABEL = "single-label"
MULTI_LABEL = "multi-label"
TASKS = (SINGLE_LABEL, MULTI_LABEL)
"""What a model answers: one class per photo, or any set of labels (each with its
threshold, under "thresholds"). A file without "task" is single-label (every file before
multi-label support)."""
CLASS_THRESHOLDS = "class_thresholds"
"""A single-label model's per-class thresholds (`training.records.operating_points`): an
object of class name to probability, only the classes that have one. Absent: none (the top
class always wins, as before thresholds existed; older versions ignore the field)."""


class BadField(ValueError):
    """One header field is missing or wrong; `field` is its dotted name."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def check_header(path: Path, header: Any) -> dict[str, Any]:
    """Return `header` when every field the app reads is sound; else raise ModelFileError.

    A file that is not a CheetahLion model at all gets the "not ours" message from the
    caller; this function deals with files that say they are one.
    """
    try:
        return _checked(header)
    except _NewerFormat as newer:
        raise ModelFileError(
            f"{path} was written by a newer CheetahLion (format {newer.version}); update "
            "CheetahLion to open it.") from None
    except BadField as bad:
        raise ModelFileError(
            f"{path}: its metadata field '{bad.field}' {bad.problem}. The file was altered or "
            "damaged: train the model again or re-copy the file.") from None


def read_header(path: str | Path) -> dict[str, Any]:
    """The checked header of the model file at `path`, reading only the header (the
    weights are not read, and torch is not loaded: the GUI thread may call this)."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            length = int.from_bytes(file.read(8), "little")
            raw = file.read(min(length, 100_000_000))
        header = json.loads(json.loads(raw)["__metadata__"][METADATA_KEY])
    except OSError as error:
        raise ModelFileError(f"{path} cannot be read ({error.strerror}).") from None
    except (ValueError, KeyError, TypeError, RecursionError):
        raise ModelFileError(f"{path} is not a CheetahLion model file (or is damaged). "
                             "Choose the .safetensors file CheetahLion wrote.") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path} is not a CheetahLion model file.")
    return check_header(path, header)


def checked_preprocessing(data: Any) -> Preprocessing:
    """`Preprocessing` from a header's "preprocessing" object, or BadField naming the field."""
    if not isinstance(data, dict):
        raise BadField("preprocessing", f"is {_kind(data)}, not an object")
    crop = _whole(data, "crop", MIN_INPUT_SIDE, MAX_INPUT_SIDE)
    resize = _whole(data, "resize", crop, math.floor(crop * MAX_RESIZE_RATIO))
    mean = _triple(data, "mean", 0.0, 1.0)
    std = _triple(data, "std", 0.01, 1.0)
    interpolation = data.get("interpolation", "bicubic")
    if interpolation not in INTERPOLATIONS:
        raise BadField("preprocessing.interpolation",
                       f"is {interpolation!r}, not one of {', '.join(INTERPOLATIONS)}")
    return Preprocessing(resize=resize, crop=crop, mean=mean, std=std,
                         interpolation=interpolation)


class _NewerFormat(Exception):
    def __init__(self, version: int) -> None:
        super().__init__(version)
        self.version = version


def _checked(header: Any) -> dict[str, Any]:
    if not isinstance(header, dict):
        raise BadField("(the whole metadata)", f"is {_kind(header)}, not an object")
    version = header.get("format_version")
    if type(version) is not int or version < 1:
        raise BadField("format_version", f"is {version!r}, not a format number")
    if version > FORMAT_VERSION:
        raise _NewerFormat(version)
    backbone = header.get("backbone")
    if not isinstance(backbone, str) or backbone not in BACKBONES:
        raise BadField("backbone", f"is {backbone!r}, which this version of CheetahLion does "
                                   f"not know (it knows {', '.join(BACKBONES)})")
    task = header.get("task", SINGLE_LABEL)
    if task not in TASKS:
        raise BadField("task", f"is {task!r}, not one of {', '.join(TASKS)}")
    _check_classes(header.get("classes"), fewest=1 if task == MULTI_LABEL else 2)
    if task == MULTI_LABEL or "thresholds" in header:
        _check_thresholds(header.get("thresholds"), len(header["classes"]))
    if CLASS_THRESHOLDS in header:
        _check_class_thresholds(header[CLASS_THRESHOLDS], header["classes"], task)
    checked_preprocessing(header.get("preprocessing"))
    if "config" in header:
        _check_config(header["config"])
    for name in ("dataset_fingerprint", "created"):
        if name in header and not isinstance(header[name], str | None):
            raise BadField(name, f"is {_kind(header[name])}, not text")
    for name in ("metrics", "split", "versions"):
        if name in header and not isinstance(header[name], dict):
            raise BadField(name, f"is {_kind(header[name])}, not an object")
    if CALIBRATION_KEY in header:  # files before calibration lack it: T = 1
        try:
            ModelCalibration.from_dict(header[CALIBRATION_KEY])
        except ValueError as error:
            raise BadField(CALIBRATION_KEY, str(error)) from None
    if FROZEN_KEY in header:  # files before it lack it: trained on float features
        try:
            FrozenUse.from_dict(header[FROZEN_KEY])
        except ValueError as error:
            raise BadField(FROZEN_KEY, str(error)) from None
    if LABEL_CALIBRATION_KEY in header:  # multi-label files before calibration lack it
        try:
            MultiLabelCalibration.from_dict(header[LABEL_CALIBRATION_KEY], header["classes"])
        except ValueError as error:
            raise BadField(LABEL_CALIBRATION_KEY, str(error)) from None
    return header


def task_of(header: dict[str, Any]) -> str:
    """A checked header's task: "single-label" or "multi-label"."""
    return str(header.get("task", SINGLE_LABEL))


def _check_classes(classes: Any, fewest: int) -> None:
    """`fewest`: 2 classes for a single-label model; a multi-label one may have one label
    (present or not)."""
    if not isinstance(classes, list):
        raise BadField("classes", f"is {_kind(classes)}, not a list of class names")
    if not fewest <= len(classes) <= MAX_CLASSES:
        raise BadField("classes",
                       f"names {len(classes)} classes, not {fewest} to {MAX_CLASSES:,}")
    for index, name in enumerate(classes):
        if not isinstance(name, str) or not name.strip():
            raise BadField(f"classes[{index}]", f"is {name!r}, not a class name")
        if len(name) > MAX_CLASS_NAME_LENGTH or any(ord(c) < 32 for c in name):
            raise BadField(f"classes[{index}]", "is too long or holds control characters")
    if len(set(classes)) != len(classes):
        raise BadField("classes", "names the same class twice")


def _check_thresholds(thresholds: Any, labels: int) -> None:
    """One finite threshold from 0 to 1 per label (a multi-label model's "thresholds")."""
    if not isinstance(thresholds, list) or len(thresholds) != labels:
        count = f"{len(thresholds)} numbers" if isinstance(thresholds, list) \
            else _kind(thresholds)
        raise BadField("thresholds", f"is {count}, not one threshold per label ({labels})")
    for index, value in enumerate(thresholds):
        if type(value) not in (int, float) or not 0.0 <= value <= 1.0:  # NaN fails too
            raise BadField(f"thresholds[{index}]", f"is {value!r}, not a number from 0 to 1")


def _check_class_thresholds(value: Any, classes: list[str], task: str) -> None:
    """Class names of the model, each with a finite threshold from 0 to 1."""
    if task == MULTI_LABEL:
        raise BadField(CLASS_THRESHOLDS, "is set on a multi-label model, whose thresholds are "
                                         "under 'thresholds'")
    if not isinstance(value, dict):
        raise BadField(CLASS_THRESHOLDS, f"is {_kind(value)}, not an object")
    for name, threshold in value.items():
        if name not in classes:
            raise BadField(f"{CLASS_THRESHOLDS}.{name}"[:300], "names no class of the model")
        if type(threshold) not in (int, float) or not 0.0 <= threshold <= 1.0:
            raise BadField(f"{CLASS_THRESHOLDS}.{name}",
                           f"is {threshold!r}, not a number from 0 to 1")


def _check_config(config: Any) -> None:
    if not isinstance(config, dict):
        raise BadField("config", f"is {_kind(config)}, not an object")
    try:
        TrainConfig.from_dict(config)
    except (CheetahLionError, TypeError, ValueError, OverflowError) as error:
        raise BadField("config", f"is not a valid training configuration ({error})") from None


def _whole(data: dict[str, Any], key: str, low: int, high: int) -> int:
    value = data.get(key)
    if type(value) is not int or not low <= value <= high:
        raise BadField(f"preprocessing.{key}",
                       f"is {value!r}, not a whole number from {low} to {high}")
    return value


def _triple(data: dict[str, Any], key: str, low: float, high: float
            ) -> tuple[float, float, float]:
    values = data.get(key)
    if (not isinstance(values, list) or len(values) != 3
            or not all(type(v) in (int, float) and low <= v <= high for v in values)):
        raise BadField(f"preprocessing.{key}",
                       f"is {values!r}, not three numbers from {low:g} to {high:g}")
    return (float(values[0]), float(values[1]), float(values[2]))


def _kind(value: Any) -> str:
    """A value's JSON type in words, for messages."""
    if value is None:
        return "missing or null"
    return {bool: "true/false", int: "a number", float: "a number", str: "text",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def model_target(path: str | Path) -> Path:
    """Where a model asked for at `path` is written: with the model suffix added when it
    lacks it (the run history must find the very file `save_model` wrote)."""
    target = Path(path)
    if target.suffix.lower() != MODEL_SUFFIX:
        target = target.with_name(target.name + MODEL_SUFFIX)
    return target
