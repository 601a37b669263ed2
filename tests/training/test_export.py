"""Exports predict exactly like the app, or are not written at all.

Each format is loaded back with its own runtime and compared with `Predictor` on pixels
decoded by the app; the README's onnxruntime + Pillow example is run as written.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from heif_files import write_heic
from synthetic import make_dataset, textured_image

from training.cli import main as cli_main
from training.core.errors import ExportError, ModelFileError
from training.data.preprocessing import load_pixels
from training.data.scanning import scan_dataset
from training.data.tensors import to_uint8_batch
from training.fitting.result import FitResult
from training.fitting.trainer import fit
from training.predict import export as export_module
from training.predict.export import EXPORT_FORMATS, PARITY_TOLERANCE, export_model
from training.predict.export_files import read_export, sidecar_path
from training.predict.inference import Predictor
from training.records.config import TrainConfig

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def colours(tmp_path_factory: pytest.TempPathFactory):
    root = make_dataset(tmp_path_factory.mktemp("data") / "colours",
                        classes=("red", "blue", "green"), per_class=6)
    return scan_dataset(root)


@pytest.fixture(scope="module")
def small_model(colours, tmp_path_factory: pytest.TempPathFactory) -> FitResult:
    return fit(TrainConfig.quick(epochs=5, image_size=64), colours,
               output=tmp_path_factory.mktemp("model") / "colours.safetensors")


@pytest.fixture(scope="module")
def onnx_export(small_model: FitResult, colours, tmp_path_factory: pytest.TempPathFactory):
    """`small_model` exported to ONNX once (~10 s), checked on every third training image:
    the format test checks it, the full-disk test copies it as the export already there."""
    images = [record.path for record in colours.images[::3]]
    return export_model(small_model.model_path, tmp_path_factory.mktemp("onnx") / "colours",
                        "onnx", images)


def _app_probabilities(model_path: Path, images: list[Path]) -> np.ndarray:
    predictor = Predictor.from_file(model_path, torch.device("cpu"))
    pixels = to_uint8_batch([load_pixels(p, predictor.preprocessing) for p in images])
    return predictor.probabilities(pixels).numpy()


def _nhwc(model_path: Path, images: list[Path]) -> np.ndarray:
    prep = Predictor.from_file(model_path, torch.device("cpu")).preprocessing
    return np.stack([load_pixels(p, prep) for p in images])


def _load_and_run(export_format: str, path: Path, pixels: np.ndarray) -> np.ndarray:
    if export_format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {"pixels": pixels})[0]
    module = (torch.jit.load(str(path)) if export_format == "torchscript"
              else torch.export.load(str(path)).module())
    with torch.inference_mode():
        return module(torch.from_numpy(pixels)).numpy()


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
@pytest.mark.parametrize("export_format", [  # exporting to ONNX or .pt2 takes seconds
    pytest.param(name, marks=[pytest.mark.slow] if name in {"onnx", "pt2"} else [])
    for name in sorted(EXPORT_FORMATS)])
def test_each_format_predicts_like_the_app_and_carries_a_sidecar(
    small_model: FitResult, colours, tmp_path: Path, export_format: str,
    request: pytest.FixtureRequest
) -> None:
    images = [record.path for record in colours.images[::3]]
    if export_format == "onnx":  # the same call, made once for this file
        result = request.getfixturevalue("onnx_export")
        folder = result.path.parent
    else:
        folder = tmp_path
        result = export_model(small_model.model_path, folder / "colours", export_format, images)

    assert result.path == folder / f"colours{EXPORT_FORMATS[export_format]}"
    assert result.inputs_checked == len(images) + 4
    assert result.max_abs_difference <= PARITY_TOLERANCE
    expected = _app_probabilities(small_model.model_path, images)
    for batch in (slice(0, 1), slice(0, 5)):  # one image and several: the batch is dynamic
        got = _load_and_run(export_format, result.path,
                            _nhwc(small_model.model_path, images)[batch])
        np.testing.assert_allclose(got, expected[batch], atol=PARITY_TOLERANCE, rtol=0)

    sidecar = json.loads(result.sidecar.read_text())
    assert result.sidecar == sidecar_path(result.path)
    assert sidecar["classes"] == ["blue", "green", "red"]
    # A single-label sidecar is as before multi-label exports: version 2, softmax, no task.
    assert sidecar["format_version"] == 2 and "task" not in sidecar
    assert "thresholds" not in sidecar and sidecar["output"]["meaning"].startswith("softmax")
    assert sidecar["model_format"] == export_format
    assert sidecar["input"] == {"name": "pixels", "dtype": "uint8", "layout": "NHWC",
                                "colors": "RGB", "shape": ["batch", 64, 64, 3]}
    assert sidecar["preprocessing"]["crop"] == 64
    assert sidecar["parity_check"]["max_abs_difference"] == result.max_abs_difference
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [result.path.name, result.sidecar.name])


def test_an_export_that_differs_from_the_app_is_refused_and_not_written(
    small_model: FitResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write = export_module._WRITERS["torchscript"]

    def write_with_a_drift(wrapper: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
        with torch.no_grad():
            wrapper.network.get_classifier().bias[0] += 0.05  # as a buggy exporter might
        write(wrapper, example, path)

    monkeypatch.setitem(export_module._WRITERS, "torchscript", write_with_a_drift)
    (tmp_path / "old.pt").write_bytes(b"the user's earlier file")
    with pytest.raises(ExportError, match=r"predicts differently from the app .*not saved"):
        export_model(small_model.model_path, tmp_path / "old.pt", "torchscript")
    assert (tmp_path / "old.pt").read_bytes() == b"the user's earlier file"
    assert [p.name for p in tmp_path.iterdir()] == ["old.pt"]  # no temporary file left


def test_an_exporter_crash_is_one_clear_error(
    small_model: FitResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_args: object) -> None:
        raise RuntimeError("Unsupported operator aten::weird\nlong internal trace")

    monkeypatch.setitem(export_module._WRITERS, "onnx", crash)
    with pytest.raises(ExportError, match=r"to onnx failed: Unsupported operator aten::weird$"):
        export_model(small_model.model_path, tmp_path / "m.onnx", "onnx")
    assert list(tmp_path.iterdir()) == []


def test_bad_requests_name_the_file_and_what_to_do(small_model: FitResult, tmp_path: Path
                                                   ) -> None:
    with pytest.raises(ExportError, match=r"Unknown export format 'tflite'.*onnx, torchscript"):
        export_model(small_model.model_path, tmp_path / "m", "tflite")
    with pytest.raises(ExportError, match=r"does not exist\. Choose an existing folder"):
        export_model(small_model.model_path, tmp_path / "nowhere" / "m.onnx", "onnx")
    pickle = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(1)}, pickle)
    with pytest.raises(ModelFileError, match="not a CheetahLion model file"):
        export_model(pickle, tmp_path / "m.onnx", "onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_cli_export_prints_the_check_and_writes_json(
    small_model: FitResult, colours, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = colours.root / "red"
    code = cli_main(["export", str(small_model.model_path), "--format", "pt2",
                     "-o", str(tmp_path / "m"), "--check-images", str(folder), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["path"] == str(tmp_path / "m.pt2")
    assert result["inputs_checked"] == 6 + 4 and result["max_abs_difference"] <= 1e-4

    code = cli_main(["export", str(tmp_path / "missing.safetensors"), "--format", "onnx",
                     "-o", str(tmp_path / "x.onnx")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "missing.safetensors does not exist" in err


def test_cli_choices_are_the_engine_formats() -> None:
    from training.cli.commands import build_parser

    export = next(action for action in build_parser()._subparsers._group_actions  # type: ignore[union-attr]
                  if action.dest == "command").choices["export"]
    formats = next(a for a in export._actions if a.dest == "export_format").choices
    assert tuple(formats) == tuple(EXPORT_FORMATS)


# --- the README example -------------------------------------------------------------------

def _readme_example(folder: Path) -> Path:
    section = README.read_text(encoding="utf-8").split("## Using a model elsewhere", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "README lost its onnxruntime example"
    script = folder / "predict_onnx.py"
    script.write_text(code.group(1), encoding="utf-8")
    return script


def _example_namespace(tmp_path: Path) -> dict[str, object]:
    import runpy

    return runpy.run_path(str(_readme_example(tmp_path)), run_name="readme_example")


def test_readme_example_imports_only_onnxruntime_pillow_pi_heif_and_numpy(tmp_path: Path
                                                                         ) -> None:
    source = _readme_example(tmp_path).read_text()
    imported = set(re.findall(r"^(?:import|from) (\w+)", source, re.M))
    assert imported == {"hashlib", "json", "sys", "numpy", "onnxruntime", "PIL", "pi_heif"}


def _edge_case_images(folder: Path) -> list[Path]:
    """Every decoding path of the app: JPEG draft, EXIF, alpha, palette, grey, 16 bit, CMYK,
    and the formats of phones: HEIC (turned upright by its container, with alpha) and AVIF."""
    base = textured_image((180, 120, 60), seed=3, size=640).resize((900, 640))
    paths = []

    def save(name: str, image, **options: object) -> None:
        paths.append(folder / name)
        image.save(paths[-1], **options)

    save("large.jpg", base, quality=90)  # decoded at 1/2 scale by draft()
    exif = base.getexif()
    exif[0x0112] = 6
    save("rotated.jpg", base, exif=exif)
    rgba = base.convert("RGBA")
    rgba.putalpha(128)
    save("alpha.png", rgba)
    palette = base.convert("P", palette=1, colors=32)
    palette.info["transparency"] = 0
    save("palette.png", palette, transparency=0)
    save("grey.png", base.convert("L"))
    grey16 = np.asarray(base.convert("L"), dtype=np.uint16) * 200
    from PIL import Image

    sixteen_bit = Image.fromarray(grey16)
    assert sixteen_bit.mode.startswith("I;16")
    save("grey16.png", sixteen_bit)
    save("cmyk.jpg", base.convert("CMYK"))
    save("small.webp", base.resize((120, 80)))
    paths.append(write_heic(folder / "IMG_0001.HEIC", base, orientation=6))
    paths.append(write_heic(folder / "alpha.heic", rgba))
    save("rotated.avif", base, exif=exif)
    return paths


def test_readme_preprocessing_gives_the_app_pixels_exactly(tmp_path: Path) -> None:
    example = _example_namespace(tmp_path)
    prep = {"resize": 256, "crop": 224, "interpolation": "bicubic"}
    from training.records.backbones import BACKBONES, DEFAULT_BACKBONE

    app_prep = BACKBONES[DEFAULT_BACKBONE].preprocessing
    assert app_prep.to_dict() | prep == app_prep.to_dict()
    for path in _edge_case_images(tmp_path):
        ours = example["load_pixels"](str(path), prep)  # type: ignore[operator]
        theirs = load_pixels(path, app_prep)
        assert ours.dtype == np.uint8 and ours.shape == (224, 224, 3)
        assert np.array_equal(ours, theirs), path.name


@pytest.mark.real_photos
@pytest.mark.slow
def test_real_photo_model_exports_and_readme_example_match_the_app(
    real_photos: Path, real_photo_model: FitResult, tmp_path: Path
) -> None:
    """ONNX only: the README's example reads it. The other formats' files are checked
    against the app by test_each_format_predicts_like_the_app_and_carries_a_sidecar (the
    same export code; a small model at 64 px)."""
    dataset = scan_dataset(real_photos)
    trained = real_photo_model  # the session's; the exports go to tmp_path, beside no model
    photos = [dataset.images[i].path for i in trained.split.val][:12]
    result = export_model(trained.model_path, tmp_path / "cheetah-lion", "onnx", photos)
    assert result.max_abs_difference <= PARITY_TOLERANCE
    got = _load_and_run("onnx", result.path, _nhwc(trained.model_path, photos))
    np.testing.assert_allclose(got, _app_probabilities(trained.model_path, photos),
                               atol=PARITY_TOLERANCE, rtol=0)

    script = _readme_example(tmp_path)
    run = subprocess.run([sys.executable, str(script), str(tmp_path / "cheetah-lion.onnx"),
                          *map(str, photos)], capture_output=True, text=True, cwd=tmp_path,
                         timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    lines = [line.split("\t") for line in run.stdout.splitlines()]
    app = list(Predictor.from_file(trained.model_path).predict(photos))
    assert [line[0] for line in lines] == [str(p) for p in photos]
    assert [line[1] for line in lines] == [p.label for p in app]
    for line, prediction in zip(lines, app, strict=True):
        assert abs(float(line[2]) - prediction.confidence) <= PARITY_TOLERANCE

    # The example refuses a sidecar that describes another model (issue 21).
    onnx_sidecar = tmp_path / "cheetah-lion.onnx.json"
    another = json.loads(onnx_sidecar.read_text())
    onnx_sidecar.write_text(json.dumps({**another, "model_sha256": "0" * 64}))
    run = subprocess.run([sys.executable, str(script), str(tmp_path / "cheetah-lion.onnx"),
                          str(photos[0])], capture_output=True, text=True, cwd=tmp_path,
                         timeout=120, check=False)
    assert run.returncode == 1 and run.stdout == ""
    assert "cheetah-lion.onnx.json describes another model: export it again" in run.stderr


# --- issue 21: the model and its sidecar are one pair --------------------------------------

def _fill_leaving(disk: Path, room: int) -> None:
    """Fill `disk` to the last byte, then free `room` bytes (whole pages)."""
    filler = disk / "filler.bin"
    with filler.open("wb", buffering=0) as handle:
        for block in (bytes(1 << 16), b"\0"):
            with contextlib.suppress(OSError):
                while True:
                    handle.write(block)
    os.truncate(filler, filler.stat().st_size - room)


@pytest.mark.slow  # an ONNX export (~5 s), and the module's
def test_an_export_over_an_export_on_a_full_disk_replaces_neither_file(
        small_model: FitResult, colours, onnx_export,
        small_disk: Callable[[str, str], Path]) -> None:
    disk = small_disk("usb", "64m")
    target = disk / onnx_export.path.name  # the earlier export: the module's, copied
    shutil.copyfile(onnx_export.path, target)
    shutil.copyfile(onnx_export.sidecar, sidecar_path(target))
    model, sidecar = target.read_bytes(), sidecar_path(target).read_bytes()
    page = os.sysconf("SC_PAGE_SIZE")
    with target.open("rb"):  # a program still has the old model open: renaming frees nothing
        _fill_leaving(disk, -(-len(model) // page) * page)  # the model fits, no more
        with pytest.raises(ExportError) as error:  # the same export again: the same bytes
            export_model(small_model.model_path, target, "onnx",
                         [record.path for record in colours.images[::3]])
    message = str(error.value)
    assert "No space left on device" in message and "nothing was replaced" in message
    assert target.read_bytes() == model and sidecar_path(target).read_bytes() == sidecar
    assert sorted(p.name for p in disk.iterdir()) == ["colours.onnx", "colours.onnx.json",
                                                      "filler.bin"]
    assert read_export(target)["classes"] == ["blue", "green", "red"]


def test_a_reader_refuses_a_sidecar_of_another_model(small_model: FitResult, tmp_path: Path
                                                     ) -> None:
    result = export_model(small_model.model_path, tmp_path / "m.pt", "torchscript")
    info = read_export(result.path)
    assert info["model_sha256"] and info["classes"] == ["blue", "green", "red"]
    result.path.write_bytes(result.path.read_bytes() + b"\0")  # another model, same sidecar
    with pytest.raises(ExportError, match=r"m\.pt\.json describes another model than .*m\.pt "
                                          r".*Export the model again"):
        read_export(result.path)


@pytest.mark.parametrize("taken", ["output", "output.pt", "output.pt.json"])
def test_cli_export_where_a_folder_has_the_name_writes_nothing(
        small_model: FitResult, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        taken: str) -> None:
    (tmp_path / taken / "inside").mkdir(parents=True)
    code = cli_main(["export", str(small_model.model_path), "--format", "torchscript",
                     "-o", str(tmp_path / "output")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert f"{tmp_path / taken} is a folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [taken]
    assert [p.name for p in (tmp_path / taken).iterdir()] == ["inside"]
