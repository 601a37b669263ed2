"""The dataset map: a projection with a known answer, and a map that follows the folder.

The projection is checked on features whose answer is known (two tight, well-separated
clusters lie apart along the first axis; the same features give the same map in any
order); `dataset_map` on a small synthetic folder (one point per photo, copies linked, the
finder's flags carried); and `DatasetMap.for_dataset` on the folder after clean-up moves.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
import torch
from synthetic import CLASS_COLOURS, make_dataset, textured_image

import training
from training.data.scanning import scan_dataset
from training.insight.dataset_map import dataset_map, project
from training.records.dataset import Dataset
from training.records.dataset_map import DatasetMap
from training.records.events import Cancelled, PhaseProgress
from training.records.suspects import Suspect, SuspectReport


def _clusters(seed: int = 0, per: int = 40, width: int = 64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(2, width, generator=generator)
    noise = torch.randn(2 * per, width, generator=generator) * 0.05
    return torch.cat([centres[0] + noise[:per], centres[1] + noise[per:]])


def test_two_well_separated_clusters_lie_apart_along_the_first_axis() -> None:
    places, explained = project(_clusters())
    first, second = places[:40, 0], places[40:, 0]
    gap = max(first.min() - second.max(), second.min() - first.max())
    assert gap > 10 * max(first.std(), second.std())  # apart, each tight
    assert places[:, 1].abs().max() < gap / 5  # the second axis shows only the noise
    assert 0.9 < explained <= 1.0


def test_the_projection_is_deterministic_in_value_sign_and_order() -> None:
    features = _clusters(seed=3)
    places, explained = project(features)
    again, explained_again = project(features.clone())
    assert torch.equal(places, again) and explained == explained_again
    order = torch.randperm(len(features), generator=torch.Generator().manual_seed(1))
    shuffled, _ = project(features[order])
    assert torch.allclose(shuffled, places[order], atol=1e-5)  # same signs, same axes
    assert torch.allclose(project(features * 7.5)[0], places, atol=1e-5)  # only directions


def test_the_projection_takes_degenerate_inputs() -> None:
    assert project(torch.empty((0, 8)))[0].shape == (0, 2)
    single, explained = project(torch.ones((1, 8)))
    assert single.tolist() == [[0.0, 0.0]] and explained == 0.0
    flat, _ = project(torch.tensor([[1.0], [-1.0], [1.0]]))
    assert flat.shape == (3, 2) and flat[:, 1].abs().max() == 0


@pytest.fixture(scope="module")
def colours(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """red/ and blue/ photos, and one red photo copied into blue/ (a linked pair)."""
    root = make_dataset(tmp_path_factory.mktemp("map") / "colours", per_class=8)
    shutil.copyfile(root / "red" / "0.png", root / "blue" / "copy-of-red-0.png")
    return scan_dataset(root)


def test_dataset_map_places_every_photo_and_links_its_copies(colours: Dataset) -> None:
    events: list[PhaseProgress] = []
    drawn = training.dataset_map(colours, events.append)
    assert isinstance(drawn, training.DatasetMap) and len(drawn) == len(colours.images) == 17
    assert drawn.paths == colours.paths and drawn.labels == colours.labels
    assert len(drawn.x) == len(drawn.y) == 17 and drawn.flags == ()
    copy = drawn.paths.index(colours.root / "blue" / "copy-of-red-0.png")
    original = drawn.paths.index(colours.root / "red" / "0.png")
    assert set(drawn.links) == {(min(copy, original), max(copy, original))}
    assert (drawn.x[copy], drawn.y[copy]) == pytest.approx((drawn.x[original],
                                                            drawn.y[original]))
    assert (events[-1].phase, events[-1].done, events[-1].total) == ("features", 17, 17)
    red = [x for x, label in zip(drawn.x, drawn.labels, strict=True)
           if colours.classes[label] == "red"]
    blue = [x for x, label, path in zip(drawn.x, drawn.labels, drawn.paths, strict=True)
            if colours.classes[label] == "blue" and path.name != "copy-of-red-0.png"]
    assert max(red) < min(blue) or max(blue) < min(red)  # the colours lie apart
    again = dataset_map(colours)  # now every feature comes from the store
    assert (again.x, again.y, again.links) == (drawn.x, drawn.y, drawn.links)


def test_dataset_map_can_be_cancelled(colours: Dataset) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        dataset_map(colours, cancel=cancel)


def _suspect(dataset: Dataset, relpath: str, score: float) -> Suspect:
    record = next(r for r in dataset.images if r.relpath == relpath)
    return Suspect(record.path, relpath, dataset.classes[record.label], score, None,
                   ("a reason",), f"headline of {relpath}", (), record.content_hash)


def test_the_finders_flags_and_a_rescanned_folder(colours: Dataset, tmp_path: Path) -> None:
    root = tmp_path / "colours"
    shutil.copytree(colours.root, root)
    dataset = scan_dataset(root)
    report = SuspectReport((_suspect(dataset, "red/1.png", 0.9),
                            _suspect(dataset, "red/2.png", 0.9),
                            _suspect(dataset, "red/3.png", 0.1)), dataset.classes, (), 0.0)
    drawn = dataset_map(dataset, report=report)
    place = {path.relative_to(root).as_posix(): (x, y)
             for path, x, y in zip(drawn.paths, drawn.x, drawn.y, strict=True)}
    flagged = {p.relative_to(root).as_posix(): f
               for p, f in zip(drawn.paths, drawn.flags, strict=True) if f}
    assert flagged == {"red/1.png": "headline of red/1.png", "red/2.png": "headline of red/2.png"}

    quarantine = tmp_path / "quarantine"
    quarantine.mkdir()
    shutil.move(root / "red" / "1.png", root / "blue" / "red-1.png")  # to another class
    shutil.move(root / "red" / "4.png", quarantine / "4.png")  # taken out
    textured_image(CLASS_COLOURS["red"], 4242).save(root / "red" / "new.png")  # not mapped
    moved = drawn.for_dataset(scan_dataset(root))
    where = {p.relative_to(root).as_posix(): (x, y, moved.classes[label], moved.flag(i))
             for i, (p, x, y, label) in enumerate(zip(moved.paths, moved.x, moved.y,
                                                      moved.labels, strict=True))}
    assert "red/4.png" not in where and "red/new.png" not in where and moved.unplaced == 1
    assert where["blue/red-1.png"] == (*place["red/1.png"], "blue", "")  # acted on: no flag
    assert where["red/2.png"] == (*place["red/2.png"], "red", "headline of red/2.png")
    assert len(moved) == len(drawn) - 1
    shutil.move(quarantine / "4.png", root / "red" / "4.png")  # the move undone
    back = drawn.for_dataset(scan_dataset(root))
    assert dict(zip(back.paths, back.x, strict=True))[root / "red" / "4.png"] == \
        place["red/4.png"][0]
    assert drawn.with_report(None).flags == () and isinstance(back, DatasetMap)
