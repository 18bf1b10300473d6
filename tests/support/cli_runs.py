"""Running `trackhouse …` in the test process and checking what it prints (the CLI tests)."""

from __future__ import annotations

import json
from typing import Any


def ok(run_cli: Any, *argv: str) -> str:
    code, out, err = run_cli(*argv)
    assert (code, err) == (0, ""), err
    return str(out)


def ok_json(run_cli: Any, *argv: str) -> Any:
    return json.loads(ok(run_cli, *argv, "--json"))


def refused(run_cli: Any, code: int, *argv: str) -> str:
    """The command fails with `code` and one line on stderr naming it; returns that line."""
    got, out, err = run_cli(*argv)
    assert got == code, (got, out, err)
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    assert err.startswith(f"trackhouse {argv[0]}")
    return str(err)
