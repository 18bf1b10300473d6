"""The embedded contenders (`embedded` on /track, `embedded-batch` on /batch): exactly what
`make run` starts, `python -m cli up` (`trackhouse up`) on a fresh data dir, under the same load.

It brings its own redis-server and chDB under the data dir and no separate worker, so there is
no fill or drain phase: main, then half (paced at half main's rate). The queue is watched through
the embedded Redis, found the way `trackhouse status` finds it; SIGTERM stops everything (the
process drains first), and a fresh process then reads the rows from the data dir's chDB.
Everything under the `trackhouse up` pid is metered, each process by its role (bench/meter.py),
so the same code measures today's one process and a supervisor with children.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from redis import Redis

from bench.checks import exactly_once
from bench.load import BATCH_CONNECTIONS, BATCH_LUA, TRACK_LUA, LoadResult, LoadSpec
from bench.meter import PipelineMeter
from bench.phase import Config, Result, api_rss, cost_figures, half_phase, load_phase, main_figures, note_load
from bench.procs import PYTHON, Processes, clean_env, wait_http_ok
from bench.queue_probe import failed, wait_drained
from bench.store_read import read_phases
from shared.queue.redis_server import free_port
from shared.settings import Settings
from shared.urls import resolve_redis_url

BATCH_SIZE = 100
_ONE_API = "-1api"
"""A contender named so runs `trackhouse up` with one API process instead of its default."""
_START_TIMEOUT_SECONDS = 120  # a cold chDB start and the migrations, on a busy machine


def _spec(name: str, port: int) -> LoadSpec:
    base = f"http://127.0.0.1:{port}/api/events"
    name = name.removesuffix(_ONE_API)
    if name == "embedded":
        return LoadSpec(f"{base}/track", TRACK_LUA)
    if name == "embedded-batch":
        return LoadSpec(
            f"{base}/batch", BATCH_LUA, events_per_request=BATCH_SIZE, connections=BATCH_CONNECTIONS
        )
    raise ValueError(name)


def _as_child(env: dict[str, str]) -> Settings:
    """The Settings `trackhouse up` builds from `env`: not from the harness's own TRACKHOUSE_*
    variables, which clean_env kept from the child (init arguments win over the environment)."""
    fields: dict[str, Any] = {
        name: info.get_default(call_default_factory=True)
        for name, info in Settings.model_fields.items()
        if f"TRACKHOUSE_{name.upper()}" in os.environ
    }
    fields |= {
        k.removeprefix("TRACKHOUSE_").lower(): v for k, v in env.items() if k.startswith("TRACKHOUSE_")
    }
    return Settings(**fields)


def up_env(data_dir: Path, port: int, extra: dict[str, str]) -> dict[str, str]:
    """The environment of a `trackhouse up` under load: loopback, `port`, its own data dir."""
    return clean_env(
        {
            "TRACKHOUSE_DATA_DIR": str(data_dir),
            "TRACKHOUSE_HOST": "127.0.0.1",
            "TRACKHOUSE_PORT": str(port),
            "TRACKHOUSE_LOG_LEVEL": "WARNING",  # as the other contenders: RQ logs every job at INFO
            "TRACKHOUSE_ADMIN_TOKEN": secrets.token_urlsafe(16),
            **extra,
        }
    )


def run_embedded(name: str, cfg: Config, workdir: Path) -> Result:
    result = Result(name)
    port = free_port()
    spec = _spec(name, port)
    env = up_env(workdir, port, {"TRACKHOUSE_API_PROCESSES": "1"} if name.endswith(_ONE_API) else {})
    settings = _as_child(env)  # where its Redis socket and chDB directory are
    queue = settings.queue_name
    phases: dict[str, LoadResult] = {}
    left: dict[str, int] = {}
    with Processes() as procs:
        up = procs.start(name, [PYTHON, "-m", "cli", "up"], env, workdir / "up.log")
        wait_http_ok(f"http://127.0.0.1:{port}/readyz", up, timeout_seconds=_START_TIMEOUT_SECONDS)
        redis_url = resolve_redis_url(settings)
        if redis_url is None:
            raise RuntimeError(f"`trackhouse up` is ready but announced no Redis under {workdir}")
        redis = Redis.from_url(redis_url)
        try:
            with PipelineMeter({"supervisor": up.pid}) as meter:
                phases["main"] = main = load_phase(cfg, spec, "main", workdir)
                during_load = meter.lap()
                left["main"], _ = wait_drained(
                    redis, queue, timeout_seconds=cfg.drain_timeout, check_alive=up.check_alive
                )
            main_figures(result, main, api_rss(meter))
            cost_figures(result, main, meter, during_load, left["main"])
            if left["main"]:
                result.notes.append(f"main: not drained: {left['main']:,} jobs left")
            elif (half := half_phase(result, cfg, spec, main, workdir)) is not None:
                phases["half"] = half
                left["half"], _ = wait_drained(
                    redis, queue, timeout_seconds=cfg.drain_timeout, check_alive=up.check_alive
                )
            dead = failed(redis, queue)
            if dead:
                result.notes.append(f"{dead:,} jobs in the FailedJobRegistry")
        finally:
            redis.close()
        code = up.stop(timeout_seconds=cfg.drain_timeout)  # SIGTERM: it drains, then stops Redis
        if code != 0:
            result.notes.append(f"`trackhouse up` exited with {code} on SIGTERM")

    rows = read_phases(settings.store_url, settings.clickhouse_database, list(phases))
    result.lag_p50_ms, result.lag_p99_ms = rows["main"].lag_p50_ms, rows["main"].lag_p99_ms
    if "half" in rows:
        result.lag_p99_half_ms = rows["half"].lag_p99_ms
    for prefix, phase in phases.items():
        if prefix != "main":
            note_load(result, phase)
        stored = rows[prefix]
        if stored.inserts:
            result.notes.append(
                f"{prefix}: ~{stored.inserts:,} inserts, {stored.rows / stored.inserts:,.1f} rows per insert"
            )
        verdict = exactly_once(phase, stored, left.get(prefix, 0))
        result.notes.append(verdict.message)
        if not verdict.ok:
            result.violations.append(verdict.message)
    return result
