"""The versions of the libraries a result was made with, for reproducing it.

Read from the installed packages' metadata, without importing them: the run history records
them and must stay torch-free.
"""

from __future__ import annotations

import platform
from importlib import metadata


def library_versions() -> dict[str, str]:
    """Versions recorded in model files and run records, for reproducing a result."""
    versions = {"python": platform.python_version()}
    for package in ("cheetahlion", "torch", "torchvision", "timm", "numpy", "pillow",
                    "safetensors"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions
