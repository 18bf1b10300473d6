"""`trackhouse worker --concurrency N`: refuses chDB, and supervises N processes
(shared.lifetime.Supervisor): SIGTERM forwarded, a dead worker restarted, a crash loop stopped,
`--burst` workers that finish not restarted, and the workers gone when the supervisor is killed.

Real processes, but neither Redis nor a store is reached (the supervisor's children are
stand-ins), so these are not integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.processes import ROOT, trackhouse, wait_for

# A stand-in child: a real process that, like a worker, exits 0 on SIGTERM (warm shutdown); it
# says it is ready (its handler installed) with a file named by its pid.
_CHILD = (
    "import os, signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); "
    "open(os.path.join(sys.argv[1], str(os.getpid())), 'w').close(); time.sleep(60)"
)
# A `--burst` worker that drained the queue, and one that crashes at once.
_FINISHES = "import os, sys; open(os.path.join(sys.argv[1], str(os.getpid())), 'w').close()"
_CRASHES = _FINISHES + "; sys.exit(3)"
_SUPERVISOR = """
import sys
from shared.settings import Settings
import worker.main as main
main.child_command = lambda burst: [sys.executable, "-c", {child!r}, {ready!r}]
main.migrate_configured = lambda *args: []  # no store in this test
main.open_client = lambda url: None
settings = Settings(redis_url="redis://127.0.0.1:1/0", clickhouse_url="http://127.0.0.1:1")
sys.exit(main._supervise(settings, 3, burst={burst!r}))
"""


def supervise(ready_dir: Path, child: str = _CHILD, *, burst: bool = False) -> subprocess.Popen[bytes]:
    script = _SUPERVISOR.format(child=child, ready=str(ready_dir), burst=burst)
    return subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)


def started(ready_dir: Path, count: int) -> list[int]:
    """The pids of the first `count` children started, once they are (each leaves a file)."""

    def pids() -> list[int] | None:
        found = sorted(int(p.name) for p in ready_dir.iterdir())
        return found if len(found) >= count else None

    return wait_for(pids, timeout_seconds=30, what=f"{count} workers with their SIGTERM handler installed")


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie (the container's init may not reap orphans)."""
    try:
        return "zombie" in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_concurrency_needs_a_clickhouse_server(short_dir: Path) -> None:
    env = {"TRACKHOUSE_REDIS_URL": "redis://127.0.0.1:1/0", "TRACKHOUSE_DATA_DIR": str(short_dir)}
    process = trackhouse(["worker", "--concurrency", "2"], env, short_dir / "w.log")
    assert process.wait(timeout=60) != 0
    assert "needs a ClickHouse server" in (short_dir / "w.log").read_text()


def test_supervisor_forwards_sigterm_to_every_worker(short_dir: Path) -> None:
    supervisor = supervise(short_dir)
    ready = started(short_dir, 3)
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=30) == 0  # every child finished cleanly
    for pid in ready:
        assert gone(pid)


def test_a_worker_that_dies_is_restarted(short_dir: Path) -> None:
    supervisor = supervise(short_dir)
    try:
        first = started(short_dir, 3)
        assert all(parent_of(pid) == supervisor.pid for pid in first)
        os.kill(first[0], signal.SIGKILL)
        [replacement] = set(started(short_dir, 4)) - set(first)  # started in place of the killed one
        assert parent_of(replacement) == supervisor.pid and gone(first[0])
        assert supervisor.poll() is None and not any(gone(pid) for pid in first[1:])
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0  # the replacement stopped cleanly as well
        assert all(gone(pid) for pid in [*first, replacement])
    finally:
        supervisor.kill()


def test_workers_exit_when_their_supervisor_is_killed(short_dir: Path) -> None:
    supervisor = supervise(short_dir)
    try:
        children = started(short_dir, 3)
    finally:
        supervisor.kill()  # SIGKILL: no handler of its own runs
    supervisor.wait(timeout=30)
    wait_for(
        lambda: all(gone(pid) for pid in children),
        timeout_seconds=30,
        what="the workers to exit after their supervisor died (SIGTERM from PR_SET_PDEATHSIG)",
    )


def test_burst_workers_that_finish_are_not_restarted(short_dir: Path) -> None:
    supervisor = supervise(short_dir, _FINISHES, burst=True)
    assert supervisor.wait(timeout=30) == 0
    time.sleep(0.2)
    assert len(list(short_dir.iterdir())) == 3  # one run each


def test_a_worker_that_keeps_crashing_stops_the_supervisor(short_dir: Path) -> None:
    supervisor = supervise(short_dir, _CRASHES)
    assert supervisor.wait(timeout=60) == 1
    # Each of the three started once, plus RESTARTS_PER_MINUTE restarts of the first to loop.
    assert len(list(short_dir.iterdir())) >= 3 + 5
