"""Find bundled resources (icons, style sheet) from a source checkout or a frozen app."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon


def resources_dir() -> Path:
    """`resources/` beside the packages, or inside PyInstaller's unpack folder when frozen."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parents[1] / "resources"


def resource_path(name: str) -> Path:
    return resources_dir() / name


@cache
def icon(name: str) -> QIcon:
    return QIcon(str(resource_path(f"icons/{name}")))


def style_sheet() -> str:
    try:
        return resource_path("style.qss").read_text(encoding="utf-8")
    except OSError:
        return ""
