"""Settings validation, the backbone registry (offline and download), ImageNet name matching."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from training.core.errors import BackboneUnavailableError, CheetahLionError, ConfigError
from training.models.imagenet import match_class, match_classes
from training.models.networks import create_network, load_pretrained
from training.records.backbones import BACKBONES, DEFAULT_BACKBONE, get_backbone
from training.records.config import TrainConfig


def test_presets_hold_the_tutorial_recipe() -> None:
    recipe = TrainConfig.tutorial_recipe()
    assert (recipe.mode, recipe.optimizer, recipe.learning_rate, recipe.epochs) == \
        ("finetune", "adam", 1e-4, 5)
    assert (recipe.batch_size, recipe.image_size, recipe.schedule) == (32, 256, "cosine")
    assert (recipe.rotate_degrees, recipe.rotate_probability, recipe.flip_probability) == \
        (45.0, 0.6, 0.6)
    assert (recipe.cutout_size, recipe.cutout_probability) == (64, 0.3)
    assert TrainConfig().mode == "quick" and TrainConfig().backbone == DEFAULT_BACKBONE


def test_invalid_settings_are_all_named_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        TrainConfig(epochs=0, learning_rate=-1, backbone="nope", val_fraction=1.5).validated()
    message = str(error.value)
    for fragment in ("epochs must be 1 to 10000", "learning rate", "backbone 'nope'",
                     "validation fraction"):
        assert fragment in message


def test_config_round_trips_through_a_plain_dict() -> None:
    config = TrainConfig.finetune(seed=5, epochs=2)
    assert TrainConfig.from_dict({**config.to_dict(), "unknown_future_key": 1}) == config


def test_registry_lists_the_tutorial_backbone_and_marks_downloads() -> None:
    assert {"efficientnet_lite0", "resnet18", "resnet50", "efficientnet_b0", "convnext_tiny",
            "mobilenet_v3_large"} <= set(BACKBONES)
    assert not get_backbone("efficientnet_lite0").needs_download
    assert get_backbone("resnet18").needs_download
    with pytest.raises(CheetahLionError, match="Unknown backbone"):
        get_backbone("alexnet")


def test_offline_weights_load_strictly_and_recognise_a_cheetah(real_photos_source: Path
                                                                ) -> None:
    from training.data.preprocessing import load_pixels
    from training.data.tensors import normalize, to_uint8_batch
    from training.models.imagenet import category_names

    backbone = get_backbone("efficientnet_lite0")
    network = load_pretrained(backbone)
    pixels = to_uint8_batch([load_pixels(real_photos_source / "cheetah" / "0.jpg",
                                         backbone.preprocessing)])
    with torch.no_grad():
        best = int(network(normalize(pixels, backbone.preprocessing)).argmax())
    assert category_names()[best] == "cheetah"


def test_download_backbone_offline_names_the_file_to_place() -> None:
    backbone = get_backbone("resnet18")
    with pytest.raises(BackboneUnavailableError) as error:
        load_pretrained(backbone)  # HF_HUB_OFFLINE=1 in tests: this cannot download
    message = str(error.value)
    assert str(backbone.local_weights_file()) in message
    assert "huggingface.co/timm/resnet18" in message


def test_a_placed_weights_file_is_used_without_network() -> None:
    backbone = get_backbone("resnet18")
    network = create_network(backbone)
    target = backbone.local_weights_file()
    target.parent.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(target))
    assert not backbone.needs_download
    loaded = load_pretrained(backbone)
    assert torch.equal(loaded.fc.weight, network.fc.weight)


def test_class_names_match_imagenet_categories() -> None:
    assert match_classes(["cheetah", "lion"]) == {"cheetah": (293,), "lion": (291,)}
    assert match_classes(["Cheetahs", "LIONS"]) == {"Cheetahs": (293,), "LIONS": (291,)}
    assert match_class("king_of_beasts") == (291,)
    assert match_class("chetah") == (293,)
    assert match_classes(["cheetah", "my cat Bob"]) is None


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_embed_width_is_the_classifier_input_for_every_backbone(name: str) -> None:
    """MobileNetV3's pooled features (1280) are wider than its `num_features` (960): code
    that sizes feature tensors must use the classifier's input, even for an empty batch."""
    from training.models.features import embed

    backbone = BACKBONES[name]
    network = create_network(backbone, num_classes=3).eval()
    width = network.get_classifier().in_features
    prep = backbone.preprocessing.with_crop(64)
    empty = embed(network, torch.zeros((0, 3, 64, 64), dtype=torch.uint8), prep,
                  torch.device("cpu"))
    some = embed(network, torch.zeros((2, 3, 64, 64), dtype=torch.uint8), prep,
                 torch.device("cpu"))
    assert empty.features.shape == (0, width) and empty.logits.shape == (0, 3)
    assert some.features.shape == (2, width) and some.logits.shape == (2, 3)
