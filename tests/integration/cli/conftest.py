"""The CLI tests' runner: `trackhouse …` in this process, against the test's Redis."""

from __future__ import annotations

from typing import Any

import pytest

from cli import main as cli
from shared.queue.redis_server import RedisServer


@pytest.fixture
def run_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], redis_server: RedisServer
) -> Any:
    """`trackhouse …` in this process, against the test's Redis: (exit code, out, err)."""
    monkeypatch.setenv("TRACKHOUSE_REDIS_URL", redis_server.url)
    # main() replaces the root logger's handlers, which would outlive this test's capture.
    monkeypatch.setattr(cli, "configure_logging", lambda *args, **kwargs: None)

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run
