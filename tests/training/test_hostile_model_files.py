"""Model files crafted to hurt: every metadata field is checked when the file opens.

Each case rewrites one field of a real model file's header and expects one `ModelFileError`
naming that field, never a traceback, a huge allocation or a prediction of NaN.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save as save_safetensors

from training.core.errors import ModelFileError
from training.fitting.modelfile import TrainedModel, load_model, read_metadata, save_model
from training.models.networks import create_network
from training.records.backbones import get_backbone

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    backbone = get_backbone("efficientnet_lite0")
    torch.manual_seed(0)
    network = create_network(backbone, num_classes=2).eval()
    model = TrainedModel(network, backbone.name, ("cat", "dog"), backbone.preprocessing,
                         metadata={"config": {"mode": "quick", "seed": 1}, "seed": 1})
    return save_model(model, tmp_path_factory.mktemp("model") / "good.safetensors")


def rewrite_header(source: Path, target: Path, change: Callable[[dict[str, Any]], Any]) -> Path:
    """Copy `source` to `target` with its CheetahLion metadata replaced by `change(metadata)`."""
    data = source.read_bytes()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    metadata = json.loads(header["__metadata__"]["cheetahlion"])
    header["__metadata__"]["cheetahlion"] = json.dumps(change(metadata))
    encoded = json.dumps(header).encode()
    target.write_bytes(len(encoded).to_bytes(8, "little") + encoded + data[8 + length:])
    return target


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(metadata: dict[str, Any]) -> dict[str, Any]:
        *parents, last = path.split(".")
        node = metadata
        for part in parents:
            node = node[part]
        node[last] = value
        return metadata
    return change


def _drop(key: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda metadata: {k: v for k, v in metadata.items() if k != key}


CASES: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "huge crop": (_set("preprocessing.crop", 100_000), "preprocessing.crop"),
    "huge resize": (_set("preprocessing.resize", 100_000), "preprocessing.resize"),
    "negative crop": (_set("preprocessing.crop", -5), "preprocessing.crop"),
    "zero crop": (_set("preprocessing.crop", 0), "preprocessing.crop"),
    "crop as text": (_set("preprocessing.crop", "224"), "preprocessing.crop"),
    "unknown interpolation": (_set("preprocessing.interpolation", "lanczos"),
                              "preprocessing.interpolation"),
    "mean as text": (_set("preprocessing.mean", "abc"), "preprocessing.mean"),
    "mean of one value": (_set("preprocessing.mean", [0.5]), "preprocessing.mean"),
    "std of zero": (_set("preprocessing.std", [0.5, 0.0, 0.5]), "preprocessing.std"),
    "std not a number": (_set("preprocessing.std", [0.5, "NaN", 0.5]), "preprocessing.std"),
    "preprocessing as text": (_set("preprocessing", "x"), "preprocessing"),
    "preprocessing missing": (_drop("preprocessing"), "preprocessing"),
    "format version as text": (_set("format_version", "abc"), "format_version"),
    "backbone as a list": (_set("backbone", ["efficientnet_lite0"]), "backbone"),
    "integer class names": (_set("classes", [1, 2]), "classes[0]"),
    "empty class name": (_set("classes", ["cat", " "]), "classes[1]"),
    "the same class twice": (_set("classes", ["cat", "cat"]), "classes"),
    "classes as text": (_set("classes", "cat,dog"), "classes"),
    "config as a list": (_set("config", [1, 2]), "config"),
    "config with a bad seed": (_set("config", {"seed": "x"}), "config"),
    "metrics as text": (_set("metrics", "good"), "metrics"),
    "frozen features as text": (_set("frozen_features", "int8"), "frozen_features"),
    "frozen features of an unknown precision": (
        _set("frozen_features", {"precision": "int4", "runtime": "onnxruntime"}),
        "frozen_features"),
    "frozen features of an unknown runtime": (
        _set("frozen_features", {"precision": "int8", "runtime": "tensorrt"}), "frozen_features"),
    "frozen features without a precision": (_set("frozen_features", {"runtime": "pytorch"}),
                                            "frozen_features"),
    "frozen features with settings that are not text": (
        _set("frozen_features", {"precision": "int8", "runtime": "onnxruntime",
                                 "settings": ["ab12"]}), "frozen_features"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_field_is_named_when_the_file_opens(model_file: Path, tmp_path: Path,
                                                  case: str) -> None:
    change, field = CASES[case]
    crafted = rewrite_header(model_file, tmp_path / "crafted.safetensors", change)
    with pytest.raises(ModelFileError) as error:
        load_model(crafted)
    message = str(error.value)
    assert f"'{field}'" in message and str(crafted) in message
    with pytest.raises(ModelFileError):
        read_metadata(crafted)


@pytest.mark.parametrize("metadata", [None, [1, 2], "text", 7])
def test_metadata_that_is_not_an_object_is_refused(model_file: Path, tmp_path: Path,
                                                   metadata: Any) -> None:
    crafted = rewrite_header(model_file, tmp_path / "crafted.safetensors", lambda _: metadata)
    with pytest.raises(ModelFileError, match="not a CheetahLion model file"):
        load_model(crafted)


def test_the_untouched_file_still_opens(model_file: Path) -> None:
    model = load_model(model_file)
    assert model.classes == ("cat", "dog") and model.preprocessing.crop == 224


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_weights_that_are_not_numbers_are_refused(model_file: Path, tmp_path: Path,
                                                  value: float) -> None:
    model = load_model(model_file)
    state = model.network.state_dict()
    name = next(key for key in state if key.endswith("classifier.weight"))
    state[name] = state[name].clone()
    state[name][0, 0] = value
    data = model_file.read_bytes()
    length = int.from_bytes(data[:8], "little")
    metadata = json.loads(data[8:8 + length])["__metadata__"]
    crafted = tmp_path / "nan.safetensors"
    tensors = {k: v.contiguous() for k, v in state.items()}
    crafted.write_bytes(save_safetensors(tensors, metadata=metadata))
    with pytest.raises(ModelFileError, match="not numbers") as error:
        load_model(crafted)
    assert name in str(error.value)


def test_an_enormous_file_is_refused_before_it_is_read(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import training.fitting.modelfile as modelfile

    big = tmp_path / "big.safetensors"
    with big.open("wb") as handle:  # sparse: no disk is used
        handle.truncate(2048)
    monkeypatch.setattr(modelfile, "MAX_MODEL_BYTES", 1024)
    with pytest.raises(ModelFileError, match="far larger than any CheetahLion model"):
        load_model(big)


def test_cli_predict_with_a_crafted_file_prints_one_line_and_exits_1(
        model_file: Path, tmp_path: Path) -> None:
    crafted = rewrite_header(model_file, tmp_path / "crafted.safetensors",
                             _set("preprocessing.crop", 100_000))
    photo = tmp_path / "photo.png"
    from PIL import Image

    Image.new("RGB", (64, 64), (200, 40, 40)).save(photo)
    done = subprocess.run([sys.executable, "-m", "training.cli", "predict", str(crafted),
                           str(photo)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "preprocessing.crop" in lines[0], done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
