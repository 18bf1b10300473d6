"""`trackhouse up`, the embedded topology, as a supervisor of child processes:
- a redis-server (unless TRACKHOUSE_REDIS_URL or Sentinels are set), AOF under the data dir;
- the store process (`trackhouse store`, shared.store_process): the chDB engine, migrations,
  the worker threads, and the reads of the API, answered on a unix socket;
- the API (`trackhouse api`, TRACKHOUSE_API_PROCESSES of them, default one per core), which
  only validates and enqueues, and forwards reads to the store process.
Ingestion and storage each get an interpreter of their own, so on two cores request handling
never waits for the GIL behind merging and row building. A child that dies is restarted
(nothing acknowledged is lost: it is in Redis; the store process takes back at start what
its predecessor held); SIGTERM stops the API first (it drains its requests), then the store
(it finishes its jobs), then Redis."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from cli.supervise import Child, CrashLoop, wait_until
from shared.queue.connect import describe_redis, redis_configured
from shared.queue.redis_server import RedisServer
from shared.settings import Settings
from shared.store_process.remote import RemoteEngine
from shared.store_process.socket_server import run_dir_for, socket_path
from shared.urls import mask_url

log = logging.getLogger(__name__)

STORE_START_SECONDS = 180.0
"""A cold chDB start and the migrations, on a loaded two-core machine."""


def startup_line(settings: Settings, redis_url: str) -> str:
    return (
        f"trackhouse up: API on http://{settings.host}:{settings.port}, Redis {mask_url(redis_url)}, "
        f"store {mask_url(settings.store_url)}"
    )


def _children(settings: Settings, redis_url: str, run_dir: Path, *, own_redis: bool) -> list[Child]:
    env = {
        **os.environ,
        "TRACKHOUSE_STORE_SOCKET": str(socket_path(run_dir)),
        "TRACKHOUSE_CLICKHOUSE_URL": settings.store_url,
        # One metrics directory: /metrics on the API adds up the store process's worker figures.
        "PROMETHEUS_MULTIPROC_DIR": str(run_dir / "metrics"),
    }
    if own_redis:
        env["TRACKHOUSE_REDIS_URL"] = redis_url
    env.pop("TRACKHOUSE_DASHBOARD", None)  # the former name (warned about once, here): the new one below
    if settings.rq_dashboard:
        env["TRACKHOUSE_RQ_DASHBOARD"] = "true"
    env["TRACKHOUSE_API_PROCESSES"] = str(api_processes(settings))
    cli = [sys.executable, "-m", "cli"]
    # Its own redis-server has had no worker but the store process: whatever a dead one held
    # is taken back at once, not after its lease lapses.
    store = Child("store", [*cli, "store", *(["--sole-worker"] if own_redis else [])], env)
    return [store, Child("api", [*cli, "api"], env)]


MAX_DEFAULT_API_PROCESSES = 8


def api_processes(settings: Settings) -> int:
    """TRACKHOUSE_API_PROCESSES if set; else one per core this process may run on (at most
    MAX_DEFAULT_API_PROCESSES): each is CPU-bound under load, and the store process, Redis
    and the rest mostly wait, so the API gets the whole machine when traffic needs it."""
    if "api_processes" in settings.model_fields_set:
        return settings.api_processes
    return max(1, min(MAX_DEFAULT_API_PROCESSES, len(os.sched_getaffinity(0))))


def _fresh_metrics_dir(run_dir: Path) -> None:
    shutil.rmtree(run_dir / "metrics", ignore_errors=True)  # counters of a previous run
    (run_dir / "metrics").mkdir()


def run_embedded(settings: Settings) -> None:
    if settings.rq_dashboard and settings.admin_token is None:
        raise SystemExit(
            "--rq-dashboard needs TRACKHOUSE_ADMIN_TOKEN: rq-dashboard can requeue and delete jobs"
        )
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    redis_server: RedisServer | None = None
    redis_url = describe_redis(settings)
    if not redis_configured(settings):
        redis_server = RedisServer(settings.data_dir / "redis", appendfsync=settings.redis_appendfsync)
        redis_url = redis_server.start()
    run_dir = run_dir_for(settings.data_dir)
    _fresh_metrics_dir(run_dir)
    store, api = _children(settings, redis_url, run_dir, own_redis=redis_server is not None)
    reads = RemoteEngine(socket_path(run_dir), timeout_seconds=2)
    status = 0
    try:
        store.start()
        api.start()  # ingestion needs no store: it serves while the engine starts
        wait_until(lambda: reads.ping() or stopping.is_set(), store, STORE_START_SECONDS)
        log.info(startup_line(settings, redis_url))
        while not stopping.wait(0.5):
            if redis_server is not None and redis_server.exited() is not None:
                log.error("redis-server exited (status %s): restarting it", redis_server.exited())
                redis_server.start()  # same directory (AOF) and socket: the children reconnect
            for child in (store, api):
                if child.exited() is not None:
                    child.restart_after_crash()
    except CrashLoop as exc:
        log.error("trackhouse up: %s; stopping", exc)
        status = 1
    finally:
        api.stop(timeout_seconds=35)  # uvicorn's graceful shutdown takes up to 30 s
        store.stop(timeout_seconds=settings.job_timeout_seconds + 15)
        if redis_server is not None:
            redis_server.stop()
        if run_dir.parent != settings.data_dir.resolve():  # a temporary one: ours to remove
            shutil.rmtree(run_dir, ignore_errors=True)
        log.info("trackhouse stopped")
    if status:
        raise SystemExit(status)
