"""A multi-label model exports like a single-label one, with a sigmoid per label and its
thresholds in the sidecar, and the export answers as the app's `MultiLabelPredictor` does."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from multilabel_synthetic import LABELS, make_patch_dataset, patch_split

from training.cli import main as cli_main
from training.core.errors import ExportError
from training.data.preprocessing import load_pixels
from training.fitting.multilabel import MultiLabelFitResult, fit_multilabel
from training.predict import export as export_module
from training.predict.export import PARITY_TOLERANCE, export_model
from training.predict.export_files import read_export
from training.predict.multilabel import MultiLabelPredictor
from training.records.config import TrainConfig
from training.records.multilabel import MultiLabelDataset

README = Path(__file__).resolve().parents[2] / "README.md"
COUNT = 40


@pytest.fixture(scope="module")
def patches(tmp_path_factory: pytest.TempPathFactory) -> MultiLabelDataset:
    return make_patch_dataset(tmp_path_factory.mktemp("patches") / "photos", count=COUNT)


@pytest.fixture(scope="module")
def ml_model(patches: MultiLabelDataset, tmp_path_factory: pytest.TempPathFactory
             ) -> MultiLabelFitResult:
    return fit_multilabel(TrainConfig.quick(epochs=5, image_size=64), patches,
                          patch_split(COUNT),
                          output=tmp_path_factory.mktemp("model") / "patches.safetensors")


@pytest.fixture(scope="module")
def onnx_export(ml_model: MultiLabelFitResult, patches: MultiLabelDataset,
                tmp_path_factory: pytest.TempPathFactory):
    samples = [image.path for image in patches.images[:6]]
    return export_model(ml_model.model_path, tmp_path_factory.mktemp("export") / "patches",
                        "onnx", samples)


def _photos(patches: MultiLabelDataset) -> list[Path]:
    return [image.path for image in patches.images[::5]]


def test_onnx_export_gives_the_predictors_sigmoids(
        onnx_export, ml_model: MultiLabelFitResult, patches: MultiLabelDataset) -> None:
    import onnxruntime

    assert onnx_export.max_abs_difference <= PARITY_TOLERANCE
    predictor = MultiLabelPredictor.from_file(ml_model.model_path, torch.device("cpu"))
    photos = _photos(patches)
    app = np.array([p.probabilities for p in predictor.predict(photos)], dtype=np.float32)
    pixels = np.stack([load_pixels(p, predictor.model.preprocessing) for p in photos])
    session = onnxruntime.InferenceSession(str(onnx_export.path),
                                           providers=["CPUExecutionProvider"])
    got = session.run(None, {"pixels": pixels})[0]
    assert got.shape == (len(photos), len(LABELS))
    np.testing.assert_allclose(got, app, atol=PARITY_TOLERANCE, rtol=0)
    assert not np.allclose(got.sum(1), 1.0, atol=1e-3)  # sigmoids, not a softmax


def test_sidecar_says_multi_label_with_names_and_thresholds(
        onnx_export, ml_model: MultiLabelFitResult) -> None:
    sidecar = read_export(onnx_export.path)  # its digest matches the model beside it
    assert sidecar["task"] == "multi-label" and sidecar["format_version"] == 3
    assert sidecar["classes"] == list(LABELS)
    assert sidecar["thresholds"] == list(ml_model.thresholds)
    assert sidecar["output"]["shape"] == ["batch", 3]
    assert sidecar["output"]["meaning"].startswith("sigmoid probabilities, one per label")


def test_readme_example_prints_the_predictors_labels(
        onnx_export, ml_model: MultiLabelFitResult, patches: MultiLabelDataset,
        tmp_path: Path) -> None:
    section = README.read_text(encoding="utf-8").split("## Using a model elsewhere", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "README lost its onnxruntime example"
    script = tmp_path / "predict_onnx.py"
    script.write_text(code.group(1), encoding="utf-8")
    photos = _photos(patches)
    run = subprocess.run([sys.executable, str(script), str(onnx_export.path),
                          *map(str, photos)], capture_output=True, text=True, timeout=120,
                         check=False)
    assert run.returncode == 0, run.stderr
    lines = [line.split("\t") for line in run.stdout.splitlines()]
    app = list(MultiLabelPredictor.from_file(ml_model.model_path).predict(photos))
    assert [line[0] for line in lines] == [str(p) for p in photos]
    assert [line[1] for line in lines] == [";".join(p.labels) for p in app]
    assert any(";" in line[1] for line in lines)  # photos with two labels get both
    for line, prediction in zip(lines, app, strict=True):
        assert len(line) == 2 + len(LABELS)
        np.testing.assert_allclose([float(v) for v in line[2:]], prediction.probabilities,
                                   atol=PARITY_TOLERANCE, rtol=0)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_a_multi_label_export_that_differs_from_the_app_is_refused(
        ml_model: MultiLabelFitResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write = export_module._WRITERS["torchscript"]

    def softmax_instead(wrapper: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
        wrapper.sigmoid = False  # as an exporter that forgot the task would
        write(wrapper, example, path)

    monkeypatch.setitem(export_module._WRITERS, "torchscript", softmax_instead)
    with pytest.raises(ExportError, match=r"predicts differently from the app .*not saved"):
        export_model(ml_model.model_path, tmp_path / "m.pt", "torchscript")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
@pytest.mark.parametrize("export_format", ["torchscript", "pt2"])
def test_cli_exports_a_multi_label_model(
        ml_model: MultiLabelFitResult, patches: MultiLabelDataset, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], export_format: str) -> None:
    code = cli_main(["export", str(ml_model.model_path), "--format", export_format,
                     "-o", str(tmp_path / "m"), "--check-images", str(patches.root)])
    out = capsys.readouterr().out
    assert code == 0, out
    written = next(p for p in tmp_path.iterdir() if not p.name.endswith(".json"))
    assert f"{written}: {export_format} export written" in out
    assert "on 12 images" in out  # 8 of its photos (the most it takes) + 4 synthetic ones
    sidecar = read_export(written)
    assert sidecar["task"] == "multi-label"
    assert sidecar["thresholds"] == list(ml_model.thresholds)
