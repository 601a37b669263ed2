"""Suite-wide set-up: no real user files, no display, no downloads, the real-photo dataset,
and the trained models several test files share.

Every test runs with CHEETAHLION_HOME in a temporary folder, so settings, runs and caches
never touch the real user's; fixtures wider than one test (set up before any test's own
home exists) get a session-wide temporary home for the same reason. Qt runs offscreen; the
Hugging Face hub is offline so a test can never download weights by accident.

OpenMP threads sleep instead of spinning while they wait (OMP_WAIT_POLICY=PASSIVE, set
before anything imports torch, and inherited by every child process a test starts). With
the default spinning, torch's two threads on a 2-core machine that is busy with other work
wait for each other at every operation: fine-tuning tests ran 5-15 times slower at load 3-4
and the suite took 12 minutes instead of 7. Torch still uses both threads, so the tests see
the same parallel code as the app.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from synthetic import make_dataset

if TYPE_CHECKING:
    from training.fitting.trainer import FitResult

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ["HF_HUB_OFFLINE"] = "1"
# A suite started as a background job by a shell without job control (`cmd &` in a script,
# `(nohup … &)`) inherits SIGINT ignored, and so would every command a test starts: the
# Ctrl+C tests then see nothing happen (two failed so in a CI run started that way). They
# test what a terminal gives a foreground command, so the suite takes that back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parents[1]
REAL_PHOTOS = REPO.parent / "shared" / "datasets" / "cheetah-lion"
REAL_PHOTO_FIXTURES = {"real_photos", "real_photos_source"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the real photos `real_photos`, even one whose author forgot,
    so that `-m "not real_photos"` never reaches for the dataset."""
    for item in items:
        if REAL_PHOTO_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real_photos)


@pytest.fixture(scope="session", autouse=True)
def _session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A temporary CHEETAHLION_HOME for module- and session-wide fixtures.

    pytest sets those up before the function-scoped `_isolated_home` of the test that first
    needs them, so a fixture that trains would otherwise record its run in the real user's
    folder (it did: ~/.local/share/cheetahlion/runs filled with the suite's runs).
    """
    home = tmp_path_factory.mktemp("cheetahlion-session-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHEETAHLION_HOME", str(home))
        patch.setenv("CHEETAHLION_PRECISION", "float")  # as `_isolated_home`: see there
        yield home


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
                   _session_home: Path) -> Path:
    """Each test's own CHEETAHLION_HOME. Only the exported ONNX graphs of networks (a pure
    function of the weights, ~10 s to export) are shared with the whole session, through a
    link: everything a test could observe — runs, settings, the feature store — is its own."""
    home = tmp_path_factory.mktemp("cheetahlion-home")
    graphs = _session_home / "cache" / "onnx"
    graphs.mkdir(parents=True, exist_ok=True)
    (home / "cache").mkdir()
    (home / "cache" / "onnx").symlink_to(graphs, target_is_directory=True)
    monkeypatch.setenv("CHEETAHLION_HOME", str(home))
    # Float features unless a test asks otherwise: the shared graph folder may hold an 8-bit
    # graph (the start-up preparation builds one), and parity tests compare to 1e-4.
    monkeypatch.setenv("CHEETAHLION_PRECISION", "float")
    return home


@pytest.fixture(scope="session")
def real_photos_source() -> Path:
    """The read-only real photo dataset; tests using it skip cleanly when it is absent."""
    if not (REAL_PHOTOS / "cheetah").is_dir() or not (REAL_PHOTOS / "lion").is_dir():
        pytest.skip(f"real photo dataset not found at {REAL_PHOTOS}")
    return REAL_PHOTOS


@pytest.fixture(scope="session")
def real_photos(real_photos_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the real photos, so tests may write next to them."""
    copy = tmp_path_factory.mktemp("real") / "cheetah-lion"
    for name in ("cheetah", "lion"):
        shutil.copytree(real_photos_source / name, copy / name)
    return copy


@pytest.fixture(scope="session")
def real_photo_model(real_photos: Path, tmp_path_factory: pytest.TempPathFactory
                     ) -> FitResult:
    """`fit(TrainConfig.quick())` on the real photos, trained once for every test that only
    reads it (the engine's accuracy checks and the export checks): it is the suite's most
    expensive model. Tests must not change it; copy the file before writing next to it."""
    # The engine is imported here, not at the top: torch must load after the environment
    # above is set.
    from training.data.scanning import scan_dataset
    from training.fitting.trainer import fit
    from training.records.config import TrainConfig

    return fit(TrainConfig.quick(), scan_dataset(real_photos),
               output=tmp_path_factory.mktemp("real-model") / "cheetah-lion.safetensors")


@pytest.fixture(scope="session")
def colours_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A quick-mode model that tells red-noise from blue-noise photos (8 each), saved once for
    the engine's and the window's explanation tests, which only read it."""
    from training.data.scanning import scan_dataset
    from training.fitting.trainer import fit
    from training.records.config import TrainConfig

    data = make_dataset(tmp_path_factory.mktemp("colours-model") / "colours", per_class=8)
    # 60 epochs, patience 10 (quick mode's defaults before issue 20): the explanation tests
    # expect the confidence that many epochs give (under 0.1 for the class not predicted)
    result = fit(TrainConfig.quick(epochs=60, early_stopping_patience=10), scan_dataset(data),
                 output=data.parent / "colours.safetensors")
    assert result.best_val_accuracy == 1.0
    return Path(result.model_path)
