"""`trackhouse worker`: worker processes draining the queue into ClickHouse.

One process by default; `--concurrency N` supervises N of them (each a full worker with its
own ClickHouse client and scheduler thread), forwarding SIGTERM/SIGINT so each finishes its
running job. chDB allows one process per data directory, so N > 1 needs a ClickHouse server.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from types import FrameType

from shared.queue.connect import connect, redis_configured
from shared.settings import Settings
from shared.store.client import open_client
from shared.store.migrate import migrate
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
    migrate(open_client(settings.store_url), settings.clickhouse_database, settings.clickhouse_cluster)
    run_worker_process(connect(settings, patient=True), settings, burst=burst)


def child_command(burst: bool) -> list[str]:
    return [sys.executable, "-m", "cli", "worker", *(["--burst"] if burst else [])]


def _supervise(settings: Settings, concurrency: int, *, burst: bool) -> int:
    migrate(open_client(settings.store_url), settings.clickhouse_database, settings.clickhouse_cluster)  # the children find it done
    children = []
    for index in range(concurrency):
        env = dict(os.environ)
        if settings.worker_metrics_port:
            env["TRACKHOUSE_WORKER_METRICS_PORT"] = str(settings.worker_metrics_port + index)
        children.append(subprocess.Popen(child_command(burst), env=env))
    log.info("supervising %d worker processes: %s", concurrency, [child.pid for child in children])

    def forward(signum: int, frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return max(child.wait() for child in children)
