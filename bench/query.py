"""`make bench-query`: the dashboard's questions through POST /api/query, against the same
questions written plainly in SQL on the raw table with FINAL, in the same run, as ratios; then
/track's throughput alone and while two clients query in a loop.

One process plays the embedded topology (`trackhouse up`): a redis-server child, chDB
in-process, a worker thread and the API (uvicorn on a loopback port, in a thread). The
events are generated straight into the store (bench.query_data). Every answer of the API is
checked against the plain SQL's before anything is timed. Not a test: it prints a table and
rewrites its section of BENCHMARKS.md.

    python -m bench.query [--events 10000000] [--runs 7] [--track-seconds 10]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from clickhouse_connect.driver.client import Client
from pydantic import SecretStr

from api.app import create_app
from bench.load import TRACK_LUA, LoadSpec, run_wrk, wrk_binary
from bench.procs import ROOT
from bench.query_data import PROJECTS, generate
from bench.sections import replace_section
from shared.logs import configure_logging
from shared.queue.jobs import connect_redis
from shared.queue.redis_server import RedisServer, free_port
from shared.settings import Settings
from shared.store.client import open_client
from shared.store.migrate import migrate
from worker.runner import WorkerThreads

TOKEN = "bench-query-token"
PROJECT = "p07"
SECTION = "bench-query"
_VISIBLE = "event_type != 'engagement'"
_FILTER = f"project_id = '{PROJECT}' AND event_time >= toDateTime64({{start:String}}, 3, 'UTC') AND event_time < toDateTime64({{end:String}}, 3, 'UTC') AND NOT is_bot"


@dataclass(frozen=True)
class Question:
    name: str
    body: dict[str, Any]
    sql: str
    """The same question, written plainly on the raw table with FINAL."""


def _per(dimension_sql: str, order: str, limit: int) -> str:
    return (
        f"SELECT {dimension_sql} AS d, countIf({_VISIBLE}) AS events, uniqExactIf(visitor_id, {_VISIBLE}) AS visitors "
        f"FROM {{db}}.events FINAL WHERE {_FILTER} GROUP BY d ORDER BY {order} LIMIT {limit}"
    )


def questions() -> list[Question]:
    scope = {"date_range": "30d", "filters": [["is", "project_id", [PROJECT]]]}
    two = ["events", "visitors"]
    totals = ["events", "visitors", "sessions", "bounce_rate", "avg_time_spent_sec", "conversions"]
    return [
        Question(
            "totals",
            {**scope, "metrics": totals},
            f"SELECT countIf({_VISIBLE}), uniqExactIf(visitor_id, {_VISIBLE}), uniqExactIf(session_id, {_VISIBLE}), "
            "100 * (uniqExact(session_id) - uniqExactIf(session_id, NOT is_bounce)) / uniqExact(session_id), "
            "avgIf(time_spent_sec, event_type = 'engagement' OR time_spent_sec != 0), "
            f"countIf({_VISIBLE} AND (event_type = 'conversion' OR conversion_type != '')) "
            f"FROM {{db}}.events FINAL WHERE {_FILTER}",
        ),
        Question(
            "time:day",
            {**scope, "metrics": two, "dimensions": ["time:day"]},
            _per("toString(toDate(event_time, 'UTC'))", "d", 1000),
        ),
        Question(
            "top 10 links",
            {**scope, "metrics": two, "dimensions": ["link_slug"], "limit": 10},
            _per("link_slug", "events DESC, d", 10),
        ),
        Question(
            "countries",
            {**scope, "metrics": two, "dimensions": ["country"]},
            _per("country", "events DESC, d", 100),
        ),
        Question(
            "devices",
            {**scope, "metrics": two, "dimensions": ["device_type"]},
            _per("device_type", "events DESC, d", 100),
        ),
        Question(
            "referrer domains",
            {**scope, "metrics": two, "dimensions": ["referrer_domain"]},
            _per("domainWithoutWWW(referrer)", "events DESC, d", 100),
        ),
    ]


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def _rows(answer: dict[str, Any]) -> list[list[Any]]:
    return [[*r["dimensions"], *r["metrics"]] for r in answer["results"]]


def _same(api: list[list[Any]], sql: list[list[Any]]) -> bool:
    def norm(rows: list[list[Any]]) -> list[list[Any]]:
        return [
            [round(v, 6) if isinstance(v, float) else str(v) if not isinstance(v, int) else v for v in r]
            for r in rows
        ]

    # The API zero-fills days without events; the plain SQL has no row for them.
    return [r for r in norm(api) if any(v for v in r[1:])] == norm(sql)


def _p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def time_questions(url: str, store: Client, database: str, runs: int) -> list[dict[str, Any]]:
    results = []
    for q in questions():
        answer = _post(url, q.body)
        start, end = (
            datetime.fromisoformat(t).astimezone(UTC).replace(tzinfo=None)
            for t in answer["meta"]["date_range"]
        )
        sql = q.sql.replace("{db}", database)
        params = {"start": start, "end": end}
        plain = [list(r) for r in store.query(sql, parameters=params).result_rows]
        if not _same(_rows(answer), plain):
            raise SystemExit(
                f"{q.name}: the API and the plain SQL disagree:\n{_rows(answer)[:5]}\n{plain[:5]}"
            )
        api_s, sql_s, approx_s = [], [], []
        for _ in range(runs):  # interleaved, so drift on this shared machine hits all alike
            t = time.perf_counter()
            _post(url, q.body)
            api_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            _post(url, {**q.body, "approximate": True})
            approx_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            store.query(sql, parameters=params)
            sql_s.append(time.perf_counter() - t)
        results.append(
            {
                "question": q.name,
                "api_ms": _p50(api_s),
                "sql_ms": _p50(sql_s),
                "approx_ms": _p50(approx_s),
                "rows": len(answer["results"]),
            }
        )
        print(f"  {q.name}: API {_p50(api_s):.0f} ms, plain SQL {_p50(sql_s):.0f} ms", flush=True)
    return results


def _query_loop(url: str, stop: threading.Event, done: list[int]) -> None:
    bodies = [q.body for q in questions()]
    i = 0
    while not stop.is_set():
        _post(url, bodies[i % len(bodies)])
        i += 1
    done.append(i)


def track_under_queries(base: str, seconds: float, workdir: Path) -> dict[str, float] | None:
    if shutil.which(wrk_binary()) is None:
        print("  wrk not found (apt-get install wrk): /track under queries skipped", flush=True)
        return None
    spec = LoadSpec(f"{base}/api/events/track", TRACK_LUA)

    def rate(prefix: str) -> float:
        result = run_wrk(
            spec,
            prefix=prefix,
            active_seconds=seconds,
            grace_seconds=2,
            connections=32,
            threads=1,
            workdir=workdir,
        )
        return result.statuses.get(201, 0) / seconds

    alone = rate("alone")
    stop, done = threading.Event(), list[int]()
    clients = [threading.Thread(target=_query_loop, args=(f"{base}/api/query", stop, done)) for _ in range(2)]
    for c in clients:
        c.start()
    try:
        loaded = rate("queried")
    finally:
        stop.set()
        for c in clients:
            c.join()
    out = {"alone": alone, "queried": loaded, "queries_per_s": sum(done) / (seconds + 2)}
    print(
        f"  /track alone {alone:,.0f}/s, with two query loops {loaded:,.0f}/s ({loaded / alone:.2f}×)",
        flush=True,
    )
    return out


def _table(title: str, results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        title,
        "",
        "| question | rows | `/api/query` p50 (exact) | plain FINAL SQL p50 | API ÷ SQL | `approximate: true` p50 | ÷ SQL |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['question']} | {r['rows']} | {r['api_ms']:,.0f} ms | {r['sql_ms']:,.0f} ms "
            f"| {r['api_ms'] / r['sql_ms']:.2f}× | {r['approx_ms']:,.0f} ms | {r['approx_ms'] / r['sql_ms']:.2f}× |"
        )
    return lines


def report(
    args: argparse.Namespace,
    fresh: list[dict[str, Any]],
    merged: list[dict[str, Any]] | None,
    track: dict[str, float] | None,
    gen_s: float,
) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Query API (`make bench-query`)",
        "",
        f"{when} · {args.events:,} events (+1 % re-sent copies) over 30 days, {PROJECTS} projects, 2,000 links, "
        f"500,000 visitors · one project ({PROJECT}), `date_range` 30d · p50 of {args.runs} runs · "
        f"Python {platform.python_version()} · generated in {gen_s:.0f} s",
        "",
        "Command: `python -m bench.query` (`make bench-query`; `--events N` for another size). Each question "
        "goes through `POST /api/query` over loopback HTTP (the embedded topology: the API process owns chDB) "
        "and, in the same run, interleaved, as plain SQL on the raw table with `FINAL` straight to chDB; the "
        "API's answer is checked to equal the plain SQL's first.",
        *_table(
            "Fresh: the parts as inserted, re-sent copies unmerged (`FINAL` merges them per query).", fresh
        ),
    ]
    if merged is not None:
        lines += _table(
            "Settled: after `OPTIMIZE TABLE … FINAL` (background merges done: one part per month).", merged
        )
    lines += [
        "",
        "No rollups: every exact answer is read from the raw table with `FINAL`, so an event_id sent twice "
        "counts once whether or not the copies were merged yet; a materialized-view rollup counts each "
        "copy as it is inserted. `approximate: true` drops `FINAL` and counts distinct values with `uniq()`. "
        f"The API's reads run at nice {args.thread_nice} (`QUERY_THREAD_NICE`) with "
        f"`QUERY_MAX_THREADS` = {args.threads} (0: every core); the plain SQL at normal priority.",
    ]
    if track:
        lines += [
            "",
            f"| `/track` (wrk, 32 connections, {args.track_seconds:g} s) | events/s | ratio |",
            "|---|---|---|",
            f"| alone | {track['alone']:,.0f} | 1.00× |",
            f"| while two clients run the questions above in a loop ({track['queries_per_s']:.1f} queries/s) "
            f"| {track['queried']:,.0f} | {track['queried'] / track['alone']:.2f}× |",
        ]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Only this command's section of BENCHMARKS.md; bench.run's part and others' stay as they are."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    path.write_text(replace_section(text, SECTION, section))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.query", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--track-seconds", type=float, default=10)
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--query-max-threads", type=int, default=None, help="TRACKHOUSE_QUERY_MAX_THREADS")
    parser.add_argument(
        "--no-settled", dest="settled", action="store_false", help="skip the merged-table run"
    )
    args = parser.parse_args(argv)
    configure_logging("WARNING", "text")
    with tempfile.TemporaryDirectory(prefix="thq-") as tmp:
        data = Path(tmp)
        port = free_port()
        overrides = {} if args.query_max_threads is None else {"query_max_threads": args.query_max_threads}
        settings = Settings(
            data_dir=data,
            port=port,
            admin_token=SecretStr(TOKEN),
            backpressure_check_interval_ms=0,
            log_level="WARNING",  # RQ logs every job at INFO
            **overrides,
        )
        redis_server = RedisServer(data / "redis")
        redis_url = redis_server.start()
        try:
            store = open_client(settings.store_url)
            migrate(store, settings.clickhouse_database)
            print(f"generating {args.events:,} events…", flush=True)
            gen_s = generate(store, settings.clickhouse_database, args.events, end_ms=int(time.time() * 1000))
            redis = connect_redis(redis_url)
            workers = WorkerThreads(redis, settings)
            workers.start()
            app = create_app(settings, redis=redis, open_store=lambda: store)
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            base = f"http://127.0.0.1:{port}"
            while not server.started:
                time.sleep(0.05)
            try:
                print("timing the dashboard's questions…", flush=True)
                results = time_questions(f"{base}/api/query", store, settings.clickhouse_database, args.runs)
                merged = None
                if args.settled:
                    print("merging (OPTIMIZE TABLE … FINAL), then timing again…", flush=True)
                    store.command(f"OPTIMIZE TABLE {settings.clickhouse_database}.events FINAL")
                    merged = time_questions(
                        f"{base}/api/query", store, settings.clickhouse_database, args.runs
                    )
                track = (
                    track_under_queries(base, args.track_seconds, data) if args.track_seconds > 0 else None
                )
            finally:
                server.should_exit = True
                thread.join(timeout=30)
                workers.stop()
        finally:
            redis_server.stop()
    args.thread_nice, args.threads = settings.query_thread_nice, settings.query_max_threads
    section = report(args, results, merged, track, gen_s)
    print("\n" + section)
    write_section(args.output, section)
    print(f"written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
