"""The queue-based contenders (plain, track, batch): Redis + API + one worker, in phases:
1. fill:  API alone (no worker) for `backlog_seconds`: Redis bytes per queued event;
2. drain: start the worker on that backlog: its capacity, rows stored / (empty − first dequeue);
3. main:  full load with the worker draining concurrently: events/s, latency, lag, RSS;
4. half:  paced at half the sustainable rate (the lower of main's accepted rate and the
          drain rate): lag when the system is not saturated.
The worker is then stopped (warm) and a fresh process reads the rows of every phase.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from bench.checks import exactly_once
from bench.load import BATCH_CONNECTIONS, BATCH_LUA, TRACK_LUA, LoadResult, LoadSpec
from bench.meter import PipelineMeter
from bench.phase import (
    BENCH_DB,
    Config,
    Result,
    api_rss,
    cost_figures,
    half_phase,
    load_phase,
    main_figures,
    note_load,
    uvicorn_argv,
)
from bench.procs import PYTHON, Proc, Processes, clean_env, http_status, wait_http_ok
from bench.queue_probe import backlog, failed, used_memory, wait_drained, wait_worker
from bench.store_read import PhaseRows, read_phases
from shared.queue.redis_server import RedisServer, find_redis_server, free_port
from shared.settings import Settings

TRACKHOUSE_QUEUE: str = Settings.model_fields["queue_name"].default
TRACKHOUSE_DB: str = Settings.model_fields["clickhouse_database"].default
PLAIN_QUEUE = "bench-plain"
BATCH_SIZE = 100


@dataclass(frozen=True)
class Topology:
    """How to start one queue-based design's API and worker."""

    api_argv: list[str]
    worker_argv: list[str]
    env: dict[str, str]
    queue: str
    database: str
    spec: LoadSpec
    strict: bool
    """Exactly-once violations fail the run (trackhouse) or are only noted (the baseline)."""
    replica: bool = False
    """Run a Redis replica beside the primary (the API then waits for it: MIN_REPLICAS_ACK=1)."""


def _plain(port: int, redis_url: str, chdb_url: str) -> Topology:
    env = clean_env(
        {"BENCH_REDIS_URL": redis_url, "BENCH_QUEUE": PLAIN_QUEUE, "BENCH_CLICKHOUSE_URL": chdb_url,
         "BENCH_DATABASE": BENCH_DB}
    )  # fmt: skip
    return Topology(
        api_argv=uvicorn_argv("bench.plain_app:app", port),
        worker_argv=[PYTHON, "-m", "bench.plain_worker"],
        env=env,
        queue=PLAIN_QUEUE,
        database=BENCH_DB,
        spec=LoadSpec(f"http://127.0.0.1:{port}/api/events/track", TRACK_LUA),
        strict=False,
    )


# Every enrichment step off: what `track` pays for enrichment is the difference.
ENRICHMENT_OFF = {
    "TRACKHOUSE_ENRICH_USER_AGENT": "false",
    "TRACKHOUSE_VISITOR_HASH": "false",
    "TRACKHOUSE_SESSIONS": "false",
    "TRACKHOUSE_GEO_HEADERS": "false",
    "TRACKHOUSE_GEO_DATABASE": "false",
}


def _trackhouse(
    port: int,
    redis_url: str,
    chdb_url: str,
    spec: LoadSpec,
    workdir: Path,
    extra_env: dict[str, str] | None = None,
) -> Topology:
    env = clean_env(
        {
            **(extra_env or {}),
            "TRACKHOUSE_HOST": "127.0.0.1",
            "TRACKHOUSE_PORT": str(port),
            "TRACKHOUSE_REDIS_URL": redis_url,
            "TRACKHOUSE_CLICKHOUSE_URL": chdb_url,
            "TRACKHOUSE_DATA_DIR": str(workdir),
            "TRACKHOUSE_LOG_LEVEL": "WARNING",
            "TRACKHOUSE_ADMIN_TOKEN": secrets.token_urlsafe(16),
        }
    )
    return Topology(
        api_argv=[PYTHON, "-m", "cli", "api"],
        worker_argv=[PYTHON, "-m", "cli", "worker"],
        env=env,
        queue=TRACKHOUSE_QUEUE,
        database=TRACKHOUSE_DB,
        spec=spec,
        strict=True,
    )


def topology_for(name: str, port: int, redis_url: str, chdb_url: str, workdir: Path) -> Topology:
    base = f"http://127.0.0.1:{port}"
    if name == "plain":
        return _plain(port, redis_url, chdb_url)
    if name == "track":
        return _trackhouse(
            port, redis_url, chdb_url, LoadSpec(f"{base}/api/events/track", TRACK_LUA), workdir
        )
    if name == "track-noenrich":
        spec = LoadSpec(f"{base}/api/events/track", TRACK_LUA)
        return _trackhouse(port, redis_url, chdb_url, spec, workdir, ENRICHMENT_OFF)
    if name == "track-replica":  # what WAIT costs: the same as track, 201 once a replica has the job
        spec = LoadSpec(f"{base}/api/events/track", TRACK_LUA)
        topo = _trackhouse(
            port, redis_url, chdb_url, spec, workdir, {"TRACKHOUSE_REDIS_MIN_REPLICAS_ACK": "1"}
        )
        return replace(topo, replica=True)
    if name in ("batch", "batch-2proc"):
        spec = LoadSpec(
            f"{base}/api/events/batch",
            BATCH_LUA,
            events_per_request=BATCH_SIZE,
            connections=BATCH_CONNECTIONS,
        )
        processes = {"TRACKHOUSE_API_PROCESSES": "2"} if name == "batch-2proc" else {}
        return _trackhouse(port, redis_url, chdb_url, spec, workdir, processes)
    raise ValueError(name)


class _Drainer:
    """Waits (bounded) for the queue to drain, noting what is left."""

    def __init__(self, redis: Redis, topo: Topology, cfg: Config, result: Result) -> None:
        self._redis, self._topo, self._cfg, self._result = redis, topo, cfg, result

    def __call__(self, phase: str, check_alive: Callable[[], None]) -> tuple[int, float]:
        """Returns (jobs left, when drained: time.monotonic())."""
        started = time.monotonic()
        left, when = wait_drained(
            self._redis, self._topo.queue, timeout_seconds=self._cfg.drain_timeout, check_alive=check_alive
        )
        if left:
            self._result.notes.append(
                f"{phase}: not drained: {left:,} jobs left after {when - started:.0f} s"
            )
        return left, when


def run_queued(name: str, cfg: Config, workdir: Path) -> Result:
    result = Result(name)
    redis_server = RedisServer(workdir / "redis", port=free_port())
    redis_url = redis_server.start()
    chdb_url = f"chdb://{workdir / 'ch'}"
    port = free_port()
    topo = topology_for(name, port, redis_url, chdb_url, workdir)
    redis = Redis.from_url(redis_url)
    phases: dict[str, LoadResult] = {}
    left: dict[str, int] = {}
    try:
        with Processes() as procs:
            replica = _start_replica(procs, redis_url, workdir) if topo.replica else None
            api = procs.start(f"{name}-api", topo.api_argv, topo.env, workdir / "api.log")
            wait_http_ok(f"http://127.0.0.1:{port}/healthz", api)
            path = topo.spec.url.split(str(port), 1)[1]
            if name.startswith("batch") and http_status("POST", topo.spec.url, b"[]") in (404, 405):
                result.status = "n/a"
                result.notes.append(f"POST {path} answers 404: endpoint not there yet")
                return result
            drained = _Drainer(redis, topo, cfg, result)

            # 1. fill: API alone, so every accepted event is still queued when we measure.
            before = used_memory(redis)
            phases["fill"] = fill = load_phase(cfg, topo.spec, "fill", workdir, seconds=cfg.backlog_seconds)
            grown = used_memory(redis) - before
            if fill.accepted_events:
                result.redis_bytes_per_event = grown / fill.accepted_events
            result.notes.append(
                f"fill: {fill.accepted_events:,} events in {backlog(redis, topo.queue):,} queued jobs, "
                f"Redis used_memory +{grown / 2**20:,.1f} MiB"
            )

            # 2. drain: the worker's capacity on a full backlog, from its first dequeue to empty.
            worker = procs.start(f"{name}-worker", topo.worker_argv, topo.env, workdir / "worker.log")
            alive = partial(_alive, api, worker)
            ready = wait_worker(redis, timeout_seconds=120, check_alive=alive)
            left["fill"], done = drained("fill", alive)
            drain_seconds = done - ready
            if not left["fill"]:
                result.notes.append(f"drain: the worker emptied the backlog in {drain_seconds:.2f} s")

            # 3. main: full load while the worker drains.
            # Metered until main's backlog is stored: the worker's share of main's events counts.
            roots = {"api": api.pid, "worker": worker.pid, "redis": redis_server.pid}
            with PipelineMeter({**roots, "replica": replica.pid if replica else None}) as meter:
                phases["main"] = main = load_phase(cfg, topo.spec, "main", workdir)
                during_load = meter.lap()
                left["main"], _ = drained("main", alive)
            main_figures(result, main, api_rss(meter))
            cost_figures(result, main, meter, during_load, left["main"])
            if main.ok_requests == 0 and main.statuses.get(404):
                result.status = "n/a"
                result.notes.append(f"POST {path}: every request answered 404")
                return result

            # 4. half: paced at half the sustainable rate, only once the main backlog is gone.
            if left["main"] == 0:
                capacity = (
                    fill.accepted_events / drain_seconds if not left["fill"] and drain_seconds > 0 else None
                )
                half = half_phase(result, cfg, topo.spec, main, workdir, capacity)
                if half is not None:
                    phases["half"] = half
                    left["half"], _ = drained("half", alive)
            elif cfg.half_load:
                result.notes.append("half: skipped, the main backlog did not drain")

            dead = failed(redis, topo.queue)
            if dead:
                result.notes.append(f"{dead:,} jobs in the FailedJobRegistry")
            worker.stop(timeout_seconds=cfg.drain_timeout)  # warm: finishes the job in hand
            api.stop()
    finally:
        redis.close()
        redis_server.stop()

    rows = read_phases(chdb_url, topo.database, list(phases))
    if left["fill"]:
        result.cells["drain_rows_per_s"] = f"not drained: {left['fill']:,} jobs left"
    elif drain_seconds > 0:
        result.drain_rows_per_s = rows["fill"].rows / drain_seconds
    _store_figures(result, topo, phases, rows, left)
    return result


def _start_replica(procs: Processes, primary_url: str, workdir: Path) -> Proc:
    """A replica of the bench's primary, with the primary's (random) password on both sides."""
    port, primary = free_port(), urlsplit(primary_url)
    password = primary.password or ""
    (workdir / "replica").mkdir()
    argv = [
        find_redis_server(), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(workdir / "replica"),
        "--appendonly", "yes", "--save", "", "--replicaof", "127.0.0.1", str(primary.port),
        *(["--masterauth", password, "--requirepass", password] if password else []),
    ]  # fmt: skip
    proc = procs.start("replica", argv, clean_env({}), workdir / "replica.log")
    replica = Redis(port=port, password=password or None)
    deadline = time.monotonic() + 30
    while not _synced(replica):
        if time.monotonic() > deadline:
            raise RuntimeError("the bench's Redis replica did not sync within 30 s")
        time.sleep(0.1)
    replica.close()
    return proc


def _synced(replica: Redis) -> bool:
    try:
        return replica.info("replication").get("master_link_status") == "up"
    except RedisConnectionError:  # not listening yet
        return False


def _alive(*procs: Proc) -> None:
    for proc in procs:
        proc.check_alive()


def _store_figures(
    result: Result,
    topo: Topology,
    phases: dict[str, LoadResult],
    rows: dict[str, PhaseRows],
    left: dict[str, int],
) -> None:
    result.lag_p50_ms, result.lag_p99_ms = rows["main"].lag_p50_ms, rows["main"].lag_p99_ms
    if left["main"]:  # only the rows stored so far: the true lag is larger
        for key in ("lag_p50_ms", "lag_p99_ms"):
            value = getattr(result, key)
            result.cells[key] = "not drained" if value is None else f"≥ {value:,.0f} ms (not drained)"
    if "half" in rows:
        result.lag_p99_half_ms = rows["half"].lag_p99_ms
    for prefix, phase in phases.items():
        if prefix != "main":  # main's were noted with its figures
            note_load(result, phase)
        stored = rows[prefix]
        if stored.inserts:
            result.notes.append(
                f"{prefix}: ~{stored.inserts:,} inserts, {stored.rows / stored.inserts:,.1f} rows per insert"
            )
        verdict = exactly_once(phase, rows[prefix], left.get(prefix, 0))
        result.notes.append(verdict.message)
        if not verdict.ok and topo.strict:
            result.violations.append(verdict.message)
