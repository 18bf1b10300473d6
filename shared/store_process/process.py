"""`trackhouse store`: the store process of the embedded topology. It alone opens the chDB
engine (one per process, one process per data directory): it migrates, takes back what a dead
predecessor held, runs the worker threads, and answers the API processes' reads on a unix
socket (socket_server.py). `trackhouse up` starts and supervises it; ingestion and
analytics then never share an interpreter (or a GIL) with request handling."""

from __future__ import annotations

import contextlib
import logging
import signal

import uvicorn

from shared.query.engine import ClientEngine
from shared.query.slots import read_slots
from shared.queue.connect import connect, redis_configured
from shared.settings import Settings
from shared.store.client import open_client
from shared.store.migrate import migrate_configured
from shared.store_process.socket_server import prepare_socket, read_app
from worker.recovery import reclaim_at_startup
from worker.runner import WorkerThreads

log = logging.getLogger(__name__)


def run_store(settings: Settings, *, sole_worker: bool) -> None:
    """`sole_worker`: this process is its Redis's only worker (the embedded redis-server), so
    every job found held at start-up was held by a dead process: taken back at once."""
    if not redis_configured(settings) or settings.store_socket is None:
        raise SystemExit("trackhouse store needs TRACKHOUSE_REDIS_URL and TRACKHOUSE_STORE_SOCKET")
    # uvicorn stops serving on SIGTERM, then re-raises it: as KeyboardInterrupt, so the
    # workers below still finish their jobs instead of the process dying mid-insert.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    path = prepare_socket(settings.store_socket.parent)
    store = open_client(settings.store_url)
    migrate_configured(store, settings)
    redis = connect(settings, patient=True)
    reclaim_at_startup(redis, settings, sole_worker=sole_worker)
    engine = ClientEngine(lambda: open_client(settings.store_url), read_slots(settings))
    # A stream no API process reads is cut off too (the API's own cut-off closes it sooner).
    served = read_app(engine, stream_seconds=settings.export_timeout_seconds + 30, idle_seconds=settings.export_idle_timeout_seconds + 30)
    config = uvicorn.Config(served, uds=str(path), log_level=settings.log_level.lower(), access_log=False)
    workers = WorkerThreads(redis, settings)
    try:
        workers.start()
        with contextlib.suppress(KeyboardInterrupt):
            uvicorn.Server(config).run()
    finally:
        workers.stop()  # warm: the jobs in hand finish; queued ones wait in Redis for the next start
        redis.close()
        path.unlink(missing_ok=True)
        log.info("store process stopped")
