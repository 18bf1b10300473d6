"""`trackhouse worker`: worker processes draining the queue into ClickHouse.

One process by default; `--concurrency N` supervises N of them (each a full worker with its
own ClickHouse client and scheduler thread) with `shared.lifetime.Supervisor`: a worker that
dies is restarted (unless it keeps dying: then all stop, status 1), SIGTERM/SIGINT are
forwarded so each finishes its running job, and the workers get SIGTERM if the supervisor
dies. With `--burst` a worker that exits 0 (the queue drained) is done, not restarted. chDB
allows one process per data directory, so N > 1 needs a ClickHouse server.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

from shared.lifetime import Child, Supervisor
from shared.queue.connect import connect, redis_configured
from shared.settings import Settings
from shared.store.client import open_client
from shared.store.migrate import migrate_configured
from worker.runner import run_worker_process

log = logging.getLogger(__name__)


def run_worker(settings: Settings, *, burst: bool = False, concurrency: int = 1) -> None:
    if not redis_configured(settings):
        raise SystemExit("trackhouse worker needs TRACKHOUSE_REDIS_URL or TRACKHOUSE_REDIS_SENTINELS")
    if concurrency > 1:
        if settings.uses_chdb:
            raise SystemExit(
                "--concurrency > 1 needs a ClickHouse server: chDB allows one process per data directory"
            )
        raise SystemExit(_supervise(settings, concurrency, burst=burst))
    migrate_configured(open_client(settings.store_url), settings)
    run_worker_process(connect(settings, patient=True), settings, burst=burst)


def child_command(burst: bool) -> list[str]:
    return [sys.executable, "-m", "cli", "worker", *(["--burst"] if burst else [])]


def _supervise(settings: Settings, concurrency: int, *, burst: bool) -> int:
    migrate_configured(open_client(settings.store_url), settings)  # the children find it done
    children = []
    for index in range(concurrency):
        env = dict(os.environ)
        if settings.worker_metrics_port:
            env["TRACKHOUSE_WORKER_METRICS_PORT"] = str(settings.worker_metrics_port + index)
        # SIGTERM if the supervisor dies: a warm shutdown, the running job finished.
        worker = Child(f"worker {index}", child_command(burst), env, parent_death_signal=signal.SIGTERM)
        children.append(worker)
    supervisor = Supervisor(
        children,
        stop_timeout_seconds=settings.job_timeout_seconds + 15,  # the running job, then out
        finished=(lambda status: status == 0) if burst else (lambda status: False),
    )
    return supervisor.run()
