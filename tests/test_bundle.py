"""The frozen bundle (`make package` → dist/cheetahlion/) works as shipped, offline.

Skipped when there is no bundle. The app's self-test runs once, on a real X server (Xvfb)
where one can be started, else offscreen (`make smoke` runs it offscreen too: running it twice
here proved nothing more and cost a minute of the suite). It trains, evaluates, classifies
(a HEIC among the photos), finds the planted image, explains and exports to ONNX with the
frozen engine, so the console twin `cheetahlion-cli` is checked only for what the self-test
does not run: its own start and one-line errors, the larger networks' bundled weights and
ImageNet's class names (train/evaluate/predict, export and suspects/explain through the
frozen CLI repeated the self-test's legs and cost about a minute). Every run is cut off
from the network (a fresh
network namespace, `unshare -rn`) where the kernel allows it, to prove the bundle needs no
download.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from synthetic import make_dataset, textured_image

BUNDLE = Path(__file__).resolve().parents[1] / "dist" / "cheetahlion"
APP = BUNDLE / "cheetahlion"
CLI = BUNDLE / "cheetahlion-cli"
TIMEOUT_S = 900

pytestmark = pytest.mark.skipif(not (APP.exists() and CLI.exists()),
                                reason=f"no bundle at {BUNDLE}: run `make package` first")


@functools.cache
def network_off() -> list[str]:
    """The prefix that runs a command with no network, or [] where that is not allowed."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    probe = subprocess.run([unshare, "-rn", "true"], capture_output=True)
    return [unshare, "-rn"] if probe.returncode == 0 else []


def run_offline(*command: str | Path, display: str = "offscreen"
                ) -> subprocess.CompletedProcess[str]:
    """Run a bundle executable without network; Qt on `display` ("offscreen" or "xcb")."""
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env["QT_QPA_PLATFORM"] = display
    prefix = network_off()
    if display == "xcb":
        prefix = [*prefix, "xvfb-run", "-a", "-s", "-screen 0 1280x800x24"]
    return subprocess.run([*prefix, *map(str, command)], capture_output=True, text=True,
                          timeout=TIMEOUT_S, env=env)


def assert_self_test_passed(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("self-test ")]
    assert len(lines) == 1, result.stdout
    assert lines[0].startswith("self-test passed: found the planted image first"), lines[0]
    assert "noise (none of these)" in lines[0] and "explained a prediction" in lines[0]
    assert " on onnxruntime, " in lines[0]  # the frozen network ran on the fast runtime
    assert "(one HEIC; " in lines[0]  # pi-heif's native libraries came along
    # It trained, evaluated and classified with the frozen engine (what the frozen CLI's
    # train, evaluate and predict commands run), found the planted image with the finder's
    # ImageNet network and explained with Grad-CAM's autograd.
    assert "trained 3 classes in " in lines[0] and "evaluated " in lines[0]
    assert "classified 7 new images" in lines[0]
    # A labels.csv folder trained, evaluated, classified and exported (multi-label paths);
    # the ONNX export proves the bundle carries onnxscript's .py files (it compiles from
    # Python source), which the frozen CLI's `export --format onnx` needed as well.
    assert "; multi-label: trained 2 labels in " in lines[0] and "exported ONNX" in lines[0]


def test_the_network_is_really_off_in_the_namespace() -> None:
    if not network_off():
        pytest.skip("unshare -rn is not allowed here: the bundle tests run with the network")
    # Only the loopback device exists, and it is down: nothing can be reached.
    result = subprocess.run([*network_off(), "cat", "/proc/net/dev"], capture_output=True,
                            text=True, check=True)
    devices = [line.split(":")[0].strip() for line in result.stdout.splitlines()[2:]]
    assert devices == ["lo"]


@pytest.mark.slow
def test_frozen_self_test_passes_on_an_x_server_else_offscreen() -> None:
    """The whole session in the frozen window: on Xvfb the xcb plugin and its libraries
    must come along too, which offscreen does not prove."""
    display = "xcb" if shutil.which("xvfb-run") else "offscreen"
    assert_self_test_passed(run_offline(APP, "--self-test", display=display))


def test_frozen_cli_lists_the_backbones() -> None:
    result = run_offline(CLI, "backbones")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "efficientnet_lite0" in result.stdout and "resnet18" in result.stdout
    for name in ("efficientnet_lite1", "efficientnet_lite2"):  # their weights are bundled
        line = next(line for line in result.stdout.splitlines() if line.startswith(name))
        assert line.endswith("available offline"), line


def test_frozen_cli_compares_the_larger_offline_networks(tmp_path: Path) -> None:
    """Lite1 and Lite2 load their bundled weights (packages found by name) and train."""
    data = make_dataset(tmp_path / "colours", per_class=6)
    result = run_offline(CLI, "compare", data, "--networks",
                         "efficientnet_lite1,efficientnet_lite2", "--epochs", "2",
                         "--image-size", "64", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(result.stdout)["networks"]
    assert [row["network"] for row in rows] == ["efficientnet_lite1", "efficientnet_lite2"]
    assert all(row["error"] is None and row["model_mb"] > 1 for row in rows), rows


def test_frozen_cli_classifies_with_the_built_in_imagenet_model(tmp_path: Path) -> None:
    """ImageNet's class names come from timm's data files, which the bundle must carry."""
    textured_image((200, 40, 40), seed=1).save(tmp_path / "red.png")
    result = run_offline(CLI, "predict", "imagenet", tmp_path, "--json", "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    [prediction] = json.loads(result.stdout)
    assert prediction["error"] is None and prediction["label"]


def test_frozen_cli_errors_are_one_line() -> None:
    result = run_offline(CLI, "scan", "/nowhere/at/all", "--quiet")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "does not exist" in result.stderr
