"""Evaluate's calibration panel (issue 24): the reliability diagram's bars and the ECE of the
evaluated photos beside the model file's before and after, readable at 1280×800; hidden for
a multi-label report; an older model file says it was trained before calibration."""

from __future__ import annotations

from pathlib import Path

import pytest
from layout_audit import audit
from synthetic import textured_image

from cheetahlion_gui.jobs.evaluate import EvaluateOutcome
from training.records.calibration import FITTED, STOPPED, ModelCalibration, reliability
from training.records.evaluation import ClassScores, EvaluationReport, ImageOutcome

BIG_CATS = ("cheetah", "lion", "snow leopard", "clouded leopard", "jaguar", "tiger",
            "leopard", "black panther")


def _report(tmp_path: Path, stored: ModelCalibration | None,
            classes: tuple[str, ...] = BIG_CATS[:2]) -> EvaluationReport:
    """60 test photos: 40 said 95 % (38 right), 20 said 65 % (13 right)."""
    photo = tmp_path / "photo.jpg"
    textured_image((200, 150, 40), 1, size=96).save(photo)
    said = [0.95] * 40 + [0.65] * 20
    right = [True] * 38 + [False] * 2 + [True] * 13 + [False] * 7
    count = len(classes)
    truths = [i % count for i in range(60)]
    guesses = [t if ok else (t + 1) % count for t, ok in zip(truths, right, strict=True)]
    outcomes = tuple(ImageOutcome(str(photo), classes[t], classes[g], p)
                     for t, g, p in zip(truths, guesses, said, strict=True))
    confusion = tuple(tuple(sum(1 for t2, g2 in zip(truths, guesses, strict=True)
                                if (t2, g2) == (t, g)) for g in range(count))
                      for t in range(count))
    return EvaluationReport(
        part="test", classes=classes, accuracy=51 / 60, loss=0.4, confusion=confusion,
        per_class=tuple(ClassScores(name, 0.85, 0.85, 0.85, 60 // count) for name in classes),
        mistakes=tuple(o for o in outcomes if not o.correct), outcomes=outcomes,
        unreadable=(), images=60, reliability=reliability(said, right), calibration=stored)


def _show(window, qtbot, report: EvaluationReport, size: tuple[int, int] = (1280, 800)):
    window.resize(*size)
    window.sidebar.setCurrentRow(2)
    page = window.evaluate_page
    page._evaluating_title = "run 1"
    page._succeeded(EvaluateOutcome(report, "model.safetensors"))
    page.evaluation_finished.emit()  # as the job controller does last
    qtbot.wait(50)  # layouts settle
    return page


def test_evaluate_shows_the_reliability_diagram_and_ece(window, qtbot, tmp_path: Path) -> None:
    stored = ModelCalibration(2.31, 0.084, 0.012, 61, FITTED)
    report = _report(tmp_path, stored)
    page = _show(window, qtbot, report)
    panel = page.reliability
    assert panel.isVisible()
    assert report.reliability is not None
    expected = report.reliability.ece  # |0.95-0.95|·40/60 + |0.65-0.65|·20/60
    text = panel.summary.text()
    assert f"ECE <b>{expected:.3f}</b> on these 60 test photos" in text
    assert "ECE 0.084 before calibration, 0.012 after (temperature 2.31, fitted)" in text
    heights = sorted(float(h) for h in panel.bars.opts["height"])
    assert heights == pytest.approx([13 / 20, 38 / 40])
    assert audit(window) == []
    window.grab().save(str(tmp_path / "calibration.png"))


def test_a_model_stopped_before_calibration_says_so(window, qtbot, tmp_path: Path) -> None:
    stopped = ModelCalibration(1.0, 0.0, 0.0, 60, STOPPED)
    text = _show(window, qtbot, _report(tmp_path, stopped)).reliability.summary.text()
    assert "Not calibrated when trained (stopped early: left as trained)" in text
    assert "0.000 before" not in text


@pytest.mark.parametrize("size", [(1280, 800), (1600, 1000)])
def test_an_older_model_of_eight_classes_reads_whole(window, qtbot, tmp_path: Path,
                                                     size: tuple[int, int]) -> None:
    """The panel beside eight classes' tables: every column whole. (The confusion matrix's
    names are test_evaluate_page_gui's: its reports carry a reliability too, so the panel
    stands beside them there; the audit's header check misreads names written upwards.)"""
    page = _show(window, qtbot, _report(tmp_path, None, BIG_CATS), size)
    assert page.reliability.isVisible()
    assert "trained before calibration" in page.reliability.summary.text()
    qtbot.wait(300)  # the names laid out
    assert [p for p in audit(window) if not p.startswith("NamesHeader")] == []
