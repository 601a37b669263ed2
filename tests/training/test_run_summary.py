"""Why a run ended and what it gained, in words (issue 20 item 16), and the progress a
fine-tune reports between reading its images and its first step (item 7)."""

from __future__ import annotations

import threading
from pathlib import Path

from synthetic import make_fruit_dataset

from training.data.scanning import scan_dataset
from training.fitting.trainer import fit
from training.records.config import TrainConfig
from training.records.events import BaselineMeasured, PhaseProgress, StepEnded, TrainingEvent
from training.records.run_summary import short_reason, what_it_gained, why_it_ended


def test_why_a_run_ended() -> None:
    assert why_it_ended("completed", 5, 5, 3) == "finished all 5 epochs"
    assert why_it_ended("early_stopping", 12, 30, 5) == (
        "stopped early after epoch 12 of 30: validation loss did not improve for 5 epochs")
    assert why_it_ended("cancelled", 1, 2, 3) == "you pressed Stop after epoch 1 of 2"
    assert why_it_ended("cancelled", 0, 2, 3) == "you pressed Stop after no finished epoch of 2"
    assert why_it_ended("interrupted", 3, 5, 3).startswith("the training process ended")
    assert [short_reason(s) for s in ("completed", "early_stopping", "cancelled")] == \
        ["finished", "early stop", "stopped"]


def test_what_a_run_gained_over_imagenets_own_answer() -> None:
    assert what_it_gained(0.933, 0.867, 1.0) == \
        "validation accuracy 0.933, +0.066 over ImageNet's own answer (0.867)"
    assert what_it_gained(0.85, 0.867, 0.5) == \
        "validation accuracy 0.850, 0.017 below ImageNet's own answer (0.867)"
    assert what_it_gained(0.867, 0.867, 1.0) == \
        "validation accuracy 0.867, the same as ImageNet's own answer"
    assert what_it_gained(0.867, 0.867, 0.0).startswith(
        "training did not beat the start: kept ImageNet's own classifier")
    assert what_it_gained(0.9, None, None) == "validation accuracy 0.900"


def test_a_fine_tune_reports_measuring_the_baseline_before_its_first_step(
        tmp_path: Path) -> None:
    """The forward pass over the validation images that measures ImageNet's own answer ran
    with nothing reported: the bar sat at "Reading images n/n · about 0 s left"."""
    dataset = scan_dataset(make_fruit_dataset(tmp_path / "fruit", swapped=False))
    events: list[TrainingEvent] = []
    cancel = threading.Event()

    def callback(event: TrainingEvent) -> None:
        events.append(event)
        if isinstance(event, StepEnded):
            cancel.set()

    fit(TrainConfig.finetune(epochs=1, batch_size=4, image_size=64), dataset, callback, cancel,
        output=tmp_path / "m.safetensors")
    kinds = [(type(e).__name__, getattr(e, "phase", "")) for e in events]
    baseline = [e for e in events if isinstance(e, PhaseProgress) and e.phase == "baseline"]
    assert len(baseline) >= 2 and baseline[-1].done == baseline[-1].total
    assert [b.done for b in baseline] == sorted(b.done for b in baseline)
    first_step = next(i for i, e in enumerate(events) if isinstance(e, StepEnded))
    measured = next(i for i, e in enumerate(events) if isinstance(e, BaselineMeasured))
    assert kinds.index(("PhaseProgress", "baseline")) < measured < first_step
