"""Where CheetahLion keeps its own files (never inside the user's dataset).

Everything lives under the platformdirs locations for "cheetahlion". `CHEETAHLION_HOME`
moves all of them under one folder: tests point it at a temporary directory so they never
touch a real user's files, and a portable install can keep everything beside the program.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import platformdirs

APP_NAME = "cheetahlion"
HOME_ENV = "CHEETAHLION_HOME"
NAME_MAX_BYTES = 255
"""The longest file or folder name most file systems take (ext4, APFS, NTFS in UTF-16 units
allow more of some scripts): counted in UTF-8 bytes, not characters, since an emoji is 4."""


def name_bytes(name: str) -> int:
    """How long `name` is where the limit is counted: in UTF-8 bytes (surrogates escaped, as
    the OS encodes a name it could not decode)."""
    return len(name.encode("utf-8", "surrogateescape"))


def shortened(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, at a character boundary."""
    while name_bytes(text) > limit:
        text = text[:-1]
    return text


def _override() -> Path | None:
    value = os.environ.get(HOME_ENV)
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    """Run records and models trained by the app."""
    root = _override()
    return root / "data" if root else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    """Downloaded backbone weights and other files that can be fetched again."""
    root = _override()
    return root / "cache" if root else Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    """User settings."""
    root = _override()
    return (
        root / "config" if root else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
    )


def log_dir() -> Path:
    """Log files."""
    root = _override()
    return root / "logs" if root else Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def weights_dir() -> Path:
    """Pretrained weights a user downloaded or placed by hand, one file per backbone."""
    return cache_dir() / "weights"


def runs_dir() -> Path:
    """The history of training runs, one folder per dataset."""
    return data_dir() / "runs"


def dataset_key(root: Path) -> str:
    """A dataset's name among CheetahLion's files (its runs, its clean-up journal): a readable
    prefix plus a hash of its absolute path."""
    resolved = Path(root).resolve()
    digest = hashlib.blake2b(str(resolved).encode(), digest_size=6).hexdigest()
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in resolved.name)[:40]
    return f"{safe}-{digest}"
