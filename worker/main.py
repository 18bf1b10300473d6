"""`trackhouse worker`: one worker process draining the queue into ClickHouse.

Scale by running more of them (with a ClickHouse server; chDB allows one process).
"""

from __future__ import annotations

from shared.clickhouse import open_client
from shared.migrate import migrate
from shared.queue import connect_redis
from shared.settings import Settings
from worker.runner import run_worker_process


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    if not settings.redis_url:
        raise SystemExit("trackhouse worker needs TRACKHOUSE_REDIS_URL")
    migrate(open_client(settings.store_url), settings.clickhouse_database)
    run_worker_process(connect_redis(settings.redis_url), settings, burst=burst)
