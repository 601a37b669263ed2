"""`training.records` is what the GUI thread imports: it must load, and work, with torch and
its kin unavailable (import-linter checks the imports; this checks what actually runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RECORD_MODULES = sorted(
    f"training.records.{path.stem}" for path in (REPO / "training" / "records").glob("*.py")
    if path.stem != "__init__"
)
BLOCKED = ("torch", "torchvision", "timm", "onnx", "onnxruntime", "safetensors")

_PROBE = """
import importlib, importlib.abc, json, sys

class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked in this test")
        return None

sys.meta_path.insert(0, Blocked())
for name in MODULES:
    importlib.import_module(name)
from training.records.config import TrainConfig
from training.records.runs import list_runs
print(json.dumps({"modules": sorted(sys.modules), "runs": len(list_runs(sys.argv[1])),
                  "config": TrainConfig.quick().validated().mode}))
"""


def test_every_record_module_imports_and_works_with_torch_blocked(tmp_path: Path) -> None:
    assert len(RECORD_MODULES) >= 15, RECORD_MODULES
    probe = _PROBE.replace("BLOCKED", repr(BLOCKED)).replace("MODULES", repr(RECORD_MODULES))
    completed = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, cwd=REPO,
        env={"CHEETAHLION_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"})
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.splitlines()[-1])
    assert result["runs"] == 0 and result["config"] == "quick"
    assert not {m for m in result["modules"] if m.split(".")[0] in BLOCKED}
