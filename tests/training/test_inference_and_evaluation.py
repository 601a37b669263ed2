"""Prediction streams survive bad files; metrics are computed correctly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from synthetic import textured_image

from training.fitting.modelfile import TrainedModel
from training.models.networks import create_network
from training.predict.evaluation import summarize
from training.predict.inference import Predictor
from training.records.backbones import get_backbone
from training.records.predictions import Prediction


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    backbone = get_backbone("efficientnet_lite0")
    torch.manual_seed(0)
    network = create_network(backbone, num_classes=3)
    return Predictor.from_model(
        TrainedModel(network, backbone.name, ("a", "b", "c"), backbone.preprocessing)
    )


def test_bad_files_become_error_results_and_order_is_kept(predictor: Predictor, tmp_path: Path
                                                          ) -> None:
    good = []
    for i in range(5):
        path = tmp_path / f"good {i}.png"
        textured_image((100, 100, 100), i).save(path)
        good.append(path)
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.jpg"
    paths = [good[0], text, good[1], empty, good[2], missing, good[3], good[4]]
    results = list(predictor.predict(paths, batch_size=3))
    assert [r.path for r in results] == [str(p) for p in paths]
    errors = {Path(r.path).name: r.error for r in results if r.error}
    assert set(errors) == {"notes.jpg", "empty.png", "missing.jpg"}
    assert "notes.jpg" in errors["notes.jpg"] and "not an image" in errors["notes.jpg"]
    assert "empty" in errors["empty.png"]
    for result in results:
        if result.error is None:
            assert result.label in predictor.classes
            assert sum(result.probabilities) == pytest.approx(1.0, abs=1e-5)
            assert result.confidence == max(result.probabilities)


def test_cancel_stops_the_stream(predictor: Predictor, tmp_path: Path) -> None:
    import threading

    paths = []
    for i in range(6):
        paths.append(tmp_path / f"{i}.png")
        textured_image((10, 200, 10), i).save(paths[-1])
    cancel = threading.Event()
    results = []
    for result in predictor.predict(paths, batch_size=2, cancel=cancel):
        results.append(result)
        cancel.set()
    assert len(results) == 2


def test_imagenet_predictor_knows_1000_classes() -> None:
    predictor = Predictor.imagenet()
    assert len(predictor.classes) == 1000
    assert predictor.classes[293] == "cheetah" and predictor.classes[291] == "lion"


def _prediction(label: str, probabilities: tuple[float, ...]) -> Prediction:
    return Prediction(f"{label}-{probabilities}", label, max(probabilities), probabilities)


def test_summarize_counts_confusion_precision_recall_and_mistakes() -> None:
    classes = ("a", "b")
    truths = [0, 0, 0, 1, 1]
    predictions = [
        _prediction("a", (0.9, 0.1)),
        _prediction("a", (0.6, 0.4)),
        _prediction("b", (0.2, 0.8)),   # mistake, confidence 0.8
        _prediction("b", (0.3, 0.7)),
        _prediction("a", (0.55, 0.45)),  # mistake, confidence 0.55
    ]
    broken = Prediction("broken.jpg", None, 0.0, (), error="unreadable")
    report = summarize(classes, [*truths, 1], [*predictions, broken])
    assert report.confusion == ((2, 1), (1, 1))
    assert report.accuracy == pytest.approx(3 / 5)
    a, b = report.per_class
    assert (a.precision, a.recall, a.support) == (pytest.approx(2 / 3), pytest.approx(2 / 3), 3)
    assert (b.precision, b.recall, b.support) == (pytest.approx(1 / 2), pytest.approx(1 / 2), 2)
    assert a.f1 == pytest.approx(2 / 3)
    assert [m.confidence for m in report.mistakes] == [0.8, 0.55]
    assert report.mistakes[0].true_label == "a" and report.mistakes[0].predicted_label == "b"
    assert report.unreadable == ("broken.jpg",)
