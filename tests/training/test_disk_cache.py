"""The on-disk pixel cache: used above the RAM limit, reused, invalidated, never half-used.

`CHEETAHLION_MAX_PIXEL_RAM=0` forces every dataset onto disk, so tiny synthetic datasets
exercise the path that 50,000-image ones take. The cache lives under the test's own
CHEETAHLION_HOME (tests/conftest.py), never the real user's.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import torch
from synthetic import make_dataset, textured_image

from training.data import disk_cache, pixel_cache
from training.data.disk_cache import DiskCacheError, DiskPixels
from training.data.pixel_cache import decode_all
from training.data.scanning import scan_dataset
from training.fitting.trainer import fit
from training.records.backbones import get_backbone
from training.records.config import TrainConfig
from training.records.events import Cancelled, PhaseProgress

PREP = get_backbone("efficientnet_lite0").preprocessing.with_crop(32)


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    root = make_dataset(tmp_path / "data", per_class=5, size=48)
    return sorted(root.rglob("*.png"))


@pytest.fixture
def on_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(disk_cache.RAM_LIMIT_ENV, "0")


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every path the pixel cache decodes, in order."""
    seen: list[Path] = []
    real = pixel_cache.load_pixels

    def counting(path: Path, prep: object) -> object:
        seen.append(path)
        return real(path, prep)  # type: ignore[arg-type]

    monkeypatch.setattr(pixel_cache, "load_pixels", counting)
    return seen


def _decode(paths: list[Path], events: list[PhaseProgress] | None = None,
            cancel: threading.Event | None = None) -> pixel_cache.Pixels:
    report = events.append if events is not None else (lambda _event: None)
    return decode_all(paths, PREP, report, cancel or threading.Event(), "fingerprint")


def test_small_data_stays_in_ram_and_large_goes_to_disk_with_the_same_pixels(
        images: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    in_ram = _decode(images)
    assert isinstance(in_ram, torch.Tensor)
    monkeypatch.setenv(disk_cache.RAM_LIMIT_ENV, str(in_ram.numel() - 1))
    on_disk = _decode(images)
    assert isinstance(on_disk, DiskPixels) and on_disk.shape == tuple(in_ram.shape)
    home = Path(os.environ["CHEETAHLION_HOME"])
    assert on_disk.path.is_relative_to(home / "cache" / "pixels")
    assert (on_disk.path.parent / "index.json").is_file()
    assert torch.equal(on_disk[0:len(images)], in_ram)
    shuffled = torch.tensor([7, 2, 2, 9, 0, 3])
    assert torch.equal(on_disk[shuffled], in_ram[shuffled])
    tail = pixel_cache.select(on_disk, slice(4, None))
    assert isinstance(tail, DiskPixels)
    assert torch.equal(torch.cat(list(tail.split(4))), in_ram[4:])
    assert torch.equal(tail[torch.tensor([5, 1])], in_ram[4:][torch.tensor([5, 1])])


def test_a_second_run_reuses_the_cache_without_decoding(
        images: list[Path], on_disk: None, decodes: list[Path]) -> None:
    first = _decode(images)
    assert decodes == images
    events: list[PhaseProgress] = []
    second = _decode(images, events)
    assert decodes == images  # nothing decoded again
    assert events[-1].phase == "decode" and events[-1].done == events[-1].total == len(images)
    assert torch.equal(second[0:len(images)], first[0:len(images)])


def test_a_changed_file_makes_the_cache_decode_again(
        images: list[Path], on_disk: None, decodes: list[Path]) -> None:
    before = _decode(images)[0:len(images)]
    changed = images[3]
    textured_image((0, 255, 0), 99, 48).save(changed)
    stamp = changed.stat()
    os.utime(changed, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))
    after = _decode(images)[0:len(images)]
    assert decodes == images + images
    assert not torch.equal(after[3], before[3])
    assert torch.equal(after[:3], before[:3]) and torch.equal(after[4:], before[4:])


def test_a_cancelled_or_broken_cache_is_never_used(
        images: list[Path], on_disk: None, decodes: list[Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    cancel = threading.Event()
    counting = pixel_cache.load_pixels

    def stop_after_three(path: Path, prep: object) -> object:
        if len(decodes) == 3:
            cancel.set()
        return counting(path, prep)

    monkeypatch.setattr(pixel_cache, "load_pixels", stop_after_three)
    with pytest.raises(Cancelled):
        _decode(images, cancel=cancel)
    monkeypatch.setattr(pixel_cache, "load_pixels", counting)
    folder = disk_cache.pixels_dir() / disk_cache.cache_key(images, PREP, "fingerprint")
    assert not (folder / "index.json").exists()
    assert not list(folder.glob("*.tmp"))  # the half-written data file was removed
    decodes.clear()
    complete = _decode(images)
    assert decodes == images
    data = complete.path.read_bytes()
    complete.path.write_bytes(data[:-1])  # a data file cut short: its index no longer fits
    decodes.clear()
    again = _decode(images)
    assert decodes == images and again.path.stat().st_size == len(data)


def test_old_entries_are_deleted_to_stay_within_the_budget(
        images: list[Path], on_disk: None, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _decode(images[:6])
    entry_bytes = sum(path.stat().st_size for path in first.path.parent.iterdir())
    monkeypatch.setattr(disk_cache, "DISK_BUDGET_BYTES", entry_bytes * 2 + 100)
    second = _decode(images[1:7])
    assert first.path.exists() and second.path.exists()
    third = _decode(images[2:8])
    assert not first.path.parent.exists()
    assert second.path.exists() and third.path.exists()


def test_a_malformed_ram_limit_is_explained(images: list[Path],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(disk_cache.RAM_LIMIT_ENV, "2GB")
    with pytest.raises(DiskCacheError, match=disk_cache.RAM_LIMIT_ENV):
        _decode(images)


@pytest.fixture(scope="module")
def colours(tmp_path_factory: pytest.TempPathFactory):
    return scan_dataset(make_dataset(tmp_path_factory.mktemp("data") / "colours", per_class=8))


def test_fit_trains_the_same_weights_from_disk_as_from_ram(
        colours, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fine-tuning only: quick mode streams its photos into the feature store instead."""
    config = TrainConfig.finetune(epochs=1, image_size=32, batch_size=4)
    from_ram = fit(config, colours, output=tmp_path / "ram.safetensors")
    monkeypatch.setenv(disk_cache.RAM_LIMIT_ENV, "0")
    from_disk = fit(config, colours, output=tmp_path / "disk.safetensors")
    assert list(disk_cache.pixels_dir().glob("*/index.json"))  # the disk path was taken
    ram_state = from_ram.model.network.state_dict()
    disk_state = from_disk.model.network.state_dict()
    assert ram_state.keys() == disk_state.keys()
    assert all(torch.equal(ram_state[name], disk_state[name]) for name in ram_state)
    assert [e.val_loss for e in from_ram.history] == [e.val_loss for e in from_disk.history]
    assert torch.equal(from_ram.model.novelty.features, from_disk.model.novelty.features)
