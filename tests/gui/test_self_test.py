"""`cheetahlion --self-test` from source: it walks the window through a session and says so.

The same command checks the frozen bundle (tests/test_bundle.py); here it runs from the
source tree, offscreen, in a fresh process, as a user would start it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PASSED = re.compile(
    r"self-test passed: found the planted image first of 37 and moved it to its class, "
    r"trained 3 classes in [\d.]+ s \(val accuracy [01]\.\d\d\), "
    r"evaluated \d+ images \(accuracy [01]\.\d\d\), "
    r"classified 7 new images \(one HEIC; [567] correct\) "
    r"and noise \(none of these\) in [\d.]+ s on onnxruntime, "
    r"explained a prediction of '(red|green|blue)', "
    r"trained on 8-bit features in [\d.]+ s, evaluated and classified 7 new images "
    r"\([567] correct\) with it \(Frozen network: onnxruntime · 8-bit\), "
    r"fine-tuned the top 1 epoch in [\d.]+ s "
    r"\((fine-tuning the top|kept quick mode's model)\), "
    r"fine-tuned 1 epoch in a child process in [\d.]+ s; "
    r"multi-label: trained 2 labels in [\d.]+ s, evaluated \d+ photos "
    r"\(mAP (0\.9\d|1\.00), exact match [01]\.\d\d\), "
    r"classified 4 new photos \([34] exactly right\), "
    r"exported ONNX \(within \de-\d\d on \d+ images\); "
    r"prepared onnxruntime float at start-up \(precision float\); [\d.]+ s in all")


def self_test(*arguments: str, home: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    if home is not None:
        env["CHEETAHLION_HOME"] = home
    return subprocess.run([sys.executable, "-m", "cheetahlion_gui.app", "--self-test",
                           *arguments], capture_output=True, text=True, timeout=900,
                          cwd=REPO, env=env)


def result_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("self-test ")]


@pytest.mark.slow
def test_self_test_trains_evaluates_classifies_and_passes() -> None:
    home = Path(os.environ["CHEETAHLION_HOME"])
    result = self_test()
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    lines = result_lines(result)
    assert len(lines) == 1 and PASSED.fullmatch(lines[0]), result.stdout
    # It kept its runs in the home it was given: the quick run, the quick run on 8-bit
    # features, the fine-tuned top, the fine-tune and the multi-label run.
    assert len(list((home / "data" / "runs").rglob("run.json"))) == 5


@pytest.mark.slow
def test_a_failing_step_exits_1_with_the_error_the_window_showed(tmp_path: Path) -> None:
    """CheetahLion's home is a file: saving the opened dataset in the settings fails, the
    app shows its error dialog, and the self-test fails with that text."""
    not_a_folder = tmp_path / "home"
    not_a_folder.write_text("")
    result = self_test(home=str(not_a_folder))
    assert result.returncode == 1
    lines = result_lines(result)
    assert len(lines) == 1, result.stdout + result.stderr[-3000:]
    assert lines[0].startswith("self-test failed: scanning the dataset: Unexpected error: ")
    assert str(not_a_folder) in lines[0]


def test_a_step_that_hangs_is_ended_by_the_watchdog() -> None:
    result = self_test("--self-test-timeout", "0.5")
    assert result.returncode == 1
    assert re.fullmatch(r"self-test failed: timed out after 0\.5 s while [a-z ]+",
                        result_lines(result)[-1]), result.stdout
