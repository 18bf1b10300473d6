"""Tools some tests need beyond the Python environment (Chromium, promtool, an optional wheel):
missing, the test is skipped on a developer's machine and fails under `CI=true` (.ci/run sets
it), so CI never passes by skipping what it was meant to run."""

from __future__ import annotations

import importlib
import os
import shutil
from types import ModuleType
from typing import NoReturn

import pytest


def missing(reason: str) -> NoReturn:
    """Skip, or under `CI=true` fail, the running test for want of `reason`."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; under CI=true a missing tool fails instead of skipping", pytrace=False)
    pytest.skip(reason)


def require_tool(name: str, install: str) -> str:
    """The path of executable `name` (a name on PATH or a path); `install` says how to get it."""
    found = shutil.which(name)
    if found is None:
        missing(f"{name} not found ({install})")
    return found


def require_module(name: str, install: str) -> ModuleType:
    """Module `name` (e.g. "pyarrow.parquet"), imported; `install` says how to get it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"{name} not importable: {exc} ({install})")
