"""The partial fine-tune (issue 25): it trains only the top of the network, from stored
activations that follow the photos' content, stops at a batch boundary, and is never worse
than quick mode on validation. Tiny synthetic photos at 64 px keep each run to seconds."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from synthetic import make_dataset, textured_image

from training.cli import main
from training.data.feature_store import FeatureStore
from training.data.scanning import scan_dataset
from training.fitting import partial, run_hooks, trainer
from training.fitting.modelfile import load_model
from training.fitting.run_context import Trained
from training.fitting.trainer import fit
from training.models.activations import CutActivations, stored_activations
from training.models.networks import load_pretrained
from training.records.backbones import DEFAULT_BACKBONE, get_backbone
from training.records.config import TrainConfig
from training.records.events import PhaseProgress, StepEnded
from training.records.kept import Kept

SMALL = {"image_size": 64, "batch_size": 8, "epochs": 2, "top_blocks": 2}


@pytest.fixture(scope="module")
def colours(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("partial") / "colours", per_class=8)


@pytest.fixture(scope="module")
def pretrained() -> dict[str, torch.Tensor]:
    return load_pretrained(get_backbone(DEFAULT_BACKBONE)).state_dict()


TOP_TWO = ("blocks.5.3.", "blocks.6.0.", "conv_head.", "bn2.", "classifier.")
"""EfficientNet-Lite0's tensors above a cut under its last two blocks (stages 1,2,2,3,3,4,1)."""


def _changed(model_path: Path, pretrained: dict[str, torch.Tensor]
             ) -> tuple[list[str], list[str]]:
    """(tensors below the cut of `TOP_TWO` that differ from the pretrained network's, those
    above it that do)."""
    network = load_model(model_path).network
    changed = [name for name, tensor in network.state_dict().items()
               if name in pretrained and tensor.shape == pretrained[name].shape
               and not torch.equal(tensor, pretrained[name])]
    return ([n for n in changed if not n.startswith(TOP_TWO)],
            [n for n in changed if n.startswith(TOP_TWO)])


def test_cli_trains_only_the_blocks_above_the_cut(
        capsys, colours: Path, tmp_path: Path, pretrained: dict[str, torch.Tensor],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The never-worse choice (pinned below) is told to keep the trained top, so that
    # everything training touched shows in the saved file.
    monkeypatch.setattr(run_hooks, "choose", lambda start, start_scores, trained, scores, *_: (
        trained, Kept(1.0, *scores, *start_scores)))
    model = tmp_path / "partial.safetensors"
    code = main(["train", str(colours), "-o", str(model), "--mode", "partial", "--json",
                 "--image-size", "64", "--batch-size", "8", "--epochs", "2",
                 "--top-blocks", "2"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["model"] == str(model)
    assert summary["quick_val_accuracy"] is not None
    assert summary["gained_over_quick"] == pytest.approx(
        summary["val_accuracy"] - summary["quick_val_accuracy"])
    below, above = _changed(model, pretrained)
    assert below == []  # every frozen weight and batch-norm statistic bit-identical
    assert {name.split(".")[0] + "." + name.split(".")[1] for name in above
            if name.startswith("blocks.")} == {"blocks.5", "blocks.6"}  # both blocks trained


def _store_rows(store: FeatureStore) -> int:
    return len(store._query("SELECT content FROM vectors", []))


def test_activations_follow_the_photos_content_and_damage_is_recomputed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backbone = get_backbone(DEFAULT_BACKBONE)
    network = load_pretrained(backbone)
    cut = CutActivations(network, backbone.preprocessing.with_crop(64), torch.device("cpu"), 2)
    paths = []
    for index in range(3):
        paths.append(tmp_path / f"{index}.png")
        textured_image((200, 40, 40), index).save(paths[-1])
    store = FeatureStore(tmp_path / "store.sqlite3")
    computed: list[int] = []
    original = CutActivations._cut
    monkeypatch.setattr(CutActivations, "_cut",
                        lambda self, pixels: computed.append(len(pixels)) or original(self, pixels))

    first = stored_activations(paths, cut, store)
    assert sum(computed) == 3 and first.shape == (3, *cut.shape) and _store_rows(store) == 3
    computed.clear()
    assert torch.equal(stored_activations(paths, cut, store), first) and computed == []

    textured_image((40, 60, 200), 99).save(paths[1])  # same path, new content
    again = stored_activations(paths, cut, store)
    assert computed == [1]
    assert torch.equal(again[0], first[0]) and not torch.equal(again[1], first[1])

    computed.clear()
    with sqlite3.connect(store.location) as connection:  # one float flipped in one row
        blob = bytearray(connection.execute("SELECT vector FROM vectors LIMIT 1").fetchone()[0])
        blob[0] ^= 0xFF
        connection.execute("UPDATE vectors SET vector = ? WHERE rowid = "
                           "(SELECT rowid FROM vectors LIMIT 1)", (bytes(blob),))
    repaired = stored_activations(paths, cut, store)
    assert computed == [1]  # the damaged row only, computed again (alone in its batch)
    assert torch.allclose(repaired, again, atol=1e-4)


def test_cancel_stops_at_a_batch_boundary_and_keeps_quick_mode(
        colours: Path, tmp_path: Path, pretrained: dict[str, torch.Tensor]) -> None:
    cancel = threading.Event()
    steps: list[StepEnded] = []

    def callback(event: object) -> None:
        if isinstance(event, StepEnded):
            steps.append(event)
            cancel.set()  # during the first epoch's first batch

    config = TrainConfig.partial(**SMALL, feature_views=1)
    result = fit(config, scan_dataset(colours), callback, cancel,
                 output=tmp_path / "stopped.safetensors")
    assert len(steps) == 1 and result.stopped == "cancelled" and not result.history
    below, above = _changed(result.model_path, pretrained)
    assert below == [] and not [n for n in above if n.startswith("blocks.")]


def test_cancel_while_computing_activations_keeps_quick_mode(colours: Path,
                                                              tmp_path: Path) -> None:
    cancel = threading.Event()

    def callback(event: object) -> None:
        if isinstance(event, PhaseProgress) and event.phase == "activations":
            cancel.set()

    result = fit(TrainConfig.partial(**SMALL), scan_dataset(colours), callback, cancel,
                 output=tmp_path / "quick.safetensors")
    assert result.stopped == "cancelled" and result.model_path is not None


def test_never_worse_keeps_quick_when_the_top_does_not_beat_it(
        colours: Path, tmp_path: Path, pretrained: dict[str, torch.Tensor]) -> None:
    # A learning rate of 10 wrecks the top: quick mode's model must win on validation.
    config = TrainConfig.partial(**SMALL, learning_rate=10.0, optimizer="sgd")
    result = fit(config, scan_dataset(colours), output=tmp_path / "kept.safetensors")
    kept = result.kept
    assert kept is not None and kept.trained_share < 1.0
    assert kept.val_accuracy >= kept.start_accuracy and kept.val_loss <= kept.start_loss
    if kept.trained_share == 0.0:  # quick mode's model itself: the top as pretrained
        below, above = _changed(result.model_path, pretrained)
        assert below == [] and not [n for n in above if n.startswith("blocks.")]


def test_the_gain_is_over_plain_quick_mode_on_the_same_split(
        capsys, colours: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The head a partial run starts from is the very head `--mode quick` trains on the same
    # split and seed (not one trained on the top's augmented views), and the gain is
    # measured against quick mode's own validation accuracy.
    heads: dict[str, dict[str, torch.Tensor]] = {}

    def recording(mode: str, train: Callable[..., Trained]) -> Callable[..., Trained]:
        def run(*args: object) -> Trained:
            trained = train(*args)
            heads[mode] = trained.outcome.best_state
            return trained
        return run

    monkeypatch.setattr(partial, "train_quick", recording("partial", partial.train_quick))
    monkeypatch.setattr(trainer, "train_quick", recording("quick", trainer.train_quick))
    common = [str(colours), "--json", "--image-size", "64", "--seed", "1"]
    assert main(["train", *common, "-o", str(tmp_path / "quick.safetensors")]) == 0
    quick = json.loads(capsys.readouterr().out)
    assert main(["train", *common, "-o", str(tmp_path / "partial.safetensors"), "--mode",
                 "partial", "--batch-size", "8", "--epochs", "1", "--top-blocks", "2"]) == 0
    partial_run = json.loads(capsys.readouterr().out)
    assert heads["partial"].keys() == heads["quick"].keys()
    assert all(torch.equal(heads["partial"][name], heads["quick"][name])
               for name in heads["quick"])
    assert partial_run["quick_val_accuracy"] == quick["val_accuracy"]
