"""Grad-CAM puts the heat where the class's evidence is; explanations are cached; CLI pictures.

The known answer: a quick-mode model learns red-noise vs blue-noise photos (the session's
`colours_model`, tests/conftest.py, shared with the window's tests), then sees a grey
probe with a red patch in the top-left quadrant and a blue patch in the bottom-right one.
"Red" must light up the top-left, "blue" the bottom-right; a uniform or random map fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from synthetic import CLASS_COLOURS

from training.cli import main
from training.core.errors import CheetahLionError
from training.insight.explain import Explainer, explainer_for, heat_colours, overlay

CROP = 224
HALF = CROP // 2


def _noise_patch(colour: tuple[int, int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pixels = np.array(colour, dtype=np.float64) + rng.normal(0, 35, (HALF, HALF, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def explainer(colours_model: Path) -> Explainer:
    return Explainer.from_file(colours_model)


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Grey, with red evidence top-left and blue evidence bottom-right, already crop-sized."""
    canvas = np.full((CROP, CROP, 3), 128, np.uint8)
    canvas[:HALF, :HALF] = _noise_patch(CLASS_COLOURS["red"], 1)
    canvas[HALF:, HALF:] = _noise_patch(CLASS_COLOURS["blue"], 2)
    path = tmp_path_factory.mktemp("probe") / "probe.png"
    Image.fromarray(canvas).save(path)
    return path


def _inside_vs_outside(heatmap: np.ndarray, rows: slice, columns: slice) -> tuple[float, float]:
    inside = np.zeros(heatmap.shape, bool)
    inside[rows, columns] = True
    return float(heatmap[inside].mean()), float(heatmap[~inside].mean())


def test_the_heat_sits_where_the_class_evidence_is(explainer: Explainer, probe: Path) -> None:
    red = explainer.explain(probe, "red")
    blue = explainer.explain(probe, "blue")
    inside, outside = _inside_vs_outside(red.heatmap, slice(0, HALF), slice(0, HALF))
    assert inside > 2.5 * outside, (inside, outside)
    inside, outside = _inside_vs_outside(blue.heatmap, slice(HALF, None), slice(HALF, None))
    assert inside > 2.5 * outside, (inside, outside)
    # the same map for both classes, or a map that ignores the image, could not pass both
    assert np.abs(red.heatmap - blue.heatmap).mean() > 0.1


def test_the_explanation_is_over_the_pixels_the_model_saw(explainer: Explainer,
                                                          tmp_path: Path) -> None:
    wide = np.full((100, 300, 3), 128, np.uint8)
    wide[:, :100] = 255  # the left third falls outside the centre crop
    path = tmp_path / "wide.png"
    Image.fromarray(wide).save(path)
    result = explainer.explain(path)
    assert result.image.shape == (CROP, CROP, 3) and result.image.dtype == np.uint8
    assert result.heatmap.shape == (CROP, CROP) and result.heatmap.dtype == np.float32
    assert (result.image == 128).all(), "only the grey centre square was classified"
    assert result.heatmap.min() >= 0.0 and result.heatmap.max() <= 1.0
    assert result.class_name == result.predicted == result.classes[result.class_index]
    assert result.probability == pytest.approx(max(result.probabilities))
    assert sum(result.probabilities) == pytest.approx(1.0, abs=1e-5)
    assert not result.heatmap.flags.writeable, "cached arrays are shared: read-only"


def test_asking_again_is_answered_from_the_cache(explainer: Explainer, probe: Path,
                                                 tmp_path: Path) -> None:
    passes = []
    hook = explainer.network.conv_stem.register_forward_hook(lambda *_: passes.append(1))
    try:
        copy = tmp_path / "probe.png"
        copy.write_bytes(probe.read_bytes())
        first = explainer.explain(copy)
        assert len(passes) == 1
        assert explainer.explain(copy) is first
        assert explainer.explain(copy, first.class_name) is first, "default = predicted class"
        assert len(passes) == 1
        other = next(name for name in explainer.classes if name != first.class_name)
        assert explainer.explain(copy, other).class_name == other
        assert len(passes) == 2
        Image.fromarray(np.full((64, 64, 3), 40, np.uint8)).save(copy)  # the file changed
        assert explainer.explain(copy) is not first
        assert len(passes) == 3
    finally:
        hook.remove()


def test_one_explainer_per_unchanged_model_file(colours_model: Path, tmp_path: Path) -> None:
    first = explainer_for(colours_model)
    assert explainer_for(str(colours_model)) is first
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes(colours_model.read_bytes())
    assert explainer_for(copy) is not first


def test_bad_images_and_classes_are_named(explainer: Explainer, tmp_path: Path,
                                          probe: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    with pytest.raises(CheetahLionError, match=r"notes\.jpg"):
        explainer.explain(text)
    with pytest.raises(CheetahLionError, match=r"missing\.jpg"):
        explainer.explain(tmp_path / "missing.jpg")
    with pytest.raises(CheetahLionError, match="'zebra' is not one of this model's classes "
                                               r"\(blue, red\)"):
        explainer.explain(probe, "zebra")
    assert explainer.explain(probe, "RED").class_name == "red"


def test_overlay_blends_a_colour_ramp_at_the_chosen_opacity() -> None:
    image = np.full((4, 4, 3), 100, np.uint8)
    heat = np.zeros((4, 4), np.float32)
    heat[0, 0] = 1.0
    colours = heat_colours(heat)
    assert colours[0, 0, 0] > 100 > colours[0, 0, 2], "hot is red"
    assert colours[1, 1, 2] > 100 > colours[1, 1, 0], "cold is blue"
    assert (overlay(image, heat, 0.0) == image).all()
    assert (overlay(image, heat, 1.0) == colours).all()
    half = overlay(image, heat, 0.5).astype(int)
    assert np.abs(half - (image.astype(int) + colours) / 2).max() <= 1
    with pytest.raises(CheetahLionError, match="between 0 and 1"):
        overlay(image, heat, 1.5)


def test_cli_writes_a_png_and_never_overwrites(capsys, colours_model: Path, probe: Path,
                                               tmp_path: Path) -> None:
    target = tmp_path / "why.png"
    assert main(["explain", str(colours_model), str(probe), "-o", str(target),
                 "--class", "red"]) == 0
    out, _ = capsys.readouterr()
    assert "\tred\t" in out and str(target) in out
    with Image.open(target) as picture:
        assert picture.size == (CROP, CROP) and picture.mode == "RGB"
    before = target.read_bytes()
    assert main(["explain", str(colours_model), str(probe), "-o", str(target), "--json",
                 "--opacity", "0.8"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["output"] == str(tmp_path / "why (2).png")
    assert target.read_bytes() == before, "the first picture is untouched"
    assert row["class"] == row["predicted"] and 0.0 < row["probability"] <= 1.0


def test_cli_says_in_one_line_when_the_output_cannot_be_written(
        capsys, colours_model: Path, probe: Path, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("mine")
    assert main(["explain", str(colours_model), str(probe), "-o",
                 str(not_a_folder / "why.png")]) == 1
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and "cannot be written" in err and "Traceback" not in err
    assert not_a_folder.read_text() == "mine"


def test_cli_explains_a_folder_and_reports_bad_files(capsys, colours_model: Path, probe: Path,
                                                     tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.png").write_bytes(probe.read_bytes())
    (images / "b.jpg").write_text("not a photo")
    out_dir = tmp_path / "out"
    assert main(["explain", str(colours_model), str(images), "-o", str(out_dir),
                 "--class", "blue"]) == 1
    out, _ = capsys.readouterr()
    assert "b.jpg\tERROR" in out
    assert sorted(p.name for p in out_dir.iterdir()) == ["a-blue.png"]
    assert main(["explain", str(colours_model), str(images), "-o", str(tmp_path / "x.png")]) == 1
    assert "need a folder" in capsys.readouterr().err
    assert main(["explain", str(colours_model), str(probe), "-o", str(out_dir),
                 "--class", "zebra"]) == 1
    assert "'zebra' is not one of" in capsys.readouterr().err


def test_the_built_in_imagenet_model_is_explained_too(probe: Path) -> None:
    imagenet = explainer_for("imagenet")
    assert explainer_for(None) is imagenet and len(imagenet.classes) == 1000
    result = imagenet.explain(probe, "Cheetah")
    assert result.class_name == "cheetah" and len(result.probabilities) == 1000
    assert result.heatmap.shape == (CROP, CROP) and result.heatmap.max() <= 1.0
    with pytest.raises(CheetahLionError, match=r"'wolpertinger' is not one of .*, …\)"):
        imagenet.class_index("wolpertinger")
