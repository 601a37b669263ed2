"""Multi-label fine-tuning (issue 23) on photos whose answer is known (coloured squares):
the network learns, its thresholds go into the model file, Stop keeps a usable model, a
fine-tune that does worse keeps the quick-mode head, and the run joins the history (the
command line's `--mode finetune` is in test_multilabel_cli.py).

Cheap on purpose: 64-pixel inputs, one or two epochs. On these photos quick mode's head is
already perfect on validation (mAP 1.0), which no fine-tune can beat; to test the path where
the fine-tuned network is kept, the quick head's score is made 0 (`_weak_start`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from multilabel_synthetic import LABELS, make_patch_dataset, patch_split

from training.fitting import multilabel
from training.fitting.modelfile import read_metadata
from training.fitting.multilabel import MultiLabelFitResult, fit_multilabel
from training.predict.multilabel import MultiLabelPredictor, evaluate_multilabel
from training.records.calibration import TOO_FEW
from training.records.config import TrainConfig
from training.records.events import EpochEnded, RunFinished, RunStarted, StepEnded
from training.records.multilabel import MultiLabelDataset
from training.records.multilabel_calibration import MultiLabelCalibration
from training.records.runtime_words import HEADER_KEY as FROZEN_KEY

SMALL = {"image_size": 64, "batch_size": 16}


@pytest.fixture(scope="module")
def patches(tmp_path_factory: pytest.TempPathFactory) -> MultiLabelDataset:
    return make_patch_dataset(tmp_path_factory.mktemp("ft-patches") / "photos")


@pytest.fixture(scope="module")
def finetuned(patches: MultiLabelDataset, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[MultiLabelFitResult, list[Any]]:
    """Two epochs of fine-tuning, the quick head's validation mAP made 0 so that the
    fine-tuned network is the one kept."""
    events: list[Any] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(multilabel, "_val_map", lambda *_args: 0.0)  # _weak_start
        result = fit_multilabel(TrainConfig.finetune(epochs=2, **SMALL), patches,
                                patch_split(), events.append,
                                output=tmp_path_factory.mktemp("ft") / "ft.safetensors")
    return result, events


def _trivial_map(dataset: MultiLabelDataset) -> float:
    """The mAP of a predictor that scores every photo alike: each label's AP is then its
    share of positives in validation."""
    truth = np.array([dataset.targets[i] for i in patch_split().val], dtype=bool)
    return float(np.mean([column.mean() for column in truth.T if column.any()]))


def test_finetuning_learns_and_keeps_its_own_network(
        finetuned: tuple[MultiLabelFitResult, list[Any]], patches: MultiLabelDataset) -> None:
    result, events = finetuned
    trivial = _trivial_map(patches)  # about 0.35 here
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert [e.epoch for e in epochs] == [1, 2] and list(result.history) == epochs
    assert all(e.val_accuracy > trivial + 0.4 for e in epochs), (trivial, epochs)
    assert not result.kept_quick_head and result.best_epoch in (1, 2)
    assert epochs[result.best_epoch - 1].is_best
    assert result.val_map >= 0.9 and result.val_macro_f1 >= 0.8
    assert result.warnings == () and result.kept_note is None


def test_the_events_are_a_finetunes(finetuned: tuple[MultiLabelFitResult, list[Any]]) -> None:
    """The Train page's plots and ETA read these: steps counted over the whole run, one
    `EpochEnded` per epoch (its "accuracy" the validation mAP, the best one kept)."""
    result, events = finetuned
    started = events[0]
    assert isinstance(started, RunStarted) and started.mode == "finetune"
    assert started.phases == ("features", "decode", "train")
    assert started.steps_per_epoch == 6 and started.total_steps == 12  # 96 photos, batches of 16
    steps = [e for e in events if isinstance(e, StepEnded)]
    assert [e.step for e in steps] == list(range(1, 13))
    assert all(e.total_steps == 12 for e in steps)
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.model_path == result.model_path
    assert finished.best_val_accuracy == max(e.val_accuracy for e in result.history)
    assert len(result.step_losses) == 12


def test_thresholds_are_stored_and_read_back(
        finetuned: tuple[MultiLabelFitResult, list[Any]], patches: MultiLabelDataset) -> None:
    result, _ = finetuned
    metadata = read_metadata(result.model_path)
    assert metadata["task"] == "multi-label" and metadata["classes"] == list(LABELS)
    assert tuple(metadata["thresholds"]) == result.thresholds and len(result.thresholds) == 3
    assert metadata["config"]["mode"] == "finetune"
    assert metadata["metrics"]["kept"] == "fine-tuned"
    # The fine-tuned network computes its own features, in PyTorch's float.
    assert metadata[FROZEN_KEY] == {"precision": "float", "runtime": "pytorch"}
    calibration = MultiLabelCalibration.of_header(metadata)  # the fine-tuned head's
    assert calibration is not None and calibration == result.calibration
    assert [label.name for label in calibration.labels] == list(LABELS)
    assert calibration.labels[LABELS.index("green")].rule == TOO_FEW
    predictor = MultiLabelPredictor.from_file(result.model_path)
    assert predictor.thresholds == result.thresholds
    report = evaluate_multilabel(result.model_path, patches, patch_split().val)
    assert report.mean_average_precision == pytest.approx(result.val_map, abs=1e-3)
    assert report.macro_f1 == pytest.approx(result.val_macro_f1, abs=1e-3)


def test_the_run_joins_the_history(finetuned: tuple[MultiLabelFitResult, list[Any]]) -> None:
    result, _ = finetuned
    record = result.record
    assert record is not None and record.is_multilabel
    assert record.config["mode"] == "finetune" and record.run_id == result.run_id
    assert record.val_map == pytest.approx(result.val_map)
    assert record.val_macro_f1 == pytest.approx(result.val_macro_f1)
    assert len(record.epochs) == 2 and len(record.step_losses) == 12
    assert record.model_path == str(Path(result.model_path).absolute())


def test_a_finetune_that_does_worse_keeps_the_quick_head(patches: MultiLabelDataset,
                                                         tmp_path: Path) -> None:
    """A learning rate of 10 wrecks the network: the quick-mode head is kept (the file holds
    it, figures and all), and a warning says so."""
    quick = fit_multilabel(TrainConfig.quick(image_size=64), patches, patch_split(),
                           output=tmp_path / "quick.safetensors")
    result = fit_multilabel(TrainConfig.finetune(epochs=1, learning_rate=10.0, **SMALL),
                            patches, patch_split(), output=tmp_path / "ft.safetensors")
    assert result.kept_quick_head and result.best_epoch == 0 and len(result.history) == 1
    assert result.history[0].val_accuracy < quick.val_map
    assert result.val_map == pytest.approx(quick.val_map)
    assert result.thresholds == pytest.approx(quick.thresholds)
    assert "did no better than the quick-mode head" in result.kept_note
    assert read_metadata(result.model_path)["metrics"]["kept"] == "quick head"
    predicted = list(MultiLabelPredictor.from_file(result.model_path).predict(
        [patches.images[i].path for i in (1, 2, 3)]))
    assert [p.labels for p in predicted] == [("red",), ("blue",), ("blue", "red")]


def test_stop_mid_run_keeps_a_usable_model(patches: MultiLabelDataset, tmp_path: Path) -> None:
    """Stop during the first fine-tuning epoch: the run ends at the next batch, keeping the
    best model so far (the quick-mode head on the pretrained network), which classifies."""
    cancel = threading.Event()
    events: list[Any] = []

    def callback(event: Any) -> None:
        events.append(event)
        if isinstance(event, StepEnded):
            cancel.set()

    result = fit_multilabel(TrainConfig.finetune(epochs=2, **SMALL), patches, patch_split(),
                            callback, cancel, output=tmp_path / "stopped.safetensors")
    assert result.stopped == "cancelled" and result.kept_quick_head
    assert result.kept_note.startswith("Stopped before the first fine-tuning epoch ended")
    assert len([e for e in events if isinstance(e, StepEnded)]) == 1
    assert result.model_path is not None and result.val_map >= 0.9
    predicted = list(MultiLabelPredictor.from_file(result.model_path).predict(
        [patches.images[3].path]))
    assert predicted[0].labels == ("blue", "red")
    assert isinstance(events[-1], RunFinished) and events[-1].stopped == "cancelled"


def test_batch_norm_keeps_the_pretrained_statistics(
        finetuned: tuple[MultiLabelFitResult, list[Any]]) -> None:
    """The head was fitted on features normalised by the pretrained running statistics:
    they stay as they were, while every weight (batch norm's scales included) trained."""
    import torch

    from training.models.networks import load_pretrained
    from training.records.backbones import get_backbone

    result, _ = finetuned
    before = load_pretrained(get_backbone(TrainConfig.finetune().backbone)).state_dict()
    after = result.model.network.state_dict()
    statistics = [name for name in before if name.endswith(("running_mean", "running_var"))]
    assert statistics and all(torch.equal(before[n], after[n].cpu()) for n in statistics)
    scales = [name for name in before if name.endswith("bn1.weight")]
    assert any(not torch.equal(before[n], after[n].cpu()) for n in scales)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_a_finetuned_model_exports_with_its_sigmoids_and_thresholds(
        finetuned: tuple[MultiLabelFitResult, list[Any]], patches: MultiLabelDataset,
        tmp_path: Path) -> None:
    """Export of the fine-tuned network (its own weights, not the stock backbone's): parity
    with PyTorch checked, the predictor's sigmoids given back, the thresholds in the sidecar.
    TorchScript, a trace in a second or two: the same export wrapper as ONNX, whose
    multi-label export (sigmoids, thresholds, the README example) test_multilabel_export.py
    checks on a quick model, and ONNX's fine-tuned-network export costs ~15 s."""
    import torch

    from training.data.preprocessing import load_pixels
    from training.predict.export import PARITY_TOLERANCE, export_model
    from training.predict.export_files import read_export

    result, _ = finetuned
    photos = [patches.images[i].path for i in range(0, 30, 5)]
    exported = export_model(result.model_path, tmp_path / "ft", "torchscript", photos)
    assert exported.max_abs_difference <= PARITY_TOLERANCE
    sidecar = read_export(exported.path)
    assert sidecar["task"] == "multi-label" and sidecar["thresholds"] == list(result.thresholds)
    predictor = MultiLabelPredictor.from_file(result.model_path, torch.device("cpu"))
    app = np.array([p.probabilities for p in predictor.predict(photos)], dtype=np.float32)
    pixels = np.stack([load_pixels(p, predictor.model.preprocessing) for p in photos])
    with torch.inference_mode():
        got = torch.jit.load(str(exported.path))(torch.from_numpy(pixels)).numpy()
    np.testing.assert_allclose(got, app, atol=PARITY_TOLERANCE, rtol=0)
