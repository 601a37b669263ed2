"""Suite-wide set-up: no real user files, no display, no downloads, and the real-photo dataset.

Every test runs with CHEETAHLION_HOME in a temporary folder, so settings, runs and caches
never touch the real user's; Qt runs offscreen; the Hugging Face hub is offline so a test can
never download weights by accident.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parents[1]
REAL_PHOTOS = REPO.parent / "shared" / "datasets" / "cheetah-lion"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                   ) -> Path:
    home = tmp_path_factory.mktemp("cheetahlion-home")
    monkeypatch.setenv("CHEETAHLION_HOME", str(home))
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
