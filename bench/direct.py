"""The contenders without a queue: bare (the ceiling) and naive (one insert per request).
One uvicorn process each; naive also gets a paced run at half its rate for the lag."""

from __future__ import annotations

from pathlib import Path

from bench.checks import exactly_once
from bench.load import TRACK_LUA, LoadSpec
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
    uvicorn_argv,
)
from bench.procs import Processes, clean_env, wait_http_ok
from bench.store_read import read_phases
from shared.queue.redis_server import free_port


def run_bare(cfg: Config, workdir: Path) -> Result:
    result = Result("bare")
    port = free_port()
    with Processes() as procs:
        api = procs.start(
            "bare", uvicorn_argv("bench.bare_app:app", port), clean_env({}), workdir / "bare.log"
        )
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", api)
        spec = LoadSpec(f"http://127.0.0.1:{port}/api/events/track", TRACK_LUA)
        with PipelineMeter({"api": api.pid}) as meter:
            main = load_phase(cfg, spec, "main", workdir)
        main_figures(result, main, api_rss(meter))
        cost_figures(result, main, meter, meter.used)
    return result


def run_naive(cfg: Config, workdir: Path) -> Result:
    result = Result("naive")
    port = free_port()
    chdb_url = f"chdb://{workdir / 'ch'}"
    env = clean_env({"BENCH_CLICKHOUSE_URL": chdb_url, "BENCH_DATABASE": BENCH_DB})
    spec = LoadSpec(f"http://127.0.0.1:{port}/api/events/track", TRACK_LUA)
    with Processes() as procs:
        api = procs.start("naive", uvicorn_argv("bench.naive_app:app", port), env, workdir / "naive.log")
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", api)
        with PipelineMeter({"api": api.pid}) as meter:
            main = load_phase(cfg, spec, "main", workdir)
        main_figures(result, main, api_rss(meter))
        cost_figures(result, main, meter, meter.used)
        half = half_phase(result, cfg, spec, main, workdir)
        api.stop()  # it owns the chDB directory: stop it before reading
    rows = read_phases(chdb_url, BENCH_DB, ["main", "half"])
    result.lag_p50_ms, result.lag_p99_ms = rows["main"].lag_p50_ms, rows["main"].lag_p99_ms
    result.notes.append(exactly_once(main, rows["main"], 0).message)
    if half is not None:
        result.lag_p99_half_ms = rows["half"].lag_p99_ms
    return result
