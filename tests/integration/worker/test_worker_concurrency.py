"""`trackhouse worker --concurrency N`: refuses chDB, and supervises N processes through SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.processes import ROOT, trackhouse

pytestmark = pytest.mark.integration

# A stand-in child: a real process that, like a worker, exits 0 on SIGTERM (warm shutdown).
_CHILD = "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); time.sleep(60)"
_SUPERVISOR = f"""
import sys
from shared.settings import Settings
import worker.main as main
main.child_command = lambda burst: [sys.executable, "-c", {_CHILD!r}]
main.migrate = lambda *args: []  # no store in this test
main.open_client = lambda url: None
sys.exit(main._supervise(Settings(redis_url="redis://127.0.0.1:1/0", clickhouse_url="http://127.0.0.1:1"), 3, burst=False))
"""


def test_concurrency_needs_a_clickhouse_server(short_dir: Path) -> None:
    env = {"TRACKHOUSE_REDIS_URL": "redis://127.0.0.1:1/0", "TRACKHOUSE_DATA_DIR": str(short_dir)}
    process = trackhouse(["worker", "--concurrency", "2"], env, short_dir / "w.log")
    assert process.wait(timeout=60) != 0
    assert "needs a ClickHouse server" in (short_dir / "w.log").read_text()


def test_supervisor_forwards_sigterm_to_every_worker() -> None:
    supervisor = subprocess.Popen([sys.executable, "-c", _SUPERVISOR], cwd=ROOT)
    deadline = time.monotonic() + 30
    children: list[str] = []
    while time.monotonic() < deadline and len(children) < 3:
        out = subprocess.run(["pgrep", "-P", str(supervisor.pid)], capture_output=True, text=True)
        children = out.stdout.split()
        time.sleep(0.1)
    assert len(children) == 3
    time.sleep(0.5)  # let the children install their handlers
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=30) == 0  # every child finished cleanly
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
