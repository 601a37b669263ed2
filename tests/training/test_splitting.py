"""Train/validation/test splits: reproducible, stratified, and never splitting a duplicate group."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from training.core.errors import DatasetError
from training.data.scanning import scan_dataset
from training.data.splitting import split_dataset
from training.records.dataset import Dataset, HealthReport, ImageRecord, Split, SplitName

ROOT = Path("/data/photos")


def indexed_dataset(counts: dict[str, int], groups: tuple[tuple[int, ...], ...] = (),
                    own_splits: list[SplitName] | None = None) -> Dataset:
    """A dataset of `counts[name]` images per class, in scan order, without touching disk."""
    records = []
    for label, (name, count) in enumerate(counts.items()):
        for index in range(count):
            own = own_splits[len(records)] if own_splits else None
            relpath = f"{own}/{name}/{index}.png" if own else f"{name}/{index}.png"
            records.append(ImageRecord(
                path=ROOT / relpath, relpath=relpath, label=label, own_split=own,
                width=64, height=64, content_hash=f"{len(records):032x}", phash=len(records),
            ))
    return Dataset(root=ROOT, classes=tuple(counts), images=tuple(records),
                   report=HealthReport(), has_own_split=own_splits is not None,
                   fingerprint="test", duplicate_groups=groups)


def part_of(split: Split) -> dict[int, str]:
    return {index: name for name in ("train", "val", "test") for index in split.part(name)}


def assert_partition(split: Split, dataset: Dataset) -> None:
    parts = [split.train, split.val, split.test]
    assert all(list(part) == sorted(part) for part in parts)
    everything = [index for part in parts for index in part]
    assert sorted(everything) == list(range(len(dataset.images))), "each image exactly once"


def per_class(dataset: Dataset, indices: tuple[int, ...]) -> dict[str, int]:
    counts = dict.fromkeys(dataset.classes, 0)
    for index in indices:
        counts[dataset.classes[dataset.images[index].label]] += 1
    return counts


# --- seeded splits -----------------------------------------------------------------------------


def test_split_is_a_partition_with_its_seed():
    dataset = indexed_dataset({"cheetah": 10, "leopard": 7, "lion": 3})
    split = split_dataset(dataset, val_fraction=0.2, test_fraction=0.1, seed=7)
    assert_partition(split, dataset)
    assert (split.seed, split.source) == (7, "seeded")
    assert split.sizes() == {"train": len(split.train), "val": len(split.val),
                             "test": len(split.test)}


def test_same_seed_gives_the_same_split():
    counts = {"cheetah": 25, "lion": 18}
    first = split_dataset(indexed_dataset(counts), 0.25, 0.1, seed=3)
    again = split_dataset(indexed_dataset(counts), 0.25, 0.1, seed=3)
    assert first == again


def test_different_seeds_give_different_splits():
    dataset = indexed_dataset({"cheetah": 20, "lion": 20})
    vals = {split_dataset(dataset, 0.2, seed=seed).val for seed in range(10)}
    assert split_dataset(dataset, 0.2, seed=0).val != split_dataset(dataset, 0.2, seed=1).val
    assert len(vals) >= 8


def test_split_of_a_known_dataset_is_pinned():
    # The split is a keyed hash of relative paths, so it is the same on every machine and
    # with every library version. If this changes, old runs can no longer be reproduced.
    dataset = indexed_dataset({"cheetah": 5, "lion": 5})
    split = split_dataset(dataset, 0.4, seed=0)
    assert split == split_dataset(indexed_dataset({"cheetah": 5, "lion": 5}), 0.4, seed=0)
    assert len(split.val) == 4
    assert split.val == PINNED_VAL


PINNED_VAL = (0, 3, 5, 6)


def test_split_is_stratified():
    dataset = indexed_dataset({"cheetah": 20, "leopard": 5, "lion": 2})
    split = split_dataset(dataset, val_fraction=0.2, seed=0)
    assert per_class(dataset, split.val) == {"cheetah": 4, "leopard": 1, "lion": 1}
    assert per_class(dataset, split.train) == {"cheetah": 16, "leopard": 4, "lion": 1}
    assert split.test == ()


def test_every_class_is_in_val_and_test_for_any_seed():
    dataset = indexed_dataset({"cheetah": 9, "leopard": 4, "lion": 3})
    for seed in range(20):
        split = split_dataset(dataset, 0.2, 0.2, seed=seed)
        for part in ("train", "val", "test"):
            assert all(per_class(dataset, split.part(part)).values()), (seed, part)


def test_fractions_set_the_sizes():
    dataset = indexed_dataset({"cheetah": 50, "lion": 30})
    split = split_dataset(dataset, val_fraction=0.3, test_fraction=0.1, seed=2)
    assert per_class(dataset, split.val) == {"cheetah": 15, "lion": 9}
    assert per_class(dataset, split.test) == {"cheetah": 5, "lion": 3}


def test_class_of_one_image_stays_in_training():
    dataset = indexed_dataset({"cheetah": 6, "lion": 1})
    split = split_dataset(dataset, 0.2, 0.2)
    assert per_class(dataset, split.train)["lion"] == 1
    assert per_class(dataset, split.val)["lion"] == 0


@pytest.mark.parametrize(("val", "test"), [(0.2, 0.2), (0.5, 0.3), (0.98, 0.01)])
def test_every_class_keeps_a_training_image(val, test):
    dataset = indexed_dataset({"cheetah": 2, "leopard": 3, "lion": 5})
    for seed in range(10):
        split = split_dataset(dataset, val, test, seed=seed)
        assert all(per_class(dataset, split.train).values()), (seed, split)
        assert all(per_class(dataset, split.val).values()), (seed, split)


def test_duplicate_group_filling_a_class_stays_in_training():
    dataset = indexed_dataset({"cheetah": 6, "lion": 2}, groups=((6, 7),))
    for seed in range(10):
        split = split_dataset(dataset, 0.3, 0.2, seed=seed)
        assert {6, 7} <= set(split.train), seed


def test_large_group_never_empties_training():
    # Placed whole, the first pair overshoots val and the second would fill test.
    groups = ((0, 1), (2, 3))
    dataset = indexed_dataset({"cheetah": 4, "lion": 4}, groups=groups)
    for seed in range(10):
        split = split_dataset(dataset, 0.25, 0.25, seed=seed)
        assert per_class(dataset, split.train)["cheetah"] >= 1, seed
        for group in groups:
            assert len({part_of(split)[index] for index in group}) == 1


def test_growing_one_class_leaves_the_others_split_alone():
    before = split_dataset(indexed_dataset({"cheetah": 12, "lion": 10}), 0.25, seed=4)
    after = split_dataset(indexed_dataset({"cheetah": 12, "lion": 11}), 0.25, seed=4)
    cheetah = set(range(12))
    assert set(before.val) & cheetah == set(after.val) & cheetah


def test_duplicate_groups_never_straddle_parts():
    groups = ((0, 1), (2, 3, 4), (10, 11), (12, 30), (20, 21, 22, 23), (31, 39))
    dataset = indexed_dataset({"cheetah": 20, "lion": 20}, groups=groups)
    placements = set()
    for seed in range(30):
        split = split_dataset(dataset, 0.25, 0.15, seed=seed)
        assert_partition(split, dataset)
        where = part_of(split)
        for group in groups:
            assert len({where[index] for index in group}) == 1, (seed, group)
        placements.add(where[2])
    assert placements == {"train", "val", "test"}, "groups do get drawn into every part"


@pytest.mark.parametrize(("val", "test"), [
    (0.0, 0.0), (1.0, 0.0), (-0.1, 0.0), (1.5, 0.0), (0.2, -0.1), (0.2, 1.0), (0.5, 0.5),
    (0.7, 0.4),
])
def test_invalid_fractions_are_refused(val, test):
    dataset = indexed_dataset({"cheetah": 5, "lion": 5})
    with pytest.raises(DatasetError) as caught:
        split_dataset(dataset, val_fraction=val, test_fraction=test)
    assert f"Validation ({val:g})" in str(caught.value)
    assert f"test ({test:g})" in str(caught.value)


@pytest.mark.parametrize(("val", "test"), [(0.5, 0.0), (0.3, 0.3), (0.01, 0.0), (0.98, 0.01)])
def test_valid_fractions_are_accepted(val, test):
    dataset = indexed_dataset({"cheetah": 5, "lion": 5})
    split = split_dataset(dataset, val_fraction=val, test_fraction=test)
    assert_partition(split, dataset)
    assert split.train and split.val


# --- the folder's own split --------------------------------------------------------------------


def test_folder_split_is_kept_as_it_is():
    own: list[SplitName] = ["train", "val", "train", "test", "train", "val", "train", "train"]
    dataset = indexed_dataset({"cheetah": 4, "lion": 4}, own_splits=own)
    split = split_dataset(dataset, val_fraction=0.9, test_fraction=0.5, seed=5)
    assert (split.source, split.seed) == ("folder", None)
    assert split.train == (0, 2, 4, 6, 7)
    assert split.val == (1, 5)
    assert split.test == (3,)


def test_folder_split_without_val_images_is_refused():
    dataset = indexed_dataset({"cheetah": 2, "lion": 2}, own_splits=["train"] * 4)
    with pytest.raises(DatasetError) as caught:
        split_dataset(dataset)
    assert str(ROOT) in str(caught.value) and "val folder has no usable images" in str(
        caught.value
    )


# --- on scanned folders ------------------------------------------------------------------------


def test_scanned_duplicates_stay_together(tmp_path, make_dataset):
    root = make_dataset(tmp_path / "data", {"cheetah": 8, "lion": 8}, size=(96, 96))
    for name in ("cheetah", "lion"):
        for index in range(3):
            shutil.copyfile(root / name / f"{name}_{index}.png",
                            root / name / f"{name}_{index} copy.png")
    near = root / "lion" / "lion_5 smaller.jpg"
    Image.open(root / "lion" / "lion_5.png").resize((70, 70)).save(near, quality=40)
    dataset = scan_dataset(root)
    assert len(dataset.duplicate_groups) == 7
    for seed in range(15):
        split = split_dataset(dataset, 0.3, 0.2, seed=seed)
        assert_partition(split, dataset)
        where = part_of(split)
        for group in dataset.duplicate_groups:
            assert len({where[index] for index in group}) == 1, (seed, group)


def test_scanned_folder_split_is_honoured(tmp_path, make_image):
    seed = 300
    layout = {"train": 4, "valid": 2, "test": 2}
    for part, count in layout.items():
        for name in ("cheetah", "lion"):
            for index in range(count):
                make_image(tmp_path / part / name / f"{index}.png", (64, 64), seed=seed)
                seed += 1
    dataset = scan_dataset(tmp_path)
    split = split_dataset(dataset, seed=9)
    assert split.source == "folder"
    for part, folder in (("train", "train"), ("val", "valid"), ("test", "test")):
        assert {dataset.images[i].relpath.split("/")[0] for i in split.part(part)} == {folder}
        assert per_class(dataset, split.part(part)) == {
            "cheetah": layout[folder], "lion": layout[folder]
        }
