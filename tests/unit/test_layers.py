"""The folders show the data path, and imports only point down it: `shared` (event, queue,
store) knows nothing of the processes above it; `api` and `worker` never import each other;
`cli`, the entry point, sits on top and nothing imports it.

One module is an entry point that lives below `cli`: shared/store_process/process.py, the
store process's main (`trackhouse store`). It runs the worker threads, so it imports `worker`;
it sits in `shared` beside the read channel it serves (shared/store_process/, whose client half
the API imports and so cannot be in `cli`). Like `cli`, nothing but `cli` imports it, so the
worker never reaches `api` or the rest of `shared` through it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "shared": {"api", "worker", "cli"},
    "api": {"worker", "cli"},
    "worker": {"api", "cli"},
}
ENTRY_POINTS = {"shared/store_process/process.py": {"worker"}}
"""Modules below `cli` that start a process, and the packages each may import beyond its
folder's rule."""
ENTRY_POINT_MODULES = {"shared.store_process.process"}


def _imports(path: Path) -> set[str]:
    """The absolute modules `path` imports (`from a.b import c`: `a.b` and `a.b.c`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _imported_packages(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _imports(path)}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_down_the_data_path(package: str) -> None:
    offenders = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        name = str(path.relative_to(ROOT))
        offenders[name] = sorted(_imported_packages(path) & (FORBIDDEN[package] - ENTRY_POINTS.get(name, set())))
    assert {path: names for path, names in offenders.items() if names} == {}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_only_cli_starts_the_entry_points_below_it(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & ENTRY_POINT_MODULES)
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_entry_points_exist() -> None:
    for name in ENTRY_POINTS:
        assert (ROOT / name).is_file(), name
    assert {name.removesuffix(".py").replace("/", ".") for name in ENTRY_POINTS} == ENTRY_POINT_MODULES
