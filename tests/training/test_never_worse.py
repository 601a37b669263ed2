"""Never worse than the ImageNet start: the blend choice, and `fit` on data where training
is known to hurt.

The known answer: ImageNet's rows for "lemon" and "Granny Smith" tell yellow from green
synthetic photos perfectly. In `train/` the folders are swapped (the yellow photos in
`granny_smith/`, the green ones in `lemon/`), in `val/` they are right. Training learns the
swap, so the trained head alone is worse on validation than ImageNet's own rows; the kept
model must not be.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from synthetic import make_fruit_dataset

from training.data.scanning import scan_dataset
from training.fitting.modelfile import load_model
from training.fitting.never_worse import QUICK_SHARES, blend, choose, needs_blending
from training.fitting.trainer import fit
from training.predict.evaluation import evaluate
from training.records.config import TrainConfig
from training.records.runs import list_runs


def _state(value: float) -> dict[str, torch.Tensor]:
    return {"weight": torch.full((2, 3), value), "num_batches_tracked": torch.tensor(7)}


def test_blend_moves_floats_and_keeps_the_trained_counters() -> None:
    start, trained = _state(0.0), _state(10.0)
    trained["num_batches_tracked"] = torch.tensor(9)
    mixed = blend(start, trained, 0.3)
    assert torch.allclose(mixed["weight"], torch.full((2, 3), 3.0))
    assert mixed["num_batches_tracked"].item() == 9


def test_choose_takes_the_best_blend_that_is_not_worse_than_the_start() -> None:
    # accuracy peaks at share 0.6, but share 0.7's loss is worse than the start's
    def score(state: dict[str, torch.Tensor]) -> tuple[float, float]:
        share = state["weight"][0, 0].item() / 10
        loss = 0.5 if round(share, 1) == 0.7 else 0.3
        return loss, 0.9 - abs(share - 0.65)

    state, kept = choose(_state(0.0), (0.4, 0.25), _state(10.0), (0.2, 0.1), score,
                         QUICK_SHARES)
    assert kept.trained_share == pytest.approx(0.6)
    assert state["weight"][0, 0].item() == pytest.approx(6.0)
    assert (kept.start_loss, kept.start_accuracy) == (0.4, 0.25)


def test_choose_keeps_the_start_when_every_blend_is_worse() -> None:
    def worse(_state: dict[str, torch.Tensor]) -> tuple[float, float]:
        return 0.9, 0.4

    state, kept = choose(_state(1.0), (0.5, 0.8), _state(10.0), (0.3, 0.7), worse, (0.5,))
    assert kept.trained_share == 0.0 and state["weight"][0, 0].item() == 1.0


def test_choose_keeps_the_trained_weights_when_they_are_better_and_none_are_tried() -> None:
    def never(_state: dict[str, torch.Tensor]) -> tuple[float, float]:
        raise AssertionError("no blend should be scored")

    _, kept = choose(_state(0.0), (0.5, 0.8), _state(10.0), (0.3, 0.8), never, ())
    assert kept.trained_share == 1.0
    assert not needs_blending((0.5, 0.8), (0.3, 0.8))
    assert needs_blending((0.5, 0.8), (0.3, 0.7)) and needs_blending((0.5, 0.8), (0.6, 0.9))


@pytest.fixture(scope="module")
def swapped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train/ with the two classes' photos swapped, val/ right (see the module docstring)."""
    return make_fruit_dataset(tmp_path_factory.mktemp("swapped"), swapped=True)


@pytest.mark.parametrize("mode", ["quick", "finetune"])
def test_training_that_hurts_keeps_a_model_no_worse_than_the_baseline(
        swapped: Path, tmp_path: Path, mode: str) -> None:
    dataset = scan_dataset(swapped)
    config = (TrainConfig.quick(epochs=20, image_size=64) if mode == "quick"
              else TrainConfig.finetune(epochs=2, batch_size=8, image_size=64))
    result = fit(config, dataset, output=tmp_path / "m.safetensors")
    assert result.baseline_accuracy is not None and result.kept is not None
    alone = result.history[result.best_epoch - 1]
    start = (result.kept.start_loss, result.kept.start_accuracy)
    assert needs_blending(start, (alone.val_loss, alone.val_accuracy)), \
        "the swapped training set must make the trained weights worse, or this proves nothing"
    assert result.kept.trained_share < 1.0
    assert result.best_val_accuracy >= result.baseline_accuracy
    assert result.best_val_accuracy >= result.kept.start_accuracy
    assert result.best_val_loss <= result.kept.start_loss
    # the saved model is the kept one: it scores the same on validation
    model = load_model(result.model_path)
    report = evaluate(model, dataset, "val")
    assert report.accuracy == pytest.approx(result.best_val_accuracy)
    assert model.metadata["metrics"]["trained_share"] == result.kept.trained_share
    assert list_runs(dataset.root)[0].trained_share == result.kept.trained_share


def test_training_that_helps_keeps_the_trained_head(tmp_path: Path) -> None:
    """The same photos without the swap: training can only help, and the trained head (or a
    blend that is at least as good) is kept, better than the start on validation loss."""
    root = make_fruit_dataset(tmp_path / "right", swapped=False)
    result = fit(TrainConfig.quick(epochs=20, image_size=64), scan_dataset(root),
                 output=tmp_path / "m.safetensors")
    assert result.kept is not None and result.kept.trained_share > 0.0
    assert result.best_val_accuracy == 1.0
    assert result.best_val_loss < result.kept.start_loss
    assert math.isfinite(result.best_val_loss)
