"""Ctrl+C during `cheetahlion-cli train`, sent as a real SIGINT to the command's process group
(what a terminal does), at several moments of both training modes.

Whatever the moment: no traceback, no abort from C++, one clear line. After an epoch has
ended the best model so far is saved and opens; before that, nothing is saved and the exit
code is 130.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from training.fitting.modelfile import load_model
from training.records.runs import list_runs

REPO = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 600
"""Only a hang runs into this; a busy machine takes a few seconds per moment."""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small: epochs end quickly."""
    from synthetic import make_dataset

    return make_dataset(tmp_path_factory.mktemp("interrupt") / "data", per_class=10, size=64)


@pytest.fixture(scope="module")
def bigger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Large enough that scanning and decoding take seconds: a signal sent when they begin
    surely arrives before they end."""
    from synthetic import make_dataset

    return make_dataset(tmp_path_factory.mktemp("interrupt") / "data", per_class=150, size=96)


class Training:
    """`cheetahlion-cli train` in its own process group, its output read line by line."""

    def __init__(self, data: Path, output: Path, *options: str) -> None:
        # CHEETAHLION_HOME is the test's own (tests/conftest.py), so its runs can be listed.
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "training.cli", "train", str(data), "-o", str(output),
             "--patience", "0", *options],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.lines: list[str] = []

    def wait_for(self, text: str) -> None:
        """Read output until a line holds `text`; fail if the command ends first."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + WAIT_SECONDS
        buffer = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 1.0)
            if not ready:
                continue
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                break
            buffer += chunk
            *complete, buffer = buffer.replace(b"\r", b"\n").split(b"\n")
            self.lines += [line.decode(errors="replace") for line in complete]
            if any(text in line for line in self.lines):
                return
        pytest.fail(f"never saw {text!r}; output:\n" + "\n".join(self.lines))

    def interrupt(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)

    def finish(self) -> tuple[int, str]:
        rest, _ = self.process.communicate(timeout=WAIT_SECONDS)
        output = "\n".join(self.lines) + "\n" + rest.decode(errors="replace")
        return self.process.returncode, output


def _assert_clean(output: str) -> None:
    assert "Traceback" not in output and "terminate called" not in output, output
    assert "stopping after this batch" in output, output


@pytest.mark.parametrize("mode", ["quick", "finetune"])
def test_ctrl_c_after_an_epoch_keeps_the_best_model(data: Path, tmp_path: Path,
                                                    mode: str) -> None:
    output_file = tmp_path / "model.safetensors"
    # Many epochs, so the run is surely still going when the first one is reported.
    training = Training(data, output_file, "--mode", mode, "--image-size", "64",
                        "--epochs", "5000" if mode == "quick" else "50", "--batch-size", "8")
    training.wait_for("epoch 1/")
    training.interrupt()
    code, output = training.finish()
    _assert_clean(output)
    assert code == 0, output
    assert f"model saved to {output_file}" in output
    model = load_model(output_file)
    assert model.metadata["metrics"]["stopped"] == "cancelled"
    assert [record.stopped for record in list_runs(data)] == ["cancelled"]


@pytest.mark.parametrize("mode", ["quick", "finetune"])
def test_ctrl_c_before_the_first_epoch_saves_nothing_and_says_so(bigger: Path, tmp_path: Path,
                                                                 mode: str) -> None:
    output_file = tmp_path / "model.safetensors"
    training = Training(bigger, output_file, "--mode", mode)
    training.wait_for(f"{mode} training of")  # the run has started; decoding comes first
    training.interrupt()
    code, output = training.finish()
    _assert_clean(output)
    assert code == 130, output
    assert "no model was saved" in output and not output_file.exists()


def test_ctrl_c_while_scanning_exits_130_without_a_traceback(bigger: Path,
                                                             tmp_path: Path) -> None:
    output_file = tmp_path / "model.safetensors"
    training = Training(bigger, output_file)
    training.wait_for("scan")
    training.interrupt()
    code, output = training.finish()
    assert "Traceback" not in output and "terminate called" not in output, output
    assert code == 130 and not output_file.exists(), output


def test_a_second_ctrl_c_stops_at_once(data: Path, tmp_path: Path) -> None:
    training = Training(data, tmp_path / "model.safetensors", "--mode", "finetune",
                        "--image-size", "64", "--epochs", "50", "--batch-size", "2")
    training.wait_for("finetune training of")
    training.interrupt()
    training.wait_for("stopping after this batch")
    training.interrupt()
    code, output = training.finish()
    assert code == 130 and "interrupted again" in output, output
    assert "Traceback" not in output and "terminate called" not in output, output
