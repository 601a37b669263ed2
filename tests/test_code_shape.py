"""The house keeps its shape: small modules, short functions, no import cycles.

The limits and the reasons for any exception are in docs/architecture.md; an exception is
allowed only when that table names it, so the list cannot drift from the code.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("training", "cheetahlion_gui")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _documented_exceptions() -> set[str]:
    """`path` or `path::function` names in the first column of architecture.md's table."""
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Size limits", 1)[1]
    return set(re.findall(r"^\| `([^`]+)` \|", section, re.M))


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py"))


def _over_the_limits() -> set[str]:
    found: set[str] = set()
    for path in _sources():
        name = path.relative_to(REPO).as_posix()
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_MODULE_LINES:
            found.add(name)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and \
                    node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                found.add(f"{name}::{node.name}")
    return found


def test_modules_and_functions_stay_within_the_limits() -> None:
    over = _over_the_limits()
    allowed = _documented_exceptions()
    assert over <= allowed, (f"over {MAX_MODULE_LINES} lines per module or "
                             f"{MAX_FUNCTION_LINES} per function, and not in "
                             f"docs/architecture.md: {sorted(over - allowed)}")
    assert allowed <= over, ("docs/architecture.md lists exceptions that are gone: "
                             f"{sorted(allowed - over)}")


def test_no_module_of_the_engine_or_the_app_imports_itself_back() -> None:
    grimp = pytest.importorskip("grimp")
    sys.path.insert(0, str(REPO))
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    cycles = [m for m in graph.modules if any(
        graph.chain_exists(importer=dep, imported=m)
        for dep in graph.find_modules_directly_imported_by(m))]
    assert cycles == []


HEAVY = ("torch", "torchvision", "timm", "onnx", "onnxruntime", "onnxscript")


def test_only_the_jobs_import_engine_modules_that_load_torch() -> None:
    """The window must paint before torch is imported and stay responsive while it loads:
    only `cheetahlion_gui.jobs` (whose work runs in worker threads) may import an engine
    module from which torch is reachable, or the lazy `training` API that hands those out."""
    grimp = pytest.importorskip("grimp")
    sys.path.insert(0, str(REPO))
    graph = grimp.build_graph(*PACKAGES, include_external_packages=True, cache_dir=None)
    heavy = [name for name in HEAVY if name in graph.modules]
    torch_bearing = {m for m in graph.modules if m.startswith("training.")
                     and any(graph.chain_exists(importer=m, imported=h) for h in heavy)}
    torch_bearing.add("training")
    assert "training.fitting.trainer" in torch_bearing  # the check itself works
    offending = sorted(
        f"{module} imports {imported}"
        for module in graph.modules
        if module.startswith("cheetahlion_gui") and not module.startswith("cheetahlion_gui.jobs")
        for imported in graph.find_modules_directly_imported_by(module)
        if imported in torch_bearing)
    assert offending == []
