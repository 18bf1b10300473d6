"""`trackhouse status`: one screen on the pipeline's health, read from Redis (and the store).

Read-only: registries are counted without RQ's cleanup, which would move abandoned jobs
around (that is the workers' business, not a status command's).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import clickhouse_connect
import orjson
from redis import Redis
from rq.worker import Worker

from shared import stats
from shared.queue.depth import read_depth
from shared.queue.jobs import events_queue
from shared.queue.serializer import OrjsonSerializer
from shared.settings import Settings
from shared.urls import mask_url

_HTTP_TIMEOUT_SECONDS = 2


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    name: str
    hostname: str | None
    pid: int | None
    state: str
    current_job_id: str | None


@dataclass(frozen=True, slots=True)
class StoreCheck:
    target: str
    """The store URL, password masked."""
    state: str
    """`ok`, `down (...)` or `unknown (...)`."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    taken_at: datetime
    redis_url: str
    redis_version: str
    """The running server's own `redis_version` (INFO server)."""
    queue: str
    queued_jobs: int
    queued_events: int
    oldest_queued_age_seconds: float | None
    scheduled_retries: int
    started_jobs: int
    failed_jobs: int
    stored_per_second: float
    store: StoreCheck
    workers: tuple[WorkerInfo, ...]

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z)


def _workers(redis: Redis, settings: Settings) -> tuple[WorkerInfo, ...]:
    found = Worker.all(queue=events_queue(redis, settings), serializer=OrjsonSerializer)
    return tuple(
        WorkerInfo(w.name, w.hostname, w.pid, w.get_state(), w.get_current_job_id())
        for w in sorted(found, key=lambda w: w.name)
    )


def check_store(settings: Settings) -> StoreCheck:
    target = mask_url(settings.store_url)
    if settings.uses_chdb:
        return StoreCheck(target, _ask_api(settings))
    try:
        # Not shared.store.client.open_client: its default 10 s connect timeout is too long here.
        client = clickhouse_connect.get_client(
            dsn=settings.store_url, autogenerate_session_id=False, connect_timeout=2, send_receive_timeout=5
        )
        try:
            client.command("SELECT 1")
        finally:
            client.close()
    except Exception as exc:
        return StoreCheck(target, f"down ({type(exc).__name__}: {_first_line(str(exc))})")
    return StoreCheck(target, "ok")


def _ask_api(settings: Settings) -> str:
    """chDB allows one process per data directory, and that is the running `trackhouse up`
    (or worker): opening it here would fail or clash, so ask the API's readiness probe."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(settings.host, settings.host)
    host = f"[{host}]" if ":" in host else host
    url = f"http://{host}:{settings.port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=_HTTP_TIMEOUT_SECONDS) as response:
            body = response.read()
    except urllib.error.HTTPError as error:  # 503: the API answers, a dependency is down
        body = error.read()
    except (OSError, ValueError):
        return "unknown (chDB is owned by the running process; API not reachable)"
    try:
        verdict = str(json.loads(body).get("store", "?"))
    except (ValueError, AttributeError):
        return f"unknown (unexpected answer from {url})"
    return f"{verdict} (via {url})"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def gather(redis: Redis, settings: Settings, redis_url: str, now: datetime | None = None) -> Snapshot:
    """Everything `status` shows. Raises redis' ConnectionError when Redis is away."""
    now = now or datetime.now(UTC)
    queue = events_queue(redis, settings)
    depth = read_depth(redis, queue.key, sample=None, now=now.timestamp())  # every id: exact
    return Snapshot(
        taken_at=now,
        redis_url=mask_url(redis_url),
        redis_version=str(redis.info("server").get("redis_version", "unknown")),
        queue=settings.queue_name,
        queued_jobs=depth.jobs,
        queued_events=depth.events,
        oldest_queued_age_seconds=depth.oldest_age_seconds,
        scheduled_retries=queue.scheduled_job_registry.get_job_count(cleanup=False),
        started_jobs=queue.started_job_registry.get_job_count(cleanup=False),
        failed_jobs=queue.failed_job_registry.get_job_count(cleanup=False),
        stored_per_second=stats.stored_per_second(redis, now.timestamp()),
        store=check_store(settings),
        workers=_workers(redis, settings),
    )


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} d"


def render(snapshot: Snapshot) -> str:
    """One screen of text (the workers list is capped so it stays one screen)."""
    s = snapshot
    lines = [
        f"trackhouse status at {s.taken_at.strftime('%Y-%m-%d %H:%M:%S')} UTC",
        f"redis             {s.redis_url}  (redis-server {s.redis_version})",
        f"store             {s.store.state}  [{s.store.target}]",
        f"queue             {s.queue}: {s.queued_jobs} job(s), {s.queued_events} event(s)",
        f"oldest queued     {format_age(s.oldest_queued_age_seconds)}",
        f"retries scheduled {s.scheduled_retries}",
        f"started           {s.started_jobs}",
        f"failed            {s.failed_jobs}" + ("  (trackhouse failed list)" if s.failed_jobs else ""),
        f"drain rate        {s.stored_per_second:.1f} events/s (last minute)",
        f"workers alive     {len(s.workers)}",
    ]
    shown = 12
    for w in s.workers[:shown]:
        where = f"{w.hostname or '?'}:{w.pid if w.pid is not None else '?'}"
        lines.append(f"  {w.name}  {where}  {w.state}  {w.current_job_id or '-'}")
    if len(s.workers) > shown:
        lines.append(f"  … and {len(s.workers) - shown} more (--json lists all)")
    return "\n".join(lines)
