"""`cheetahlion-cli next-to-label`: a gallery's photos in the order worth labelling them, with
the reason for each, the dataset's own photos left out; with a multi-label model too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from multilabel_synthetic import COLOURS, LABELS, make_patch_dataset, patch_image, patch_split
from PIL import Image
from synthetic import make_near_copy_gallery

from training.cli.commands import main
from training.fitting.multilabel import fit_multilabel
from training.insight.labelling_queue import order_for_review
from training.predict.inference import Predictor
from training.records.config import TrainConfig


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


def test_a_multilabel_model_ranks_by_how_close_each_label_is_to_its_threshold(
        tmp_path: Path, capsys) -> None:
    """A multi-label model and a labels.csv dataset: a photo with a faint red square (red,
    and blue, near their thresholds) comes first, its near-copy behind the other photos; the JSON
    carries each photo's labels, probabilities and thresholds."""
    dataset = make_patch_dataset(tmp_path / "photos", count=60)
    rows = ["path,labels"] + [f"{image.relpath},{';'.join(LABELS[j] for j in image.labels)}"
                              for image in dataset.images]
    (dataset.root / "labels.csv").write_text("\n".join(rows) + "\n")
    model = tmp_path / "patches.safetensors"
    fit_multilabel(TrainConfig.quick(), dataset, patch_split(60), output=model)
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    patch_image(("red", "blue"), 900).save(gallery / "a-sure.png")
    faint = np.array(patch_image((), 901), dtype=float)
    faint[20:42, 20:42] = np.array(COLOURS["red"]) * 0.4 + faint[20:42, 20:42] * 0.6
    Image.fromarray(faint.astype(np.uint8)).save(gallery / "b-faint.png")
    faint[0, 0] = 0
    Image.fromarray(faint.astype(np.uint8)).save(gallery / "c-faint-again.png")
    patch_image(("blue",), 902).save(gallery / "d-sure.png")

    assert main(["next-to-label", str(model), str(gallery), "--dataset", str(dataset.root),
                 "--json"]) == 0
    ranked = json.loads(capsys.readouterr().out)
    names = [Path(row["path"]).name for row in ranked]
    assert names[0] in ("b-faint.png", "c-faint-again.png") and names[-1] in (
        "b-faint.png", "c-faint-again.png"), names
    assert ranked[0]["reason"].startswith("unsure whether it shows ")
    assert "red (" in ranked[0]["reason"].split(";")[0]
    assert ranked[-1]["reason"].endswith("nearly the same as a photo labelled or ranked "
                                         "before it")
    assert set(ranked[0]["probabilities"]) == set(ranked[0]["thresholds"]) == set(LABELS)
    assert all(0 <= row["uncertainty"] <= 1 and isinstance(row["labels"], list)
               for row in ranked)
