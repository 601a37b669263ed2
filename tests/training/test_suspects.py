"""The likely-mislabelled finder on synthetic folders where the answer is known, and on the
real photos (skipped when absent).

The synthetic classes are colours ("red", "blue") that match no ImageNet category, so these
cases exercise the held-out and outlier signals; the real photos exercise the ImageNet one,
under their own names and under neutral ones (the folders' kinds; `test_suspect_kinds.py`
pins that signal on synthetic signals). Each dataset is scanned and checked once per module.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from synthetic import CLASS_COLOURS

from training.core.errors import DatasetError
from training.data.scanning import scan_dataset
from training.insight.suspects import assign_folds, find_suspects
from training.models.imagenet import category_names
from training.records.dataset import Dataset
from training.records.events import Cancelled, PhaseProgress
from training.records.suspects import FLAG_SCORE, Suspect, SuspectReport

STRAY_BLUE = "red/stray.png"
"""A blue image in the red folder: mislabelled, belongs to 'blue'."""
STRAY_GREEN = "blue/stray.png"
"""A green image in the blue folder: a third kind, belongs to neither class."""


def _save(colour: str, seed: int, path: Path) -> None:
    """The colour, shaded by a smooth pattern of its own for each seed.

    The patterns differ in structure, so no two images are near-duplicates by perceptual
    hash (flat colour with noise would be: its hash sees almost nothing but the noise).
    """
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (6, 6), dtype=np.uint8), "L")
    shade = np.asarray(coarse.resize((64, 64), Image.Resampling.BICUBIC), dtype=np.float64)
    pixels = np.array(CLASS_COLOURS[colour]) * (0.35 + 0.65 * shade[..., None] / 255)
    pixels += rng.normal(0, 8, pixels.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB").save(path)


def _make_dataset(root: Path, classes: tuple[str, ...] = ("red", "blue"), per_class: int = 12,
                  first_seed: int = 0) -> Path:
    for class_index, name in enumerate(classes):
        for i in range(per_class):
            _save(name, first_seed + class_index * 1000 + i, root / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Dataset, SuspectReport,
                                                               list[PhaseProgress]]:
    root = _make_dataset(tmp_path_factory.mktemp("planted") / "data")
    _save("blue", 9001, root / STRAY_BLUE)
    _save("green", 9002, root / STRAY_GREEN)
    dataset = scan_dataset(root)
    events: list[PhaseProgress] = []
    return dataset, find_suspects(dataset, events.append), events


@pytest.fixture(scope="module")
def copied(tmp_path_factory: pytest.TempPathFactory) -> tuple[Dataset, SuspectReport]:
    """Two identical blue photos in the red folder: a duplicate group, both mislabelled."""
    root = _make_dataset(tmp_path_factory.mktemp("copied") / "data", first_seed=100)
    _save("blue", 9101, root / "red" / "stray_a.png")
    shutil.copyfile(root / "red" / "stray_a.png", root / "red" / "stray_b.png")
    dataset = scan_dataset(root)
    return dataset, find_suspects(dataset)


def _by_path(report: SuspectReport) -> dict[str, Suspect]:
    return {suspect.relpath: suspect for suspect in report.suspects}


def test_the_two_planted_images_rank_first(planted) -> None:
    _dataset, report, _events = planted
    assert {suspect.relpath for suspect in report.suspects[:2]} == {STRAY_BLUE, STRAY_GREEN}


def test_an_image_of_another_class_is_flagged_and_names_its_class(planted) -> None:
    _dataset, report, _events = planted
    stray = _by_path(report)[STRAY_BLUE]
    assert stray.flagged and stray.score >= FLAG_SCORE
    assert stray.given == "red" and stray.suggested == "blue"
    # The first line says what to do; the evidence follows.
    assert stray.reasons[0] == "probably belongs in blue — move it there?"
    assert stray.reasons[1].startswith("the model trained without this photo says blue")
    assert stray.headline == "model says blue"


def test_an_image_of_a_third_kind_is_flagged_without_a_suggestion(planted) -> None:
    _dataset, report, _events = planted
    stray = _by_path(report)[STRAY_GREEN]
    assert stray.flagged
    assert stray.suggested is None
    assert stray.reasons[0] == ("unlike the other photos in blue — look at it; quarantine it "
                                "if it is none of the classes?")
    assert stray.reasons[1].startswith("unusual for 'blue'")
    assert stray.headline == "unusual for blue"


def test_clean_images_are_not_flagged(planted) -> None:
    _dataset, report, _events = planted
    assert {suspect.relpath for suspect in report.flagged} == {STRAY_BLUE, STRAY_GREEN}


def test_the_report_covers_every_image_most_suspicious_first(planted) -> None:
    dataset, report, _events = planted
    assert sorted(s.relpath for s in report.suspects) == sorted(r.relpath for r in dataset.images)
    scores = [suspect.score for suspect in report.suspects]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= score <= 1.0 for score in scores)
    assert report.classes == ("blue", "red")
    # Colour names match no ImageNet category, so the ImageNet model's opinion is taken
    # against each folder's kinds instead; it sees every texture as velvet, in both folders
    # alike, so that says nothing about any photo here (no reason names it).
    assert report.signals == ("held-out", "outlier", "kinds")
    assert not any("ImageNet sees" in r for s in report.suspects for r in s.reasons)
    names = set(category_names())
    for suspect in report.suspects:
        assert len(suspect.looks_like) == 3
        assert all(name in names and 0 <= p <= 1 for name, p in suspect.looks_like)
    hashes = {r.relpath: r.content_hash for r in dataset.images}
    assert all(s.content_hash == hashes[s.relpath] for s in report.suspects)


def test_progress_goes_through_features_and_check(planted) -> None:
    dataset, _report, events = planted
    phases = list(dict.fromkeys(event.phase for event in events))
    assert phases == ["features", "check"]
    for phase in phases:
        last = [event for event in events if event.phase == phase][-1]
        assert last.done == last.total
    assert [e for e in events if e.phase == "features"][-1].total == len(dataset.images)
    # One block of neighbour distances (26 images fit in one), five held-out folds, judging.
    check = [(e.done, e.total) for e in events if e.phase == "check"]
    assert check == [(done, 7) for done in range(8)]
    # One bar over both phases: from 0 to 1, never back (issue 20: it fell from 59 % to 16 %).
    fractions = [event.fraction for event in events]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    assert 0 < next(e for e in events if e.phase == "check").fraction < 1


def test_duplicates_share_a_fold(copied) -> None:
    dataset, _report = copied
    assert dataset.duplicate_groups, "the two identical files should form a duplicate group"
    for seed in range(4):
        fold = assign_folds(dataset, 5, seed)
        for group in dataset.duplicate_groups:
            assert len({int(fold[i]) for i in group}) == 1
        # Still stratified: every fold holds images of both classes.
        labels = torch.tensor(dataset.labels)
        for current in range(5):
            assert set(labels[fold == current].tolist()) == {0, 1}


def test_a_mislabelled_photo_with_a_copy_is_still_caught_held_out(copied) -> None:
    """A copy in the training folds would teach the held-out head 'red' for this photo."""
    _dataset, report = copied
    strays = _by_path(report)
    for name in ("red/stray_a.png", "red/stray_b.png"):
        assert strays[name].flagged
        assert strays[name].suggested == "blue"
        assert strays[name].reasons[1].startswith("the model trained without this photo says")
    assert {s.relpath for s in report.suspects[:2]} == {"red/stray_a.png", "red/stray_b.png"}


def test_cancelling_raises_cancelled(planted) -> None:
    dataset, _report, _events = planted
    cancel = threading.Event()

    def cancel_when_features_start(event: PhaseProgress) -> None:
        if event.phase == "features":
            cancel.set()

    with pytest.raises(Cancelled):
        find_suspects(dataset, cancel_when_features_start, cancel)


def test_cancelling_while_comparing_images_raises_cancelled(planted) -> None:
    """Cancel as the "check" phase begins: the neighbour distances stop before one block."""
    dataset, _report, _events = planted
    cancel = threading.Event()
    checks: list[PhaseProgress] = []

    def cancel_when_check_starts(event: PhaseProgress) -> None:
        if event.phase == "check":
            checks.append(event)
            cancel.set()

    with pytest.raises(Cancelled):
        find_suspects(dataset, cancel_when_check_starts, cancel)
    assert [(event.done, event.total) for event in checks] == [(0, 7)]


def test_a_class_of_one_image_is_reported_as_not_checked(tmp_path: Path) -> None:
    """One green photo in its own folder: nothing to compare it with, and no crash."""
    root = _make_dataset(tmp_path / "data", first_seed=200)
    _save("blue", 9201, root / "red" / "stray.png")
    _save("green", 9202, root / "green" / "only.png")
    report = find_suspects(scan_dataset(root))
    assert report.classes == ("blue", "green", "red")
    found = _by_path(report)
    only = found["green/only.png"]
    assert not only.flagged and only.suggested is None
    assert only.headline == "not checked"
    assert only.reasons == ("not checked: 'green' has too few different photos to compare "
                            "this one with; add more photos of green",)
    # The other classes are still checked: the blue photo in red/ is caught.
    assert report.suspects[0].relpath == "red/stray.png"
    assert report.suspects[0].flagged and report.suspects[0].suggested == "blue"


def test_one_class_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    root = _make_dataset(tmp_path / "data", classes=("red",), per_class=4)
    with pytest.raises(DatasetError, match="at least two classes"):
        find_suspects(scan_dataset(root))


VERDICTS = Path(__file__).parents[2] / "benchmarks" / "cheetah_lion_verdicts.json"
NEUTRAL = {"cheetah": "group_1", "lion": "group_2"}


@pytest.fixture(scope="module")
def real_reports(real_photos: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> dict[str, SuspectReport]:
    """The finder on the real photos under their names and under neutral ones.

    The second run finds every photo's features in the store (it is keyed by content), so
    it costs seconds. Relpaths of the neutral run are given back under the real names.
    """
    neutral = tmp_path_factory.mktemp("neutral")
    for name, renamed in NEUTRAL.items():
        shutil.copytree(real_photos / name, neutral / renamed)
    reports = {"real": find_suspects(scan_dataset(real_photos))}
    renamed = find_suspects(scan_dataset(neutral))
    back = {renamed: name for name, renamed in NEUTRAL.items()}
    reports["neutral"] = dataclasses.replace(renamed, suspects=tuple(
        dataclasses.replace(s, relpath=f"{back[s.given]}/{s.relpath.split('/')[1]}")
        for s in renamed.suspects))
    return reports


@pytest.mark.slow
def test_real_photos_other_animals_and_the_statue_are_flagged(real_reports) -> None:
    report = real_reports["real"]
    assert len(report.suspects) == 300
    assert report.signals == ("held-out", "outlier", "imagenet")
    found = _by_path(report)
    # Seen by eye: a tiger, meerkats and a house cat in cheetah/, two pumas and a stone lion
    # in lion/; none of them is the other class, so nothing is suggested.
    for name in ("cheetah/87.jpg", "cheetah/135.jpg", "cheetah/125.jpg", "lion/48.jpg",
                 "lion/91.jpg", "lion/135.jpg"):
        assert found[name].flagged, name
        assert found[name].suggested is None, name
    assert any(r.startswith("looks like: cougar") for r in found["lion/91.jpg"].reasons)
    # Most flags are the leopards in cheetah/; clean lions are not flagged wholesale.
    assert 15 <= len(report.flagged) <= 45
    assert sum(s.given == "lion" for s in report.flagged) <= 6


@pytest.mark.slow
@pytest.mark.parametrize("names", ["real", "neutral"])
def test_real_photos_judged_wrong_by_eye_lead_under_any_names(real_reports, names) -> None:
    """Issue 14: with `group_1`/`group_2` for names, at least 24 of the 28 photos judged
    not to belong are in the top 30, and at least 0.8 of the flags are right."""
    wrong = set(json.loads(VERDICTS.read_text())["not_belonging"])
    report = real_reports[names]
    assert sum(s.relpath in wrong for s in report.suspects[:30]) >= 24
    flagged = {s.relpath for s in report.flagged}
    assert len(flagged & wrong) >= 0.8 * len(flagged)
    assert len(flagged & wrong) >= 24


@pytest.mark.slow
def test_real_photos_under_neutral_names_are_explained_without_names(real_reports) -> None:
    report = real_reports["neutral"]
    assert report.signals == ("held-out", "outlier", "kinds")
    leopard = _by_path(report)["cheetah/83.jpg"]
    assert leopard.flagged and leopard.headline == "looks like leopard"
    assert leopard.reasons[0] == ("unlike the other photos in group_1 (looks like a leopard) — "
                                  "move it to quarantine?")
    assert leopard.reasons[1].startswith("ImageNet sees a leopard (0.")
    assert "photos here look like a cheetah" in leopard.reasons[1]
