"""What an export wrote and how closely it matched the app's own predictions: `ExportResult`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ExportResult:
    path: Path
    sidecar: Path
    format: str
    max_abs_difference: float
    inputs_checked: int
    seconds: float
