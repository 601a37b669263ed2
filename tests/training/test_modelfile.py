"""Model files: exact round trip, atomic writes, and clear refusals of anything else."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from training.core.errors import ModelFileError
from training.fitting.modelfile import (
    FORMAT_VERSION,
    TrainedModel,
    load_model,
    read_metadata,
    save_model,
)
from training.models.networks import create_network
from training.records.backbones import get_backbone
from training.records.runtime_words import HEADER_KEY as FROZEN_KEY
from training.records.runtime_words import FrozenUse


def _tiny_model(classes: tuple[str, ...] = ("cat", "dog")) -> TrainedModel:
    backbone = get_backbone("efficientnet_lite0")
    torch.manual_seed(0)
    network = create_network(backbone, num_classes=len(classes)).eval()
    return TrainedModel(network, backbone.name, classes, backbone.preprocessing,
                        metadata={"metrics": {"val_accuracy": 0.5}, "seed": 3})


def test_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    model = _tiny_model()
    path = save_model(model, tmp_path / "m.safetensors")
    loaded = load_model(path)
    assert loaded.classes == ("cat", "dog")
    assert loaded.preprocessing == model.preprocessing
    assert loaded.metadata["seed"] == 3 and loaded.metadata["format_version"] == FORMAT_VERSION
    inputs = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(model.network(inputs), loaded.network(inputs))
    assert read_metadata(path)["classes"] == ["cat", "dog"]


def test_save_adds_suffix_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = save_model(_tiny_model(), tmp_path / "model")
    assert path.name == "model.safetensors"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    path = save_model(_tiny_model(), tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated") as error:
        load_model(path)
    assert str(path) in str(error.value)


def test_empty_and_missing_files_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty or truncated"):
        load_model(empty)
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "missing.safetensors")


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("name", ["evil.safetensors", "evil.pt"])
def test_pickle_with_payload_never_runs(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "payload-ran"
    path = tmp_path / name
    with path.open("wb") as handle:
        pickle.dump({"state_dict": _Payload(marker)}, handle)
    with pytest.raises(ModelFileError, match="not a CheetahLion model file"):
        load_model(path)
    assert not marker.exists()


def test_torch_save_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "weights.pth"
    torch.save(_tiny_model().network.state_dict(), path)
    with pytest.raises(ModelFileError, match="not a CheetahLion model file"):
        load_model(path)


def test_image_file_is_refused(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "photo.safetensors"
    Image.new("RGB", (40, 40)).save(path, format="PNG")
    with pytest.raises(ModelFileError, match="not a CheetahLion model file"):
        load_model(path)


def test_plain_safetensors_without_our_metadata_is_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.zeros(2, 2)}, str(path))
    with pytest.raises(ModelFileError, match="not a CheetahLion model file"):
        load_model(path)


def test_weights_for_another_number_of_classes_are_refused(tmp_path: Path) -> None:
    two = save_model(_tiny_model(("cat", "dog")), tmp_path / "two.safetensors")
    three = save_model(_tiny_model(("cat", "dog", "fox")), tmp_path / "three.safetensors")
    # Graft the two-class weights under the three-class header.
    header_length = int.from_bytes(three.read_bytes()[:8], "little")
    three_header = three.read_bytes()[8:8 + header_length]
    two_data = two.read_bytes()
    two_header_length = int.from_bytes(two_data[:8], "little")
    import json

    header = json.loads(two_data[8:8 + two_header_length])
    header["__metadata__"] = json.loads(three_header)["__metadata__"]
    new_header = json.dumps(header).encode()
    new_header += b" " * (-len(new_header) % 8)
    mixed = tmp_path / "mixed.safetensors"
    mixed.write_bytes(len(new_header).to_bytes(8, "little") + new_header
                      + two_data[8 + two_header_length:])
    with pytest.raises(ModelFileError, match="3 classes"):
        load_model(mixed)


def test_newer_format_version_asks_for_an_update(tmp_path: Path) -> None:
    model = _tiny_model()
    model.metadata["format_version"] = FORMAT_VERSION + 1
    path = tmp_path / "m.safetensors"
    save_model(model, path)  # save_model writes the current version: patch the header
    data = path.read_bytes()
    patched = data.replace(f'\\"format_version\\": {FORMAT_VERSION}'.encode(),
                           f'\\"format_version\\": {FORMAT_VERSION + 1}'.encode())
    assert patched != data
    path.write_bytes(patched)
    with pytest.raises(ModelFileError, match="newer CheetahLion"):
        load_model(path)


def test_the_frozen_features_a_head_was_trained_on_are_read_back(tmp_path: Path) -> None:
    """8-bit or float and the runtime, as training wrote them; a file from before the field
    was trained on float features."""
    model = _tiny_model()
    model.metadata[FROZEN_KEY] = FrozenUse("int8", "onnxruntime", "ab12cd34").to_dict()
    loaded = load_model(save_model(model, tmp_path / "int8.safetensors"))
    assert FrozenUse.of_header(loaded.metadata) == FrozenUse("int8", "onnxruntime", "ab12cd34")
    assert "settings" not in FrozenUse("float", "pytorch").to_dict(), "float files as before"
    old = load_model(save_model(_tiny_model(), tmp_path / "old.safetensors"))
    assert FROZEN_KEY not in old.metadata
    assert FrozenUse.of_header(old.metadata) == FrozenUse("float", None)


def test_the_header_alone_reads_without_the_weights(tmp_path: Path) -> None:
    """`read_header` (torch-free, for the GUI thread) gives what `read_metadata` gives, and
    refuses what is not a model file."""
    from training.records.model_header import read_header

    model = _tiny_model()
    model.metadata[FROZEN_KEY] = FrozenUse("int8", "onnxruntime").to_dict()
    path = save_model(model, tmp_path / "m.safetensors")
    assert read_header(path) == read_metadata(path)
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff not a model")
    with pytest.raises(ModelFileError, match="is not a CheetahLion model file"):
        read_header(tmp_path / "photo.jpg")
