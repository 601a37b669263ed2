"""`cheetahlion-cli next-to-label`: a gallery's photos in the order worth labelling them, with
the reason for each, the dataset's own photos left out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from synthetic import make_near_copy_gallery

from training.cli.commands import main
from training.insight.labelling_queue import order_for_review
from training.predict.inference import Predictor


def test_prints_the_order_with_reasons(colours_model: Path, tmp_path: Path, capsys) -> None:
    data = colours_model.parent / "colours"
    gallery = tmp_path / "gallery"
    paths = make_near_copy_gallery(gallery)
    shutil.copy(data / "red" / "0.png", gallery / "d-in-the-dataset.png")

    # the dataset's folder among the paths: its photos are labelled, never listed
    assert main(["next-to-label", str(colours_model), str(gallery), str(data / "blue"),
                 "--dataset", str(data), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    predictor = Predictor.from_file(colours_model)
    predictions = list(predictor.predict([*paths, str(gallery / "d-in-the-dataset.png")]))
    expected = order_for_review([p.path for p in predictions],
                                [p.probabilities for p in predictions],
                                [p.unfamiliar for p in predictions],
                                sorted(data.rglob("*.png")), predictor.classes)
    assert [row["rank"] for row in rows] == [1, 2, 3, 4]
    assert [row["path"] for row in rows] == [predictions[p.index].path for p in expected]
    assert [row["reason"] for row in rows] == [p.reason for p in expected]
    assert all(row["reason"] and 0 <= row["uncertainty"] <= 1 for row in rows)

    assert main(["next-to-label", str(colours_model), str(gallery), "--dataset", str(data),
                 "-n", "2"]) == 0
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    assert lines == [f"{row['rank']}\t{row['path']}\t{row['reason']}" for row in rows[:2]]
    assert "2 of 4 photos listed, best to label first" in printed.err
