"""The Evaluate step's calibration panel for a multi-label model (issue 24): every label's
probability pooled in one reliability diagram, its ECE on the evaluated photos before and
after the model's temperatures, and each label's ECE in the per-label table.

The report is built by hand (no training): 200 photos whose label probabilities are known,
and a model file's calibration with one label's temperature 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cheetahlion_gui.jobs.evaluate_multilabel import MultiLabelEvaluated, worst_first
from training.fitting.multilabel_metrics import build_report
from training.records.calibration import FITTED, TOO_FEW
from training.records.multilabel import MultiLabelReport
from training.records.multilabel_calibration import (
    LabelCalibration,
    MultiLabelCalibration,
    pooled_reliability,
    uncalibrated,
)

LABELS = ("cheetah", "lion", "zebra")
TEMPERATURES = (2.0, 1.0, 1.0)


def _report(folder: Path, calibrated: bool) -> MultiLabelReport:
    rng = np.random.default_rng(0)
    probabilities = rng.uniform(0, 1, (200, 3))
    truth = rng.uniform(0, 1, (200, 3)) < probabilities  # calibrated by construction
    paths = [str(folder / f"{i:03d}.png") for i in range(200)]
    report = build_report("val", LABELS, paths, probabilities, truth, (0.5, 0.5, 0.5))
    calibration = MultiLabelCalibration(
        (LabelCalibration("cheetah", 2.0, 0.08, 0.02, 90, 110, FITTED),
         LabelCalibration("lion", 1.0, 0.0, 0.0, 95, 105, FITTED),
         LabelCalibration("zebra", 1.0, 0.0, 0.0, 3, 197, TOO_FEW)), 0.05, 0.02, 200)
    return MultiLabelReport(report.part, report.labels, report.per_label, report.macro_f1,
                            report.micro_f1, report.mean_average_precision,
                            report.exact_match, report.outcomes,
                            calibration=calibration if calibrated else None)


def _show(window, qtbot, report: MultiLabelReport, folder: Path):
    window.sidebar.setCurrentRow(2)
    page = window.evaluate_page
    page._evaluating_title = "run 1"
    page._succeeded(MultiLabelEvaluated(report, str(folder / "model.safetensors"),
                                        worst_first(report)))
    page.evaluation_finished.emit()
    qtbot.wait(50)
    return page


@pytest.mark.parametrize("calibrated", [True, False])
def test_the_panel_shows_the_pooled_diagram_and_ece(window, qtbot, tmp_path: Path,
                                                     calibrated: bool) -> None:
    report = _report(tmp_path, calibrated)
    page = _show(window, qtbot, report, tmp_path)
    panel = page.reliability
    assert panel.isVisible()
    probabilities = np.array([o.probabilities for o in report.outcomes])
    truth = np.array([[label in o.true_labels for label in LABELS] for o in report.outcomes])
    after = pooled_reliability(probabilities, truth).ece
    text = panel.summary.text()
    assert f"ECE <b>{after:.3f}</b> on these 200 validation photos, every label pooled" in text
    if calibrated:
        before = pooled_reliability(uncalibrated(probabilities, TEMPERATURES), truth).ece
        assert before != pytest.approx(after)
        assert f"({before:.3f} before calibration)" in text
        assert "0.050 before, 0.020 after a temperature per label" in text
        assert "zebra: too few photos" in text
    else:
        assert "trained before calibration" in text
    heights = panel.bars.opts["height"]
    assert len(heights) == sum(1 for b in report.reliability().bins if b.count)
    table = page.multilabel_scores.per_label
    column = table.HEADERS.index("ECE")
    assert [table.data(table.index(row, column)) for row in range(3)] == [
        f"{s.ece:.3f}" for s in report.per_label]
    assert all(s.ece > 0 for s in report.per_label)
