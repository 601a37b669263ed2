"""The 8-bit feature graph: never mixed with float vectors, refused when it disagrees, chosen
by the precision setting and the CLI flag; a model classifies on the precision it was trained
on, and features of the other kind are checked and reported.

A tiny network (its own digest, so no other test shares its graphs) is exported once per
module; the "8-bit graphs" are planted: the float graph with its output scaled by 1.01 (it
agrees, and its vectors are told apart from float's) or by -1 (it disagrees).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper
from synthetic import textured_image
from torch import nn

from training.core.errors import ConfigError, EightBitUnavailableError
from training.core.runtime import PRECISION_ENV
from training.fitting.modelfile import TrainedModel
from training.models import int8_features, onnx_features
from training.models.embedding import default_store, embed_files, space_key
from training.models.frozen import EXPORT_WORTHWHILE, FrozenFeatures, features_used
from training.predict.inference import Predictor
from training.predict.multilabel import MultiLabelPredictor
from training.records.model_header import MULTI_LABEL
from training.records.preprocessing import Preprocessing
from training.records.runtime_words import HEADER_KEY as FROZEN_KEY
from training.records.runtime_words import FrozenRun, FrozenUse

CPU = torch.device("cpu")
AUTO_RULE = int8_features.auto_refusal
PREP = Preprocessing(resize=40, crop=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


class Tiny(nn.Module):
    """Just enough of a timm network for `FrozenFeatures`: features, pooled head, classifier."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(26)
        self.conv = nn.Conv2d(3, 16, 3, stride=2)
        self.classifier = nn.Linear(16, 3)

    def forward_features(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(inputs))

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        pooled = features.mean(dim=(2, 3))
        return pooled if pre_logits else self.classifier(pooled)

    def get_classifier(self) -> nn.Module:
        return self.classifier


@pytest.fixture(scope="module")
def float_graph(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny network's float graph, exported once for the module."""
    network = Tiny().eval()
    target = tmp_path_factory.mktemp("tiny-graph") / "float.onnx"
    assert onnx_features._export(network, PREP, target)
    return target


@pytest.fixture
def frozen_parts(float_graph: Path, monkeypatch: pytest.MonkeyPatch):
    """(new FrozenFeatures maker, the float graph's cache path, its maker) in this test's
    home; planted 8-bit graphs are removed afterwards (the graph folder is shared). "auto"
    treats the tiny network as one measured as accurate in 8 bits on any processor, unless
    a test puts the rule back (`AUTO_RULE`)."""
    monkeypatch.setattr(int8_features, "auto_refusal", lambda _architecture: None)
    monkeypatch.setattr(onnx_features, "_READY", onnx_features.CheckedSessions(2))
    monkeypatch.setattr(int8_features, "_CHECKED", onnx_features.CheckedSessions(4))
    network = Tiny().eval()
    path = onnx_features.graph_path(FrozenFeatures(network, PREP, CPU).digest, PREP)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(float_graph, path)
    maker = onnx_features.session_from_bytes(path).maker
    yield (lambda: FrozenFeatures(network, PREP, CPU)), path, maker
    for planted in path.parent.glob(f"int8-{maker.removeprefix('onnx:')}-*"):
        planted.unlink()
    path.unlink(missing_ok=True)


def plant_int8(float_path: Path, maker: str, factor: float, faster: bool = True) -> Path:
    """An "8-bit graph" that is the float graph with its output times `factor`."""
    model = onnx.load(float_path)
    graph = model.graph
    output = graph.output[0].name
    for node in graph.node:
        node.output[:] = [f"{name}_raw" if name == output else name for name in node.output]
    graph.initializer.append(numpy_helper.from_array(np.array(factor, np.float32), "factor"))
    graph.node.append(helper.make_node("Mul", [f"{output}_raw", "factor"], [output]))
    target = int8_features.int8_path(float_path, maker)
    onnx.save(model, target)
    int8_features.speed_path(target).write_text(json.dumps({"faster": faster}))
    return target


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    textured_image((200, 40, 40), seed=1, size=48).save(path)
    return path


def embedded(frozen: FrozenFeatures, photo: Path) -> np.ndarray:
    (batch,) = list(embed_files([photo], frozen, default_store()))
    assert not isinstance(batch[0], str), batch[0]
    return batch[0]


def test_float_and_int8_vectors_never_mix(frozen_parts, photo, monkeypatch) -> None:
    make, path, maker = frozen_parts
    plant_int8(path, maker, 1.01)
    monkeypatch.setenv(PRECISION_ENV, "float")
    float_frozen = make()
    plain = embedded(float_frozen, photo)
    assert float_frozen.features_label == "onnxruntime float"

    monkeypatch.setenv(PRECISION_ENV, "int8")
    int8_frozen = make()
    eight = embedded(int8_frozen, photo)  # the float vector is stored: it must not be found
    assert int8_frozen.features_label == "onnxruntime int8" == features_used()
    np.testing.assert_allclose(eight, plain * 1.01, rtol=1e-5)
    float_space, int8_space = space_key(float_frozen, "centre"), space_key(int8_frozen, "centre")
    assert float_space != int8_space
    store = default_store()
    found = [store.vectors(space, _contents(photo), plain.size)
             for space in (float_space, int8_space)]
    assert [len(entries) for entries in found] == [1, 1]  # one entry in each space
    np.testing.assert_allclose(next(iter(found[1].values())), eight, rtol=1e-6)

    monkeypatch.setenv(PRECISION_ENV, "float")
    np.testing.assert_allclose(embedded(make(), photo), plain, rtol=1e-6)  # not the 8-bit one
    monkeypatch.setenv(PRECISION_ENV, "auto")  # 8-bit measured faster here: auto takes it
    np.testing.assert_allclose(embedded(make(), photo), eight, rtol=1e-6)


def _contents(photo: Path) -> list[str]:
    from training.data.images import content_hash

    return [content_hash(photo.read_bytes())]


def test_an_int8_graph_that_disagrees_is_refused_and_deleted(frozen_parts, photo,
                                                            monkeypatch) -> None:
    make, path, maker = frozen_parts
    planted = plant_int8(path, maker, -1.0)
    monkeypatch.setenv(PRECISION_ENV, "auto")
    frozen = make()
    features = embedded(frozen, photo)
    assert frozen.features_label == "onnxruntime float"
    assert "refused" in (frozen.refusal or "") and "cosine -1.000" in frozen.refusal
    assert not planted.exists() and not int8_features.speed_path(planted).exists()
    reference = onnx_features.session_from_bytes(path)(_pixels(frozen, photo))[0]
    np.testing.assert_allclose(features, reference, rtol=1e-5)

    plant_int8(path, maker, -1.0)
    monkeypatch.setenv(PRECISION_ENV, "int8")
    with pytest.raises(ConfigError, match="8-bit features were asked for but cannot be used"):
        make().prepare(1)


def _pixels(frozen: FrozenFeatures, photo: Path) -> np.ndarray:
    from training.data.preprocessing import load_pixels

    return np.ascontiguousarray(load_pixels(photo, frozen.prep).transpose(2, 0, 1)[None])


def test_auto_uses_int8_only_where_measured_faster(frozen_parts, monkeypatch) -> None:
    make, path, maker = frozen_parts
    monkeypatch.setenv(PRECISION_ENV, "auto")
    assert make().prepare(1) == "onnxruntime"  # no 8-bit graph: float
    plant_int8(path, maker, 1.01, faster=False)
    slow = make()
    slow.prepare(1)
    assert slow.features_label == "onnxruntime float"
    plant_int8(path, maker, 1.01, faster=True)
    fast = make()
    fast.prepare(1)
    assert fast.features_label == "onnxruntime int8"
    monkeypatch.setenv(PRECISION_ENV, "float")
    forced = make()
    forced.prepare(1)
    assert forced.features_label == "onnxruntime float"
    monkeypatch.delenv(PRECISION_ENV)  # unset: float, however fast 8-bit was measured
    default = make()
    default.prepare(1)
    assert default.features_label == "onnxruntime float"


def test_auto_builds_the_8_bit_graph_for_a_job_worth_it(frozen_parts, monkeypatch) -> None:
    """As the float graph is exported: not for a few photos (the app builds it at start-up),
    but the first job long enough quantizes, checks and times it once for the machine, and
    uses it where it was faster."""
    make, path, maker = frozen_parts
    monkeypatch.setenv(PRECISION_ENV, "auto")
    built = int8_features.int8_path(path, maker)
    few = make()
    assert few.store_digest(10) == few.digest and few.precision == "float"
    assert not built.exists()
    long = make()
    long.store_digest(EXPORT_WORTHWHILE)
    assert built.is_file()
    faster = json.loads(int8_features.speed_path(built).read_text())["faster"]
    assert long.precision == ("int8" if faster else "float")


def _with_vnni(monkeypatch: pytest.MonkeyPatch, vnni: bool) -> None:
    monkeypatch.setattr(int8_features, "has_vnni", lambda: vnni)
    int8_features.quantization.cache_clear()


@pytest.fixture
def fresh_quantization():
    """Tests that pretend another processor: this machine's 8-bit settings afterwards."""
    yield
    int8_features.quantization.cache_clear()


def test_auto_keeps_float_where_8_bits_were_not_measured_as_accurate(
        frozen_parts, monkeypatch, fresh_quantization) -> None:
    """Without VNNI (7-bit weights, which lost accuracy) or for a network not measured,
    "auto" runs float however fast 8 bits were timed, builds no 8-bit graph for it, and says
    why; the default network on a processor with VNNI gets 8 bits."""
    make, path, maker = frozen_parts
    monkeypatch.setattr(int8_features, "auto_refusal", AUTO_RULE)
    monkeypatch.setenv(PRECISION_ENV, "auto")
    _with_vnni(monkeypatch, False)
    plant_int8(path, maker, 1.01, faster=True)
    frozen = make()
    frozen.prepare(1)
    assert frozen.features_label == "onnxruntime float"
    assert frozen.refusal is not None and "no VNNI" in frozen.refusal
    _with_vnni(monkeypatch, True)
    assert not int8_features.int8_path(path, maker).exists(), "another setting's name"
    building = make()
    building.build_int8 = True
    building.prepare(1)
    assert building.features_label == "onnxruntime float"
    assert building.refusal == "8-bit features of this network were not measured as " \
                               "accurate as float"
    assert not int8_features.int8_path(path, maker).exists(), "nothing built for it"
    plant_int8(path, maker, 1.01, faster=True)
    lite0 = Tiny().eval()
    lite0.pretrained_cfg = {"architecture": "tf_efficientnet_lite0"}
    chosen = FrozenFeatures(lite0, PREP, CPU)
    chosen.prepare(1)
    assert chosen.features_label == "onnxruntime int8" and chosen.refusal is None


def test_the_auto_rule(monkeypatch, fresh_quantization) -> None:
    _with_vnni(monkeypatch, True)
    assert int8_features.auto_refusal("tf_efficientnet_lite0") is None
    assert "not measured" in int8_features.auto_refusal("tf_efficientnet_lite2")
    _with_vnni(monkeypatch, False)
    assert "no VNNI" in int8_features.auto_refusal("tf_efficientnet_lite0")


def test_prepare_says_why_auto_chose_float(monkeypatch, fresh_quantization) -> None:
    """What a front end shows: the default network, on a processor without VNNI."""
    from training.models.frozen import prepare_frozen_runtime

    _with_vnni(monkeypatch, False)
    monkeypatch.setenv(PRECISION_ENV, "auto")
    prepared = prepare_frozen_runtime()
    assert prepared.label in ("onnxruntime float", "pytorch")
    assert prepared.float_because is not None and "no VNNI" in prepared.float_because
    monkeypatch.setenv(onnx_features.DISABLE_ENV, "1")  # no float graph: nothing to quantize
    _with_vnni(monkeypatch, True)
    turned_off = prepare_frozen_runtime()
    assert turned_off.label == "pytorch"
    assert turned_off.float_because is not None
    assert turned_off.float_because.startswith("no float graph to quantize")
    monkeypatch.setenv(PRECISION_ENV, "float")
    assert prepare_frozen_runtime().float_because is None


def test_a_bad_precision_setting_is_one_clear_error(monkeypatch) -> None:
    from training.core.runtime import frozen_precision

    monkeypatch.setenv(PRECISION_ENV, "fp8")
    with pytest.raises(ConfigError, match="CHEETAHLION_PRECISION='fp8' is not one of"):
        frozen_precision()


@pytest.mark.parametrize("command", [["predict", "model.safetensors", "photo.jpg"],
                                     ["train", "data", "-o", "m.safetensors"],
                                     ["evaluate", "model", "data"]])
def test_the_cli_flag_sets_the_precision_for_the_command(command, monkeypatch) -> None:
    from training.cli import commands, predict, train

    seen: list[str | None] = []

    def handler(_args: object) -> int:
        import os

        seen.append(os.environ.get(PRECISION_ENV))
        return 0
    for module, name in ((predict, "_predict"), (train, "_train"), (predict, "_evaluate")):
        monkeypatch.setattr(module, name, handler)
    monkeypatch.setenv(PRECISION_ENV, "auto")
    assert commands.main([*command, "--feature-precision", "int8"]) == 0
    assert commands.main(command) == 0
    assert seen == ["int8", "auto"]  # and the flag lasts only its command


def test_forced_int8_quantizes_checks_and_times_a_graph(frozen_parts, photo,
                                                         monkeypatch) -> None:
    """The real quantizer's graph (built once, calibrated on synthetic images) agrees with
    the float one, is timed, and computes what the store then files under 8-bit."""
    make, path, maker = frozen_parts
    monkeypatch.setenv(PRECISION_ENV, "int8")
    frozen = make()
    features = embedded(frozen, photo)
    assert frozen.features_label == "onnxruntime int8", frozen.refusal
    built = int8_features.int8_path(path, maker)
    assert built.is_file() and "faster" in json.loads(
        int8_features.speed_path(built).read_text())
    reference = onnx_features.session_from_bytes(path)(_pixels(frozen, photo))[0]
    cosine = features @ reference / (np.linalg.norm(features) * np.linalg.norm(reference))
    assert cosine > 0.95


def _tiny_model(trained: str | None) -> TrainedModel:
    """The tiny network as a model file would give it: trained on `trained` features (None:
    a file from before the header recorded them)."""
    metadata = {} if trained is None else {
        FROZEN_KEY: FrozenUse(trained, "onnxruntime").to_dict()}
    return TrainedModel(Tiny().eval(), "efficientnet_lite0", ("a", "b", "c"), PREP, metadata)


def _classified(predictor: Predictor, photo: Path) -> FrozenRun:
    (prediction,) = predictor.predict([photo])
    assert prediction.error is None, prediction.error
    return predictor.frozen_run()


def test_a_model_classifies_on_the_features_it_was_trained_on(frozen_parts, photo,
                                                              monkeypatch) -> None:
    """Whatever the process's setting: 8-bit for a model trained on 8-bit features, float
    for one trained on float features or written before the header said."""
    _, path, maker = frozen_parts
    plant_int8(path, maker, 1.01)
    monkeypatch.setenv(PRECISION_ENV, "float")
    predictor = Predictor.from_model(_tiny_model("int8"), CPU)
    list(predictor.predict([photo]))
    assert predictor.frozen.features_label == "onnxruntime int8"  # not the setting's float
    run = _classified(predictor, photo)
    assert (run.runtime, run.precision, run.mixed, run.note) == ("onnxruntime", "int8", False,
                                                                 None)
    assert run.describe() == "Frozen network: onnxruntime · 8-bit"
    monkeypatch.setenv(PRECISION_ENV, "int8")
    for trained in ("float", None):
        run = _classified(Predictor.from_model(_tiny_model(trained), CPU), photo)
        assert (run.precision, run.trained, run.mixed) == ("float", "float", False)


def test_features_of_the_other_kind_are_checked_and_reported(frozen_parts, photo) -> None:
    """Asked for explicitly (the CLI's --feature-precision), the other precision runs, and
    the run says it was checked against the model's own classifier."""
    _, path, maker = frozen_parts
    plant_int8(path, maker, 1.01)
    for trained, asked in (("float", "int8"), ("int8", "float")):
        run = _classified(Predictor.from_model(_tiny_model(trained), CPU,
                                               feature_precision=asked), photo)
        assert (run.precision, run.trained, run.mixed) == (asked, trained, True)
        assert run.check is not None and run.check.startswith(
            "checked: the 8-bit graph agreed with the float one on this model's classifier")
        words = "8-bit" if trained == "int8" else "float"
        assert f"the model was trained on {words} features, checked: " in run.describe()


def test_an_int8_model_falls_back_to_float_with_a_note(frozen_parts, photo) -> None:
    """Where the 8-bit graph cannot be used (here it disagrees), an 8-bit model classifies on
    float features and says why; asked for explicitly, 8-bit is refused instead."""
    _, path, maker = frozen_parts
    plant_int8(path, maker, -1.0)
    predictor = Predictor.from_model(_tiny_model("int8"), CPU)
    run = _classified(predictor, photo)
    assert (run.precision, run.mixed) == ("float", True)
    assert run.note is not None and run.note.startswith("8-bit features could not be used "
                                                        "here (8-bit feature graph refused")
    assert run.note.endswith("float features ran instead.")
    assert "trained on 8-bit features, not checked" in run.describe()
    plant_int8(path, maker, -1.0)
    with pytest.raises(EightBitUnavailableError,
                       match="8-bit features were asked for but cannot be used") as refused:
        _classified(Predictor.from_model(_tiny_model("int8"), CPU, feature_precision="int8"),
                    photo)
    assert refused.value.reason.startswith("8-bit feature graph refused and deleted: "), \
        "the reason alone, for a front end"


def test_quick_training_records_what_computed_its_features(frozen_parts) -> None:
    """What a quick-mode head was trained on, as the model file records it."""
    make, path, maker = frozen_parts
    plant_int8(path, maker, 1.01)
    frozen = FrozenFeatures(Tiny().eval(), PREP, CPU, precision="int8")
    frozen.prepare(1)
    assert frozen.use() == FrozenUse("int8", "onnxruntime", int8_features.settings_tag())
    assert make().use() == FrozenUse("float", None)  # nothing computed yet


def _tiny_8bit_model(settings: str | None) -> TrainedModel:
    use = FrozenUse("int8", "onnxruntime", settings)
    return TrainedModel(Tiny().eval(), "efficientnet_lite0", ("a", "b", "c"), PREP,
                        {FROZEN_KEY: use.to_dict()})


def test_8_bit_features_made_on_another_kind_of_processor_are_not_reused(
        frozen_parts, photo) -> None:
    """A model trained on 8-bit features made with other settings (full range on a VNNI
    processor, classified on one without, or the reverse) runs float, checked and noted;
    with this machine's settings, or an older file's none, it runs 8-bit."""
    _, path, maker = frozen_parts
    plant_int8(path, maker, 1.01)
    run = _classified(Predictor.from_model(_tiny_8bit_model("0ther"), CPU), photo)
    assert (run.precision, run.trained, run.mixed) == ("float", "int8", True)
    assert run.note is not None and "another kind of processor" in run.note
    assert run.check is not None and run.check.startswith("checked: ")
    for settings in (int8_features.settings_tag(), None):
        run = _classified(Predictor.from_model(_tiny_8bit_model(settings), CPU), photo)
        assert (run.precision, run.mixed, run.note) == ("int8", False, None)
    asked = Predictor.from_model(_tiny_8bit_model("0ther"), CPU, feature_precision="int8")
    assert _classified(asked, photo).precision == "int8", "the user's explicit choice"


def test_a_multilabel_model_classifies_on_its_own_precision(frozen_parts, photo,
                                                           monkeypatch) -> None:
    """Multi-label models follow the same rule: 8-bit for one trained on 8-bit features
    under the float setting, float for one from before the header recorded it."""
    _, path, maker = frozen_parts
    plant_int8(path, maker, 1.01)
    monkeypatch.setenv(PRECISION_ENV, "float")
    for trained, ran in (("int8", "int8"), (None, "float")):
        model = _tiny_model(trained)
        model.metadata.update(task=MULTI_LABEL, thresholds=[0.5, 0.5, 0.5])
        predictor = MultiLabelPredictor.from_model(model, CPU)
        (prediction,) = predictor.predict([photo])
        assert prediction.error is None, prediction.error
        run = predictor.frozen_run()
        assert (run.precision, run.mixed) == (ran, False)


def test_a_checked_graph_is_checked_once_per_classifier_and_file(frozen_parts,
                                                                 monkeypatch) -> None:
    """Each job's features make a new `FrozenFeatures`: the 8-bit graph that passed its
    check in this process is reused for the same classifier and file, and checked again
    for another classifier or a replaced file."""
    _, path, maker = frozen_parts
    plant_int8(path, maker, 1.01)
    checks: list[int] = []
    real = int8_features.agreement
    monkeypatch.setattr(int8_features, "agreement",
                        lambda *args: checks.append(1) or real(*args))
    network = Tiny().eval()
    for _ in range(2):
        FrozenFeatures(network, PREP, CPU, precision="int8").prepare(1)
    assert len(checks) == 1
    other = Tiny().eval()
    with torch.no_grad():
        other.classifier.weight.mul_(2.0)  # another model's head, the same features
    FrozenFeatures(other, PREP, CPU, precision="int8").prepare(1)
    assert len(checks) == 2
    planted = plant_int8(path, maker, 1.02)  # the file replaced
    os.utime(planted, ns=(1, 1))
    frozen = FrozenFeatures(network, PREP, CPU, precision="int8")
    frozen.prepare(1)
    assert len(checks) == 3 and frozen.precision == "int8"


def test_a_missing_quantizer_leaves_the_float_graph(float_graph: Path, tmp_path: Path,
                                                    monkeypatch) -> None:
    """A build without the quantizer's modules (the bundle once lacked some) quantizes
    nothing and says so, instead of failing the job that asked for features."""
    monkeypatch.setitem(sys.modules, "onnxruntime.quantization", None)  # import fails
    target = tmp_path / "int8.onnx"
    assert not int8_features.quantize(float_graph.read_bytes(), target, PREP.crop)
    assert not target.exists()


def test_full_range_weights_only_where_the_cpu_has_vnni(tmp_path: Path, monkeypatch) -> None:
    """7-bit weights (reduce_range) on CPUs without VNNI, where full-range ones can
    saturate; full range with it. Either way the graph's tag says which, so vectors of
    one are never read as the other's."""
    flags = "flags\t\t: fpu sse4_1 avx2 {}\n"
    cpuinfo = tmp_path / "cpuinfo"
    tags, has_vnni = {}, int8_features.has_vnni
    for extra, vnni in (("", False), ("avx512_vnni", True), ("avx_vnni", True)):
        cpuinfo.write_text("processor\t: 0\n" + flags.format(extra))
        assert has_vnni(cpuinfo) is vnni
        monkeypatch.setattr(int8_features, "has_vnni", lambda found=vnni: found)
        int8_features.quantization.cache_clear()
        assert int8_features.quantization()["reduce_range"] is not vnni
        tags[vnni] = int8_features.settings_tag()
    int8_features.quantization.cache_clear()
    assert tags[True] != tags[False]
    assert not has_vnni(tmp_path / "missing")  # unknown: the safe answer
