"""Per-class thresholds: exact figures on hand-made outcomes, saved into the model's header
only, applied by the Predictor after "none of these"."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from training.core.errors import ConfigError, ModelFileError
from training.core.file_ops import file_digest
from training.fitting.model_thresholds import model_thresholds, save_thresholds
from training.fitting.modelfile import load_model, read_metadata
from training.predict.inference import Predictor
from training.records.operating_points import ValidationOutcomes, parse_threshold_settings
from training.records.predictions import Prediction


@pytest.fixture
def model(colours_model: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny red/blue model (the session's must not change)."""
    return Path(shutil.copy(colours_model, tmp_path / "colours.safetensors"))


# --- the figures ----------------------------------------------------------------------------

OUTCOMES = ValidationOutcomes(
    classes=("cat", "dog"),
    #        a photo per column: its true class, most probable class, that probability, flag
    true=[0, 0, 0, 0, 1, 1, 1, 0],
    predicted=[0, 0, 0, 1, 0, 1, 1, 0],
    confidence=[0.95, 0.80, 0.55, 0.70, 0.60, 0.90, 0.52, 0.99],
    unfamiliar=[False, False, False, False, False, False, False, True],
)


def test_no_threshold_counts_the_top_class_after_none_of_these() -> None:
    cat, dog = OUTCOMES.points((None, None))
    # cat: given to photos 0, 1, 2, 4 (photo 7 is "none of these": given nothing)
    assert (cat.given, cat.correct, cat.unsure, cat.support) == (4, 3, 0, 5)
    assert cat.precision == 0.75 and cat.recall == 0.6
    assert (dog.given, dog.correct, dog.unsure, dog.support) == (3, 2, 0, 3)


def test_a_threshold_leaves_the_photos_below_it_unsure() -> None:
    cat = OUTCOMES.point(0, 0.6)  # 0.55 goes unsure; 0.60 (the dog) is at the threshold: kept
    assert (cat.given, cat.correct, cat.unsure) == (3, 2, 1)
    assert cat.precision == pytest.approx(2 / 3) and cat.recall == pytest.approx(2 / 5)
    cat = OUTCOMES.point(0, 0.61)  # now the mistaken dog goes too
    assert (cat.given, cat.correct, cat.unsure) == (2, 2, 2)
    assert cat.precision == 1.0 and cat.recall == pytest.approx(2 / 5)
    nothing = OUTCOMES.point(0, 1.0)
    assert nothing.given == 0 and nothing.precision is None and nothing.recall == 0.0


def test_threshold_settings_are_checked() -> None:
    assert parse_threshold_settings(["dog=0.7", "cat=none"], ("cat", "dog"), (0.5, None)) \
        == (None, 0.7)
    for bad, words in (("cow=0.5", "no class 'cow'"), ("dog=1.5", "from 0 to 1"),
                       ("dog", "CLASS=VALUE"), ("dog=nan", "from 0 to 1")):
        with pytest.raises(ConfigError, match=words):
            parse_threshold_settings([bad], ("cat", "dog"), (None, None))


# --- the model file -------------------------------------------------------------------------

def _tensor_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return data[8 + int.from_bytes(data[:8], "little"):]


def test_saving_rewrites_the_header_only_and_survives_reopening(model: Path) -> None:
    before = _tensor_bytes(model)
    classes, thresholds, digest = model_thresholds(model)
    assert thresholds == (None, None) and digest == file_digest(model)
    red = classes.index("red")
    chosen = tuple(0.8 if i == red else None for i in range(len(classes)))
    saved = save_thresholds(model, chosen, digest)
    assert _tensor_bytes(model) == before  # the weights, byte for byte
    assert saved.digest == file_digest(model) and saved.thresholds == chosen
    assert read_metadata(model)["class_thresholds"] == {"red": 0.8}
    assert load_model(model).metadata["class_thresholds"] == {"red": 0.8}
    assert model_thresholds(model)[1] == chosen
    assert not list(model.parent.glob(".*tmp*"))  # no temporary file left
    # and back to none: the field goes
    save_thresholds(model, (None, None), saved.digest)
    assert "class_thresholds" not in read_metadata(model)
    assert _tensor_bytes(model) == before


def test_a_file_changed_since_it_was_read_is_refused(model: Path) -> None:
    _, _, digest = model_thresholds(model)
    save_thresholds(model, (0.9, None))  # someone else changed it meanwhile
    changed = model.read_bytes()
    with pytest.raises(ModelFileError, match="changed since it was evaluated"):
        save_thresholds(model, (None, 0.7), digest)
    assert model.read_bytes() == changed


def test_a_bad_threshold_in_a_header_is_named(model: Path) -> None:
    _, _, digest = model_thresholds(model)
    save_thresholds(model, (0.5, None), digest)
    data = model.read_bytes()
    broken = data.replace(b'\\"class_thresholds\\": {\\"blue\\": 0.5}',
                          b'\\"class_thresholds\\": {\\"blue\\": 7.5}')
    assert broken != data
    model.write_bytes(broken)
    with pytest.raises(ModelFileError, match=r"class_thresholds\.blue"):
        read_metadata(model)


def test_the_run_history_still_opens_a_model_whose_thresholds_were_saved(
        tmp_path: Path) -> None:
    from synthetic import make_dataset

    from training.data.scanning import scan_dataset
    from training.fitting.trainer import fit
    from training.records.config import TrainConfig
    from training.records.runs import list_runs

    data = make_dataset(tmp_path / "tiny", per_class=4, size=32)
    result = fit(TrainConfig.quick(epochs=2), scan_dataset(data), output=tmp_path / "m")
    saved = save_thresholds(result.model_path, (0.9, None))
    assert saved.runs_followed == 1
    [record] = list_runs(data)
    assert record.model_note is None


# --- the Predictor --------------------------------------------------------------------------

def test_the_predictor_marks_photos_below_their_class_threshold_unsure(
        model: Path, colours_model: Path) -> None:
    photos = sorted((colours_model.parent / "colours").glob("*/*.png"))
    plain = list(Predictor.from_file(model, unfamiliar_percentile=100).predict(photos))
    assert all(p.threshold is None and not p.below_threshold for p in plain)
    red = [p.confidence for p in plain if p.label == "red"]
    cut = sorted(red)[len(red) // 2]  # half the red photos fall below it
    classes, _, digest = model_thresholds(model)
    save_thresholds(model, tuple(cut if c == "red" else None for c in classes), digest)
    marked = list(Predictor.from_file(model, unfamiliar_percentile=100).predict(photos))
    assert [p.label for p in marked] == [p.label for p in plain]  # never another class
    below = [p for p in marked if p.below_threshold]
    assert below and all(p.label == "red" and p.confidence < cut for p in below)
    assert len(below) == sum(p.confidence < cut for p in plain
                             if p.label == "red" and not p.unfamiliar)
    assert all(p.threshold == cut for p in marked if p.label == "red")


def test_none_of_these_is_decided_first(model: Path, colours_model: Path) -> None:
    photos = sorted((colours_model.parent / "colours").glob("*/*.png"))
    _, _, digest = model_thresholds(model)
    save_thresholds(model, (1.0, 1.0), digest)  # every photo below its class's threshold
    results = list(Predictor.from_file(model, unfamiliar_percentile=0).predict(photos))
    flagged = [p for p in results if p.unfamiliar]
    assert flagged and not any(p.below_threshold for p in flagged)
    assert all(p.below_threshold for p in results if not p.unfamiliar)


def test_the_rule_on_plain_predictions() -> None:
    assert Prediction("a", "cat", 0.5, (0.5, 0.5), threshold=0.6).below_threshold
    assert not Prediction("a", "cat", 0.6, (0.6, 0.4), threshold=0.6).below_threshold
    assert not Prediction("a", "cat", 0.5, (0.5, 0.5)).below_threshold
    assert not Prediction("a", "cat", 0.5, (0.5, 0.5), threshold=0.6,
                          unfamiliar=True).below_threshold


def test_an_export_sidecar_carries_the_thresholds(model: Path, tmp_path: Path) -> None:
    from training.predict.export import _sidecar

    assert "class_thresholds" not in _sidecar(load_model(model), model,
                                              tmp_path / "m.onnx", "onnx", 0.0, 1)
    save_thresholds(model, (None, 0.75))
    sidecar = _sidecar(load_model(model), model, tmp_path / "m.onnx", "onnx", 0.0, 1)
    assert sidecar["class_thresholds"] == {"red": 0.75}


def test_the_readme_example_marks_a_photo_below_its_class_threshold_unsure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """The README's onnxruntime example, with the session faked: it reads the sidecar's
    class_thresholds and prints "unsure" for a photo below its top class's threshold."""
    import hashlib
    import json
    import re
    import runpy

    import numpy as np
    import onnxruntime
    from synthetic import textured_image

    readme = Path(__file__).resolve().parents[2] / "README.md"
    section = readme.read_text(encoding="utf-8").split("## Using a model elsewhere", 1)[1]
    script = tmp_path / "predict_onnx.py"
    script.write_text(re.search(r"```python\n(.*?)```", section, re.S).group(1))
    exported = tmp_path / "m.onnx"
    exported.write_bytes(b"a graph")
    exported.with_name("m.onnx.json").write_text(json.dumps({
        "classes": ["blue", "red"], "class_thresholds": {"red": 0.8},
        "model_sha256": hashlib.sha256(b"a graph").hexdigest(),
        "preprocessing": {"resize": 256, "crop": 224, "interpolation": "bicubic"}}))
    photo = tmp_path / "p.png"
    textured_image((200, 0, 0), 1, size=64).save(photo)

    class Session:
        def __init__(self, *_args: object, **_kwargs: object) -> None:
            pass

        def run(self, *_args: object) -> list[np.ndarray]:
            return [np.array([[0.3, 0.7]], dtype=np.float32)]

    monkeypatch.setattr(onnxruntime, "InferenceSession", Session)
    runpy.run_path(str(script), run_name="example")["main"](str(exported), str(photo))
    assert capsys.readouterr().out == f"{photo}\tunsure (below red's threshold)\t0.700000\n"
