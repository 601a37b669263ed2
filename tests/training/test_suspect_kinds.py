"""The finder's name-free ImageNet signal (the folder's kinds), on synthetic signals whose
answer is known.

The images are tiny textures, only there to make a real `Dataset`; the features and ImageNet
logits are made up and handed to `assess`, the finder's scoring half. Features put every
photo among its folder mates, so the held-out head and the outlier signal accept a photo of
another kind (as they accept the two dozen real leopards in `cheetah/`): only the folder's
kinds can find it. Folders have neutral names (`group_1`, `group_2`) that match no ImageNet
category.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from training.data.scanning import scan_dataset
from training.insight.suspect_signals import (
    KIND_SHARE,
    KINDS_MIN_PHOTOS,
    OwnCategories,
    own_categories,
)
from training.insight.suspect_weights import imagenet_agreement
from training.insight.suspects import assess
from training.records.dataset import Dataset
from training.records.suspects import Suspect

CHEETAH, LEOPARD, LION, TIGER = 293, 288, 291, 292
PER_FOLDER = 40
DIMENSIONS = 128
"""Many feature dimensions: distances between noisy points concentrate, so no clean photo
looks like an outlier by chance (with 16, one in forty lay 1.9x as far as usual)."""


def _dataset(make_dataset: Callable[..., Path], tmp_path: Path,
             names: tuple[str, str] = ("group_1", "group_2")) -> Dataset:
    root = make_dataset(tmp_path / "data", dict.fromkeys(names, PER_FOLDER), size=(32, 32))
    return scan_dataset(root)


def _signals(dataset: Dataset, kinds: dict[str, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Features: each folder a tight cluster of its own. Logits: a clear first choice per
    photo, `kinds[relpath]` where given, else its folder's main kind (cheetah for the first
    folder, lion for the second)."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.tensor(dataset.labels)
    centres = torch.eye(DIMENSIONS)[:2] * 3
    features = centres[labels] + 0.3 * torch.randn(len(labels), DIMENSIONS, generator=generator)
    logits = 0.5 * torch.randn(len(labels), 1000, generator=generator)
    for index, record in enumerate(dataset.images):
        logits[index, kinds.get(record.relpath, (CHEETAH, LION)[record.label])] = 8.0
    return features, logits


def _first(dataset: Dataset, count: int) -> list[str]:
    """The relpaths of the first `count` photos of the first folder."""
    folder = dataset.classes[0]
    return [f"{folder}/{folder}_{index}.png" for index in range(count)]


def _flagged(suspects: tuple[Suspect, ...]) -> set[str]:
    return {suspect.relpath for suspect in suspects if suspect.flagged}


def test_a_different_kind_in_a_neutral_folder_is_found_flagged_and_explained(
        make_dataset: Callable[..., Path], tmp_path: Path) -> None:
    dataset = _dataset(make_dataset, tmp_path)
    leopards = _first(dataset, 4)
    suspects, signals = assess(dataset, *_signals(dataset, dict.fromkeys(leopards, LEOPARD)))
    assert signals == ("held-out", "outlier", "kinds")
    assert {suspect.relpath for suspect in suspects[:4]} == set(leopards)
    assert _flagged(suspects) == set(leopards)
    for suspect in suspects[:4]:
        assert suspect.suggested is None  # a leopard is no lion either
        assert suspect.headline == "looks like leopard"
        assert suspect.reasons[1].startswith("ImageNet sees a leopard (0.")
        # No class name in the evidence: the folder is described by what it looks like.
        assert "36 of the 40 photos here look like a cheetah" in suspect.reasons[1]
        assert "group_" not in suspect.reasons[1]


def test_clean_folders_give_no_flags(make_dataset: Callable[..., Path], tmp_path: Path) -> None:
    dataset = _dataset(make_dataset, tmp_path)
    suspects, _signals_used = assess(dataset, *_signals(dataset, {}))
    assert _flagged(suspects) == set()
    assert max(suspect.score for suspect in suspects) < 0.2


def test_a_second_kind_that_is_a_third_of_the_folder_belongs(
        make_dataset: Callable[..., Path], tmp_path: Path) -> None:
    """14 of 40 photos (35 %) are leopards: a folder of two kinds, nothing to flag."""
    dataset = _dataset(make_dataset, tmp_path)
    leopards = dict.fromkeys(_first(dataset, 14), LEOPARD)
    suspects, _signals_used = assess(dataset, *_signals(dataset, leopards))
    assert _flagged(suspects) == set()


def test_a_folder_the_model_sees_as_many_things_has_no_kinds(
        make_dataset: Callable[..., Path], tmp_path: Path) -> None:
    """`not mine/`: the first folder's photos are ten different things, four of each."""
    dataset = _dataset(make_dataset, tmp_path)
    spread = {path: 100 + index // 4 for index, path in enumerate(_first(dataset, PER_FOLDER))}
    suspects, signals = assess(dataset, *_signals(dataset, spread))
    assert "kinds" in signals  # the second folder still has one
    assert _flagged(suspects) == set()
    owned = own_categories(dataset.classes, torch.tensor(dataset.labels),
                           _signals(dataset, spread)[1].softmax(1))
    assert not owned[0] and owned[1].categories == (LION,)


def test_a_photo_of_the_other_folders_kind_is_suggested_there(
        make_dataset: Callable[..., Path], tmp_path: Path) -> None:
    """A lion among the first folder's photos, which the head takes for one of them."""
    dataset = _dataset(make_dataset, tmp_path)
    lion = _first(dataset, 1)[0]
    suspects, _signals_used = assess(dataset, *_signals(dataset, {lion: LION}))
    assert _flagged(suspects) == {lion}
    assert suspects[0].relpath == lion
    assert suspects[0].suggested == "group_2"
    assert suspects[0].headline == "looks like lion"


def test_class_names_that_match_imagenet_are_used_instead(
        make_dataset: Callable[..., Path], tmp_path: Path) -> None:
    dataset = _dataset(make_dataset, tmp_path, ("cheetah", "lion"))
    leopards = _first(dataset, 4)
    suspects, signals = assess(dataset, *_signals(dataset, dict.fromkeys(leopards, LEOPARD)))
    assert signals == ("held-out", "outlier", "imagenet")
    assert _flagged(suspects) == set(leopards)
    assert suspects[0].reasons[0] == ("probably not a cheetah (looks like a leopard) — move it "
                                      "to quarantine?")
    assert suspects[0].reasons[1].startswith("looks like: leopard 0.")


def _first_choices(*counts: tuple[int, int]) -> torch.Tensor:
    """One-hot "probabilities" with the given (category, photos) first choices."""
    rows = [category for category, photos in counts for _ in range(photos)]
    return torch.nn.functional.one_hot(torch.tensor(rows), 1000).float()


def test_kinds_need_a_share_of_the_folder_and_together_most_of_it() -> None:
    at_share = round(KIND_SHARE * 40)
    probabilities = _first_choices((CHEETAH, 40 - at_share), (LEOPARD, at_share))
    owned = own_categories(("group_1",), torch.zeros(40, dtype=torch.long), probabilities)
    assert owned[0] == OwnCategories((LEOPARD, CHEETAH), False, 40, 40)
    probabilities = _first_choices((CHEETAH, 41 - at_share), (LEOPARD, at_share - 1))
    owned = own_categories(("group_1",), torch.zeros(40, dtype=torch.long), probabilities)
    assert owned[0].categories == (CHEETAH,) and owned[0].photos == 41 - at_share
    # Two kinds that are together most of the folder count; one kind of a quarter, the
    # rest scattered over many things, does not.
    mixed = _first_choices((CHEETAH, 12), (LEOPARD, 10), *[(100 + i, 1) for i in range(18)])
    assert own_categories(("g",), torch.zeros(40, dtype=torch.long), mixed)[0].photos == 22
    scattered = _first_choices((CHEETAH, 10), (LEOPARD, 9), *[(100 + i, 1) for i in range(21)])
    assert not own_categories(("g",), torch.zeros(40, dtype=torch.long), scattered)[0]


def test_a_small_folder_has_no_kinds() -> None:
    size = KINDS_MIN_PHOTOS - 1
    probabilities = _first_choices((CHEETAH, size))
    assert not own_categories(("g",), torch.zeros(size, dtype=torch.long), probabilities)[0]


@pytest.mark.parametrize(("first", "expected"), [
    (LEOPARD, 0.8),  # sees the folder's kind, not the other's: vouches for the label
    (LION, 0.0),  # sees the other folder's kind
    (TIGER, 0.0),  # sees neither
])
def test_imagenet_agreement(first: int, expected: float) -> None:
    probabilities = torch.zeros(1000)
    probabilities[first] = 0.8
    owned = (OwnCategories((LEOPARD,), False, 30, 40), OwnCategories((LION,), False, 40, 40))
    assert imagenet_agreement(0, 1, probabilities, owned) == pytest.approx(expected)
    # Where the other class has no categories, ImageNet cannot vouch for either label.
    assert imagenet_agreement(0, 1, probabilities, (owned[0], OwnCategories())) == 0.0
