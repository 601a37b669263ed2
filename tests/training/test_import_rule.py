"""The engine is Qt-free, importable on its own, and `import training` is instant."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENGINE_MODULES = sorted(
    ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
    for path in (REPO / "training").rglob("*.py") if path.stem != "__main__"
)


def _loaded_after(code: str) -> dict[str, object]:
    probe = (
        f"{code}\nimport sys, json, training\n"
        "print(json.dumps({'modules': sorted(sys.modules), 'file': training.__file__}))"
    )
    output = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                            text=True, cwd=REPO).stdout
    return json.loads(output.splitlines()[-1])


@pytest.mark.slow  # loads torch and every engine module in a new process
def test_every_engine_module_imports_without_qt() -> None:
    assert "training.cli" in ENGINE_MODULES and len(ENGINE_MODULES) > 50
    result = _loaded_after("\n".join(f"import {name}" for name in ENGINE_MODULES))
    modules = set(result["modules"])  # type: ignore[arg-type]
    assert set(ENGINE_MODULES) <= modules
    forbidden = {m for m in modules
                 if m.split(".")[0] in {"PySide6", "shiboken6", "pyqtgraph", "cheetahlion_gui"}}
    assert not forbidden


def test_training_resolves_inside_this_tree() -> None:
    result = _loaded_after("")
    assert Path(str(result["file"])).resolve() == REPO / "training" / "__init__.py"


def test_import_training_does_not_load_torch() -> None:
    """A front end imports `training` at start-up; torch must wait until it is needed."""
    modules = set(_loaded_after("")["modules"])  # type: ignore[arg-type]
    assert "torch" not in modules


def test_public_api_resolves_lazily() -> None:
    import training

    for name in training.__all__:
        assert getattr(training, name) is not None
