"""`trackhouse worker --concurrency N`: refuses chDB, and supervises N processes through SIGTERM.

Real processes, but neither Redis nor a store is reached (the supervisor's children are
stand-ins), so these are not integration tests."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.support.processes import ROOT, trackhouse, wait_for

# A stand-in child: a real process that, like a worker, exits 0 on SIGTERM (warm shutdown); it
# says it is ready (its handler installed) with a file named by its pid.
_CHILD = (
    "import os, signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); "
    "open(os.path.join(sys.argv[1], str(os.getpid())), 'w').close(); time.sleep(60)"
)
_SUPERVISOR = """
import sys
from shared.settings import Settings
import worker.main as main
main.child_command = lambda burst: [sys.executable, "-c", {child!r}, {ready!r}]
main.migrate = lambda *args: []  # no store in this test
main.open_client = lambda url: None
sys.exit(main._supervise(Settings(redis_url="redis://127.0.0.1:1/0", clickhouse_url="http://127.0.0.1:1"), 3, burst=False))
"""


def test_concurrency_needs_a_clickhouse_server(short_dir: Path) -> None:
    env = {"TRACKHOUSE_REDIS_URL": "redis://127.0.0.1:1/0", "TRACKHOUSE_DATA_DIR": str(short_dir)}
    process = trackhouse(["worker", "--concurrency", "2"], env, short_dir / "w.log")
    assert process.wait(timeout=60) != 0
    assert "needs a ClickHouse server" in (short_dir / "w.log").read_text()


def test_supervisor_forwards_sigterm_to_every_worker(short_dir: Path) -> None:
    script = _SUPERVISOR.format(child=_CHILD, ready=str(short_dir))
    supervisor = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    ready = wait_for(
        lambda: (pids := [p.name for p in short_dir.iterdir()]) and len(pids) == 3 and pids,
        timeout_seconds=30,
        what="three workers with their SIGTERM handler installed",
    )
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=30) == 0  # every child finished cleanly
    for pid in ready:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
