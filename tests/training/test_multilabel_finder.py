"""The multi-label finder on photos whose answer is known: coloured squares (`multilabel_synthetic`)
with four labelling mistakes planted in labels.csv, two labels left off and two put on."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from multilabel_synthetic import LABELS, labels_of, make_patch_dataset

from training.cli.commands import main
from training.core.errors import DatasetError
from training.data.images import content_hash
from training.data.multilabel_scan import scan_multilabel
from training.insight.multilabel_suspects import (
    assess_labels,
    cap_label_flags,
    find_label_suspects,
)
from training.records.dataset import HealthReport
from training.records.multilabel import LabelledImage, MultiLabelDataset
from training.records.multilabel_suspects import (
    LABEL_FLAG_MIN,
    LabelDoubt,
    LabelSuspect,
    LabelSuspectReport,
)

PLANTED = {"003.png": ("missing", "blue"), "011.png": ("missing", "red"),
           "004.png": ("wrong", "red"), "016.png": ("wrong", "blue")}
"""Photo → (kind of mistake, label): 003 shows red and blue but is labelled red only, 004
shows nothing but is labelled red, and so on."""


def write_planted_labels(root: Path, count: int = 120) -> None:
    rows = ["path,labels"]
    for index in range(count):
        name = f"{index:03d}.png"
        labels = set(labels_of(index))
        kind, label = PLANTED.get(name, ("", ""))
        labels = labels - {label} if kind == "missing" else labels | {label} - {""}
        rows.append(f"{name},{';'.join(sorted(labels))}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_patch_dataset(tmp_path_factory.mktemp("finder") / "photos").root
    write_planted_labels(root)
    return root


@pytest.fixture(scope="module")
def events() -> list[Any]:
    return []


@pytest.fixture(scope="module")
def report(planted: Path, events: list[Any]) -> LabelSuspectReport:
    return find_label_suspects(scan_multilabel(planted), events.append)


@pytest.fixture(scope="module")
def cli_json(planted: Path, report: LabelSuspectReport) -> dict[str, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(["suspects", str(planted), "--json", "--quiet"]) == 0
    return json.loads(out.getvalue())


def test_planted_mistakes_rank_first_with_their_kind_and_label(
        report: LabelSuspectReport) -> None:
    top = report.suspects[:len(PLANTED)]
    assert {s.relpath for s in top} == set(PLANTED)
    for suspect in top:
        kind, label = PLANTED[suspect.relpath]
        first = suspect.doubts[0]
        assert (first.kind, first.label) == (kind, label)
        assert suspect.flagged
    assert report.labels_file_hash == content_hash((report.suspects[0].path.parent
                                                    / "labels.csv").read_bytes())


def test_reasons_say_what_to_do_and_why(report: LabelSuspectReport) -> None:
    by_path = {s.relpath: s for s in report.suspects}
    missing = by_path["003.png"].doubts[0]
    assert missing.reason == f"probably also 'blue' (held-out {missing.held_out:.2f}) — add it?"
    assert missing.held_out >= 0.8 and missing.score == missing.held_out
    wrong = by_path["004.png"].doubts[0]
    assert wrong.reason == (f"'red' is doubtful (held-out {wrong.held_out:.2f}): the model "
                            "trained without this photo sees none — remove it?")
    assert wrong.held_out <= 0.2 and wrong.score == pytest.approx(1 - wrong.held_out)


def test_most_clean_photos_have_no_doubt(report: LabelSuspectReport) -> None:
    clean = [s for s in report.suspects if s.relpath not in PLANTED]
    assert sum(1 for s in clean if s.flagged) <= 2
    assert sum(1 for s in clean if s.doubts) <= 10
    assert report.unjudged_labels == ()


def test_the_cli_lists_the_doubts_as_json(cli_json: dict[str, Any]) -> None:
    assert cli_json["task"] == "multi-label" and tuple(cli_json["labels"]) == LABELS
    top = cli_json["suspects"][:len(PLANTED)]
    assert {s["relpath"] for s in top} == set(PLANTED)
    assert all(s["flagged"] and s["doubts"][0]["reason"].endswith("?") for s in top)
    assert cli_json["labels_file_hash"]


def test_a_labels_csv_changed_after_the_scan_is_refused(tmp_path: Path) -> None:
    root = make_patch_dataset(tmp_path / "photos", count=20).root
    write_planted_labels(root, count=20)
    dataset = scan_multilabel(root)
    text = (root / "labels.csv").read_text().replace("003.png,red", "003.png,blue;red")
    (root / "labels.csv").write_text(text)
    with pytest.raises(DatasetError, match=r"changed since the folder was scanned.*003\.png"):
        find_label_suspects(dataset)


def test_flags_are_capped_like_the_single_label_finders() -> None:
    doubt = LabelDoubt("red", "wrong", 0.01, 0.99, "")
    suspects = [LabelSuspect(Path(f"{i}.png"), f"{i}.png", ("red",), (doubt,), str(i))
                for i in range(40)]
    capped = cap_label_flags(suspects)
    assert sum(s.flagged for s in capped) == LABEL_FLAG_MIN
    assert all(s.worth_a_look for s in capped[LABEL_FLAG_MIN:])


def _records(labels: list[tuple[int, ...]]) -> MultiLabelDataset:
    images = tuple(LabelledImage(Path(f"/d/{i}.png"), f"{i}.png", tuple(own), 8, 8, str(i))
                   for i, own in enumerate(labels))
    return MultiLabelDataset(Path("/d"), ("a", "b", "lonely"), images, HealthReport(), "f",
                             "folders")


def test_features_that_show_the_labels_find_the_planted_errors_alone() -> None:
    """No network: each photo's features are its true labels plus noise, so the answer is
    known exactly; a label on one photo only cannot be held out and is never doubted."""
    generator = torch.Generator().manual_seed(0)
    truth = [tuple(j for j in (0, 1) if (i >> j) & 1) for i in range(80)]
    given = list(truth)
    given[7] = (0,)        # shows a and b: b is missing
    given[8] = (0, 1)      # shows nothing: a and b are wrong
    given[9] = (0, 2)      # shows a; the only photo with "lonely"
    features = torch.zeros(80, 16)
    for i, own in enumerate(truth):
        features[i, list(own)] = 3.0
    features += 0.3 * torch.randn(80, 16, generator=generator)
    report = assess_labels(_records(given), features)
    assert report.unjudged_labels == ("lonely",) and report.labels_file_hash is None
    top = {s.relpath: {(d.kind, d.label) for d in s.doubts} for s in report.suspects[:2]}
    assert top == {"7.png": {("missing", "b")}, "8.png": {("wrong", "a"), ("wrong", "b")}}
    assert not any(d.label == "lonely" for s in report.suspects for d in s.doubts)


def test_progress_runs_once_from_features_to_the_check(report: LabelSuspectReport,
                                                      events: list[Any]) -> None:
    fractions = [event.fraction for event in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert events[0].phase == "features" and events[-1].phase == "check"
    assert events[-1].done == events[-1].total == report.folds + 1
