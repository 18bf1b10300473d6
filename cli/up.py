"""`trackhouse up`, the embedded topology: one process owns everything: a redis-server child
(unless TRACKHOUSE_REDIS_URL is set), the chDB engine (one per process), worker threads and
the API. It composes `api` and `worker`, so it lives here, above both."""

from __future__ import annotations

import logging

from api.app import create_app
from api.dashboard import mount_dashboard
from api.server import serve
from cli.status import mask_url
from shared.queue.connect import connect, connect_redis, describe_redis, redis_configured
from shared.queue.redis_server import RedisServer
from shared.settings import Settings
from shared.store.client import open_client
from shared.store.migrate import migrate
from worker.recovery import reclaim_at_startup
from worker.runner import WorkerThreads

log = logging.getLogger(__name__)


def run_embedded(settings: Settings, *, dashboard: bool = False) -> None:
    redis_server: RedisServer | None = None
    redis_url = describe_redis(settings)
    if not redis_configured(settings):
        redis_server = RedisServer(settings.data_dir / "redis", appendfsync=settings.redis_appendfsync)
        redis_url = redis_server.start()
    try:
        store = open_client(settings.store_url)
        migrate(store, settings.clickhouse_database, settings.clickhouse_cluster)
        redis = connect(settings) if redis_server is None else connect_redis(redis_url)
        # Before serving: what the last run held when it died is stored within seconds, not
        # after its leases lapse. An own redis-server has had no other worker than this process.
        reclaim_at_startup(redis, settings, sole_worker=redis_server is not None)
        workers = WorkerThreads(redis, settings)
        workers.start()
        try:
            log.info(
                "trackhouse up: API on http://%s:%d, Redis %s, store %s",
                settings.host,
                settings.port,
                mask_url(redis_url),
                mask_url(settings.store_url),
            )
            app = create_app(settings, redis=redis, open_store=lambda: store)
            if dashboard:
                mount_dashboard(app, settings, redis_url)
            serve(app, settings)
        finally:
            workers.stop()
            redis.close()
    finally:
        if redis_server is not None:
            redis_server.stop()
        log.info("trackhouse stopped")
