"""Serving the app with uvicorn, in both topologies.

`run_api` (`trackhouse api`): the API alone, for a ClickHouse server and worker processes
scaled on their own. `serve` is also how `trackhouse up` (`cli.up`) serves its app.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import tempfile
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.rq_dashboard import mount_dashboard
from shared.lifetime import die_with_parent
from shared.logs import configure_logging
from shared.queue.connect import connect, describe_redis, redis_configured
from shared.settings import Settings
from shared.store.client import open_client
from shared.store.migrate import migrate_configured
from shared.store_process.remote import RemoteEngine

log = logging.getLogger(__name__)


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    # uvicorn re-raises the signal that stopped it once it has drained; without this,
    # SIGTERM's default action would kill us before workers and Redis are shut down.
    raise KeyboardInterrupt


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "timeout_graceful_shutdown": 30,
        "proxy_headers": False,  # client addresses: api.client honours TRUSTED_PROXIES only
        "access_log": settings.access_log,
    }


GC_YOUNG_THRESHOLD = 50_000
"""Net new container objects between two young collections (CPython's default: 700). A
request's objects die by reference counting when it ends, but at 700 the rows waiting for
their group commit set the collector off ~10 times per `/batch` request, to find almost
nothing: py-spy put 8.6 % of the API's GIL samples under `/batch` load in the collector; in
150,000 `/batch` events through the app in-process, 1,523 collections cost 3.6 µs per event
with pauses up to 14 ms, and at 50,000 none ran. Real cycles are still collected, later."""


def _freeze_heap() -> None:
    # Everything built so far lives as long as the process: keep it out of the cyclic GC's
    # full collections, whose pauses otherwise show up in the request latency tail.
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def serve(app: FastAPI, settings: Settings) -> None:
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    config = uvicorn.Config(app, **_uvicorn_options(settings))
    _freeze_heap()
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run()


def run_api(settings: Settings, *, processes: int | None = None) -> None:
    if not redis_configured(settings):
        raise SystemExit(
            "trackhouse api needs TRACKHOUSE_REDIS_URL or TRACKHOUSE_REDIS_SENTINELS"
            " (or run `trackhouse up` for the embedded mode)"
        )
    # With STORE_SOCKET a store process (`trackhouse up`'s) owns the store and migrates it.
    if settings.store_socket is None:
        if settings.uses_chdb:
            # The worker process owns the chDB engine; the API opens it only if asked to read.
            log.warning(
                "store is chDB: run exactly one `trackhouse worker`; reads from the API will fail while it runs"
            )
        else:
            migrate_configured(open_client(settings.store_url), settings)
    processes = processes or settings.api_processes
    if processes > 1:
        serve_processes(settings, processes)
        return
    serve(api_app(settings), settings)


def api_app(settings: Settings) -> FastAPI:
    redis = connect(settings)
    engine = None
    if settings.store_socket is not None:  # reads go to the process that owns the store
        engine = RemoteEngine(settings.store_socket, settings.query_timeout_seconds + 30)
    app = create_app(
        settings, redis=redis, open_store=lambda: open_client(settings.store_url), read_engine=engine
    )
    if settings.rq_dashboard:
        mount_dashboard(app, settings, describe_redis(settings))
    return app


def app_from_environment() -> FastAPI:
    """The app of one of `serve_processes`' children: each builds its own from the environment
    (its own Redis pool, group committer and backpressure monitor)."""
    die_with_parent()  # a SIGKILLed uvicorn supervisor must not leave us holding the port
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    app = api_app(settings)
    _freeze_heap()
    return app


def serve_processes(settings: Settings, processes: int) -> None:
    """`trackhouse api --processes N`: uvicorn's supervisor binds the port once and starts N
    children that accept on it; it restarts a child that dies, and SIGTERM stops them all
    gracefully (each flushes its pending group commit). A single process is CPU-bound, so this
    is how the API uses more cores. Metrics: the children write to one PROMETHEUS_MULTIPROC_DIR
    (a fresh temporary one unless set) so `/metrics` from any of them adds all of them up."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="trackhouse-metrics-")
    if settings.rq_dashboard:  # the children build their settings from the environment
        os.environ["TRACKHOUSE_RQ_DASHBOARD"] = "true"
    log.info("serving the API with %d processes", processes)
    uvicorn.run(
        "api.server:app_from_environment", factory=True, workers=processes, **_uvicorn_options(settings)
    )
