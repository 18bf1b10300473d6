"""`make bench-retention`: what enforcing retention costs at 10 M rows, against the simple
alternatives in the same run, as ratios; then /track's throughput while the worker that owns
chDB enforces it, against a run without it.

1. The store (a child process: chDB allows one engine per process and one process per data
   directory, and the worker will own this directory next). 10 M synthetic events
   (bench.query_data, spread over the last 365 days instead of its 30: 20 projects, 13 monthly
   partitions) are generated into a table migrated with the real schema, then settled with
   `OPTIMIZE TABLE … FINAL` (one part per month, as months-old data is; the re-sent copies
   merged away). Every scenario runs on its own copy of it: a database migrated the same way,
   its partitions attached from the settled table (`ATTACH PARTITION … FROM`: hard links,
   instant, no merge pending). Scenarios: shared.lifecycle.retention.enforce with the 180-day
   deployment default (whole months dropped, a lightweight DELETE in the boundary month) and
   with 30 days on 5 of the 20 projects (lightweight DELETE only); then, on the same copies,
   `APPLY DELETED MASK` (what physically reclaiming the masked rows costs); against a classic
   mutation (`ALTER TABLE … DELETE … mutations_sync = 2`) and a TTL (`MODIFY TTL` with
   `materialize_ttl_after_modify = 1`, once with `ttl_only_drop_parts = 1`) for the same rows.
   chDB has no `system.part_log`: bytes rewritten come from `system.parts` (the new parts'
   `bytes_on_disk`) and from the files of those parts that are not hard links (what was
   actually written). After each, a `FINAL` read must see no expired row and every newer row.
2. /track (the split topology of bench.keys: `trackhouse api` + `trackhouse worker` owning
   chDB, redis-server): per run a fresh copy of the settled table as `trackhouse.events`, a
   fresh API, worker and Redis; retention runs in the worker's own lifecycle thread
   (worker.lifecycle.LifecycleThread, as in production), set up by TRACKHOUSE_RETENTION_DAYS or
   the projects' `retention_days` in the registry, held back by its last-run key in Redis and
   released when the measured wrk run starts. Each round runs every variant once, in an order
   rotated by one; the ratio is the median of the rounds' (variant ÷ no enforcement).

    python -m bench.retention [--events 10000000] [--repeat 3] [--rounds 6] [--track-seconds N] [--no-track]

prints the tables and rewrites its section of BENCHMARKS.md. Not a test: nothing here asserts
on time.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import platform
import shlex
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from unittest import mock

from clickhouse_connect.driver.client import Client
from redis import Redis

from bench import query_data
from bench.checks import exactly_once
from bench.load import LoadResult, run_wrk, wrk_binary
from bench.meter import PipelineMeter
from bench.procs import ROOT, Proc, Processes, wait_http_ok
from bench.queue_probe import backlog, failed, wait_drained, wait_worker
from bench.queued import TRACKHOUSE_DB, topology_for
from bench.sections import replace_section
from bench.store_read import read_phases
from shared.lifecycle.retention import Report, Retention, Target, enforce
from shared.queue.redis_server import RedisServer, free_port
from shared.registry.model import ProjectIn, TeamIn
from shared.registry.store import RegistryStore
from shared.store.client import open_client
from shared.store.migrate import migrate
from worker.lifecycle import RETENTION_LAST

SECTION = "retention"
SPAN_DAYS = 365
DEFAULT_DAYS = 180
SHORT_DAYS = 30
SHORT_PROJECTS = ("p00", "p01", "p02", "p03", "p04")
"""5 of bench.query_data's 20 projects (p00 … p19) keep 30 days; the rest forever."""
PRISTINE = "bench_pristine"
"""The settled table every scenario and every /track run copies."""
MARGIN_MS = 3_600_000
"""A TTL expires by its own now() (the mutation's, seconds after the bench's): the rows the
check calls "newer" are those still unexpired an hour after the cutoff."""
DAY_MS = 86_400_000
WARMUP_SECONDS = 2.0
GRACE_SECONDS = 1.0
ENFORCE_TIMEOUT = 900.0
"""How long the bench waits, after a wrk run, for the worker's enforcement to end."""
DRAIN_TIMEOUT = 180.0

T = TypeVar("T")


# ---------------------------------------------------------------- the rows and their checks


def expired_sql(family: str, cutoff_ms: int) -> str:
    """SQL true for the rows `family`'s retention says expired at `cutoff_ms` (an integer: no
    client value reaches it)."""
    before = f"event_time < fromUnixTimestamp64Milli({int(cutoff_ms)}, 'UTC')"
    if family == "default":
        return before
    if family == "short":
        return f"project_id IN ({', '.join(repr(p) for p in SHORT_PROJECTS)}) AND {before}"
    raise ValueError(family)


def family_days(family: str) -> int:
    return DEFAULT_DAYS if family == "default" else SHORT_DAYS


@dataclass(frozen=True, slots=True)
class _Days:
    retention_days: int | None


def retention_for(family: str, now: datetime) -> Retention:
    if family == "default":
        return Retention.at(now, DEFAULT_DAYS, {})
    return Retention.at(now, 0, {p: _Days(SHORT_DAYS) for p in SHORT_PROJECTS})


# ---------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    slug: str
    label: str
    family: str
    """"default" (180 days, every project) or "short" (30 days, 5 projects)."""
    reference: str | None
    """The trackhouse scenario its ratios divide by (None: it is one, or a follow-up)."""
    follows: str | None = None
    """Runs on the copy that scenario left (a follow-up), not on a fresh one."""


SCENARIOS = (
    Scenario("enforce-default", "**trackhouse** `enforce`: 180-day default", "default", None),
    Scenario(
        "mask-default", "… then `APPLY DELETED MASK` (reclaim the masked rows)", "default", None,
        follows="enforce-default",
    ),
    Scenario("delete-default", "`ALTER TABLE … DELETE WHERE event_time < …`", "default", "enforce-default"),
    Scenario("ttl-default", "`MODIFY TTL event_time + INTERVAL 180 DAY`", "default", "enforce-default"),
    Scenario(
        "ttl-drop-default", "… the same with `ttl_only_drop_parts = 1`", "default", "enforce-default"
    ),
    Scenario("enforce-short", "**trackhouse** `enforce`: 30 days on 5 projects", "short", None),
    Scenario(
        "mask-short", "… then `APPLY DELETED MASK` (reclaim the masked rows)", "short", None,
        follows="enforce-short",
    ),
    Scenario(
        "delete-short", "`ALTER TABLE … DELETE WHERE project_id IN (…) AND event_time < …`", "short",
        "enforce-short",
    ),
    Scenario(
        "ttl-short", "`MODIFY TTL event_time + INTERVAL 30 DAY DELETE WHERE project_id IN (…)`", "short",
        "enforce-short",
    ),
)  # fmt: skip


@dataclass
class Measured:
    slug: str
    seconds: float
    rows_before: int
    rows_after: int
    new_parts: int
    new_parts_bytes: int
    """bytes_on_disk of the active parts the operation created (system.parts), hard links included."""
    written_bytes: int
    """The files of those parts that are not hard links: what was written."""
    disk_before: int
    disk_after: int
    """bytes_on_disk of the table's active parts."""
    expired_left: int
    """Expired rows a FINAL read still sees."""
    newer_missing: int
    """Rows still unexpired an hour after the cutoff that a FINAL read no longer sees."""
    detail: str = ""

    @property
    def removed(self) -> int:
        return self.rows_before - self.rows_after


@dataclass
class Store:
    """What the store child reports."""

    version: str
    generated_seconds: float
    settle_seconds: float
    rows: int
    partitions: int
    part_types: str
    """The settled table's parts by format, e.g. "13 Wide" (a Compact part, under 10 MiB, is one
    file: any mutation of it rewrites it whole)."""
    disk_bytes: int
    expired: dict[str, int]
    """Rows each family's retention says expired, in the settled table."""
    measured: dict[str, Measured] = field(default_factory=dict)
    """The median-time repetition of each scenario, by slug."""
    seconds: dict[str, list[float]] = field(default_factory=dict)
    """Every repetition's wall time, by slug."""


def _db(slug: str) -> str:
    return "bench_" + slug.replace("-", "_")


def _partitions(client: Client, database: str) -> list[str]:
    rows = client.query(
        "SELECT DISTINCT partition_id FROM system.parts WHERE database = {d:String} AND table = 'events' "
        "AND active ORDER BY partition_id",
        parameters={"d": database},
    ).result_rows
    return [str(p) for (p,) in rows]


def clone(client: Client, database: str) -> None:
    """`database`.events: the real schema (migrated), the settled table's parts hard-linked in."""
    client.command(f"DROP DATABASE IF EXISTS {database} SYNC")
    migrate(client, database)
    for partition in _partitions(client, PRISTINE):
        client.command(f"ALTER TABLE {database}.events ATTACH PARTITION ID '{partition}' FROM {PRISTINE}.events")


def _parts(client: Client, database: str) -> dict[str, tuple[int, str]]:
    rows = client.query(
        "SELECT name, bytes_on_disk, path FROM system.parts WHERE database = {d:String} AND table = 'events' "
        "AND active",
        parameters={"d": database},
    ).result_rows
    return {str(name): (int(size), str(path)) for name, size, path in rows}


def _unlinked_bytes(path: str) -> int:
    """Bytes of the part's files that no other part shares (st_nlink 1): written for it. Every
    copy's original files stay linked from the settled table, so they never count."""
    total = 0
    for entry in Path(path).rglob("*"):
        if entry.is_file():
            stat = entry.stat()
            if stat.st_nlink == 1:
                total += stat.st_size
    return total


def _count(client: Client, sql: str) -> int:
    return int(client.query(sql).result_rows[0][0])


def _report_detail(report: Report) -> str:
    months = len(report.partitions_dropped)
    return (
        f"{months} month{'s' if months != 1 else ''} dropped ({report.rows_in_dropped:,} rows), "
        f"{report.deletes} lightweight DELETE{'s' if report.deletes != 1 else ''} ({report.rows_deleted:,} rows)"
    )


def _act(client: Client, database: str, scenario: Scenario, now: datetime) -> str:
    """Run the scenario's operation on `database`.events; returns a note on what it did."""
    table = f"{database}.events"
    cutoff = int(now.timestamp() * 1000) - family_days(scenario.family) * DAY_MS
    kind = scenario.slug.rsplit("-", 1)[0]
    if kind == "enforce":
        return _report_detail(enforce(client, Target(database), retention_for(scenario.family, now)))
    if kind == "mask":
        client.command(f"ALTER TABLE {table} APPLY DELETED MASK SETTINGS mutations_sync = 2")
        return "rewrites the parts with masked rows without them"
    if kind == "delete":
        client.command(
            f"ALTER TABLE {table} DELETE WHERE {expired_sql(scenario.family, cutoff)} SETTINGS mutations_sync = 2"
        )
        return "one mutation, waited for (`mutations_sync = 2`)"
    ttl = f"event_time + INTERVAL {family_days(scenario.family)} DAY"
    if kind == "ttl-drop":
        client.command(f"ALTER TABLE {table} MODIFY SETTING ttl_only_drop_parts = 1")
    if scenario.family == "short":
        ttl += f" DELETE WHERE project_id IN ({', '.join(repr(p) for p in SHORT_PROJECTS)})"
    client.command(
        f"ALTER TABLE {table} MODIFY TTL {ttl} SETTINGS materialize_ttl_after_modify = 1, mutations_sync = 2"
    )
    return "TTL materialised at once, waited for"


def measure(client: Client, database: str, scenario: Scenario, now: datetime, newer_expected: int) -> Measured:
    table = f"{database}.events"
    cutoff = int(now.timestamp() * 1000) - family_days(scenario.family) * DAY_MS
    before = _parts(client, database)
    rows_before = _count(client, f"SELECT count() FROM {table}")
    started = time.perf_counter()
    detail = _act(client, database, scenario, now)
    seconds = time.perf_counter() - started
    after = _parts(client, database)
    new = {name: part for name, part in after.items() if name not in before}
    newer = f"NOT ({expired_sql(scenario.family, cutoff + MARGIN_MS)})"
    return Measured(
        slug=scenario.slug,
        seconds=seconds,
        rows_before=rows_before,
        rows_after=_count(client, f"SELECT count() FROM {table}"),
        new_parts=len(new),
        new_parts_bytes=sum(size for size, _ in new.values()),
        written_bytes=sum(_unlinked_bytes(path) for _, path in new.values()),
        disk_before=sum(size for size, _ in before.values()),
        disk_after=sum(size for size, _ in after.values()),
        expired_left=_count(
            client, f"SELECT count() FROM {table} FINAL WHERE {expired_sql(scenario.family, cutoff)}"
        ),
        newer_missing=newer_expected - _count(client, f"SELECT count() FROM {table} FINAL WHERE {newer}"),
        detail=detail,
    )


def run_store(chdb_dir: str, events: int, repeat: int) -> Store:
    """The store child: generate, settle, run every scenario `repeat` times on fresh copies.
    Leaves the settled table in `chdb_dir` for the /track runs."""
    client = open_client(f"chdb://{chdb_dir}")
    migrate(client, PRISTINE)
    print(f"generating {events:,} events over {SPAN_DAYS} days…", flush=True)
    now = datetime.now(UTC)
    # bench.query_data's generator, its span widened from 30 days to a year.
    with mock.patch.object(query_data, "DAYS", SPAN_DAYS):
        generated = query_data.generate(client, PRISTINE, events, end_ms=int(now.timestamp() * 1000))
    print("settling (OPTIMIZE TABLE … FINAL)…", flush=True)
    started = time.perf_counter()
    client.command(f"OPTIMIZE TABLE {PRISTINE}.events FINAL")
    settled = time.perf_counter() - started
    now = datetime.now(UTC)  # every scenario's "now": the same rows expire in each
    now_ms = int(now.timestamp() * 1000)
    table = f"{PRISTINE}.events"
    store = Store(
        version=str(client.query("SELECT version()").result_rows[0][0]),
        generated_seconds=generated,
        settle_seconds=settled,
        rows=_count(client, f"SELECT count() FROM {table}"),
        partitions=len(_partitions(client, PRISTINE)),
        part_types=", ".join(
            f"{n} {kind}"
            for kind, n in client.query(
                f"SELECT part_type, count() FROM system.parts WHERE database = '{PRISTINE}' AND table = 'events' "
                "AND active GROUP BY part_type ORDER BY part_type"
            ).result_rows
        ),
        disk_bytes=sum(size for size, _ in _parts(client, PRISTINE).values()),
        expired={
            family: _count(
                client, f"SELECT count() FROM {table} FINAL WHERE {expired_sql(family, now_ms - family_days(family) * DAY_MS)}"
            )
            for family in ("default", "short")
        },
    )
    newer = {
        family: _count(
            client,
            f"SELECT count() FROM {table} FINAL WHERE NOT ({expired_sql(family, now_ms - family_days(family) * DAY_MS + MARGIN_MS)})",
        )
        for family in ("default", "short")
    }
    runs: dict[str, list[Measured]] = {s.slug: [] for s in SCENARIOS}
    for repetition in range(repeat):
        for scenario in SCENARIOS:
            database = _db(scenario.follows or scenario.slug)
            if scenario.follows is None:
                clone(client, database)
            got = measure(client, database, scenario, now, newer[scenario.family])
            runs[scenario.slug].append(got)
            print(
                f"  [{repetition + 1}/{repeat}] {scenario.slug}: {got.seconds:.1f} s, {got.removed:,} rows removed, "
                f"{size(got.written_bytes)} written, {got.expired_left:,} expired left",
                flush=True,
            )
            followed = any(s.follows == scenario.slug for s in SCENARIOS)
            if not followed:
                client.command(f"DROP DATABASE IF EXISTS {database} SYNC")
    for slug, measured in runs.items():
        store.seconds[slug] = [m.seconds for m in measured]
        store.measured[slug] = sorted(measured, key=lambda m: m.seconds)[(len(measured) - 1) // 2]
    return store


# ---------------------------------------------------------------- /track while enforcing


@dataclass(frozen=True)
class TrackVariant:
    slug: str
    label: str
    default_days: int
    """TRACKHOUSE_RETENTION_DAYS of the API and the worker."""
    project_days: int | None
    """`retention_days` of the 5 projects in the registry (registered in every variant)."""
    family: str | None
    """Whose expired rows must be gone afterwards (None: nothing expires)."""


TRACK_VARIANTS = (
    TrackVariant("none", "nothing to enforce (reference)", 0, None, None),
    TrackVariant("default", "the worker enforces the 180-day default", DEFAULT_DAYS, None, "default"),
    TrackVariant("short", "the worker enforces 30 days on 5 projects", 0, SHORT_DAYS, "short"),
)
REFERENCE = "none"


@dataclass
class TrackRun:
    variant: str
    round_index: int
    load: LoadResult
    enforce_seconds: float | None
    """From releasing the lifecycle thread until its last-run key was written back (its poll:
    up to 1 s of it)."""
    worker_cpu_seconds: float
    api_cpu_seconds: float
    backlog_end: int
    """Jobs queued or running when the wrk run ended."""


def rotated(items: Sequence[T], round_index: int) -> list[T]:
    """Round r's order: `items` rotated by r."""
    shift = round_index % len(items)
    return [*items[shift:], *items[:shift]]


def round_ratios(runs: list[TrackRun], slug: str, reference: str = REFERENCE) -> list[float]:
    """Per round: the variant's 2xx requests/s ÷ the reference's in the same round."""
    mine = {r.round_index: r.load.requests_per_second for r in runs if r.variant == slug}
    base = {r.round_index: r.load.requests_per_second for r in runs if r.variant == reference}
    return [mine[i] / base[i] for i in sorted(mine) if i in base and base[i]]


def ratio(runs: list[TrackRun], slug: str) -> float | None:
    each = round_ratios(runs, slug)
    return statistics.median(each) if each else None


def prepare_track(chdb_dir: str, check: tuple[str, int] | None, fresh: bool) -> int | None:
    """A child between /track runs: the expired rows the last run's worker left (None: nothing
    to check), then, if `fresh`, trackhouse.events a new copy of the settled table."""
    client = open_client(f"chdb://{chdb_dir}")
    left = None
    if check is not None:
        family, cutoff = check
        left = _count(client, f"SELECT count() FROM {TRACKHOUSE_DB}.events FINAL WHERE {expired_sql(family, cutoff)}")
    if fresh:
        clone(client, TRACKHOUSE_DB)
    return left


def in_child(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a fresh (spawned) process: its chDB engine, and the directory's lock, end with it."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def _register(redis: Redis, variant: TrackVariant) -> None:
    store = RegistryStore(redis)
    store.create_team(TeamIn(team_id="t0", name="bench retention"))
    for project_id in SHORT_PROJECTS:
        store.create_project(
            ProjectIn(project_id=project_id, team_id="t0", name=project_id, retention_days=variant.project_days)
        )


def _watch(redis: Redis, stop: threading.Event, done_at: list[float]) -> None:
    while not stop.is_set():
        if redis.exists(RETENTION_LAST):
            done_at.append(time.monotonic())
            return
        time.sleep(0.05)


def _alive(*procs: Proc) -> None:
    for proc in procs:
        proc.check_alive()


def track_runs(
    chdb_dir: Path, workdir: Path, rounds: int, seconds: int, connections: int, threads: int
) -> tuple[list[TrackRun], list[str]]:
    runs: list[TrackRun] = []
    notes: list[str] = []
    redis_server = RedisServer(workdir / "redis", port=free_port())
    redis_url = redis_server.start()
    chdb_url = f"chdb://{chdb_dir}"
    port = free_port()
    topo = topology_for("track", port, redis_url, chdb_url, workdir)
    redis = Redis.from_url(redis_url)
    pending: tuple[str, int] | None = None
    pending_slug = ""
    verified = 0
    try:
        order = [(r, v) for r in range(rounds) for v in rotated(TRACK_VARIANTS, r)]
        for index, (round_index, variant) in enumerate(order):
            left = in_child(prepare_track, str(chdb_dir), pending, True)
            if left is not None:
                notes.append(f"{pending_slug}: {left:,} expired rows left in a FINAL read afterwards")
            redis.flushall()
            _register(redis, variant)
            redis.set(RETENTION_LAST, time.time())  # the lifecycle thread waits for its release
            env = {**topo.env, "TRACKHOUSE_RETENTION_DAYS": str(variant.default_days)}
            prefix = f"{variant.slug}-r{round_index + 1}"
            print(f"  /track run {index + 1}/{len(order)}: {prefix}", flush=True)
            with Processes() as procs:
                api = procs.start(f"api-{prefix}", topo.api_argv, env, workdir / f"api-{prefix}.log")
                wait_http_ok(f"http://127.0.0.1:{port}/healthz", api)
                worker = procs.start(f"worker-{prefix}", topo.worker_argv, env, workdir / f"worker-{prefix}.log")
                alive = partial(_alive, api, worker)
                wait_worker(redis, timeout_seconds=120, check_alive=alive)
                warm = run_wrk(
                    topo.spec, prefix=f"warm{prefix}", active_seconds=WARMUP_SECONDS, grace_seconds=GRACE_SECONDS,
                    connections=connections, threads=threads, workdir=workdir,
                )  # fmt: skip
                wait_drained(redis, topo.queue, timeout_seconds=DRAIN_TIMEOUT, check_alive=alive)
                stop, done_at = threading.Event(), list[float]()
                watch_redis = Redis.from_url(redis_url)
                watcher = threading.Thread(target=_watch, args=(watch_redis, stop, done_at))
                released = time.monotonic()
                wall = time.time()
                redis.delete(RETENTION_LAST)
                watcher.start()
                with PipelineMeter({"api": api.pid, "worker": worker.pid}) as meter:
                    load = run_wrk(
                        topo.spec, prefix=prefix, active_seconds=seconds, grace_seconds=GRACE_SECONDS,
                        connections=connections, threads=threads, workdir=workdir,
                    )  # fmt: skip
                at_end = backlog(redis, topo.queue)
                watcher.join(timeout=ENFORCE_TIMEOUT)
                stop.set()
                watcher.join()
                watch_redis.close()
                left_jobs, _ = wait_drained(redis, topo.queue, timeout_seconds=DRAIN_TIMEOUT, check_alive=alive)
                if left_jobs:
                    notes.append(f"{prefix}: {left_jobs:,} jobs still queued {DRAIN_TIMEOUT:.0f} s after the run")
                dead = failed(redis, topo.queue)
                if dead:
                    notes.append(f"{prefix}: {dead:,} jobs in the FailedJobRegistry")
                worker.stop(timeout_seconds=DRAIN_TIMEOUT)
                api.stop()
            enforced = done_at[0] - released if done_at else None
            if enforced is None:
                notes.append(f"{prefix}: enforcement not finished within {ENFORCE_TIMEOUT:.0f} s of the run")
            runs.append(
                TrackRun(
                    variant.slug, round_index, load, enforced, meter.used.get("worker", 0.0),
                    meter.used.get("api", 0.0), at_end,
                )
            )  # fmt: skip
            non_2xx = {s: n for s, n in load.statuses.items() if not 200 <= s < 300}
            if non_2xx or load.unanswered:
                notes.append(f"{prefix}: non-2xx {non_2xx}, {load.unanswered:,} unanswered")
            rows = read_phases(chdb_url, topo.database, [warm.prefix, prefix])
            for phase in (warm, load):
                verdict = exactly_once(phase, rows[phase.prefix], left_jobs)
                if not verdict.ok or not verdict.verified:
                    notes.append(verdict.message)
                else:
                    verified += phase.accepted_events
            pending = None
            if variant.family is not None:
                # The worker's cutoff is a little later than this one: all these rows expired for it.
                pending = (variant.family, int(wall * 1000) - family_days(variant.family) * DAY_MS)
            pending_slug = prefix
            print(
                f"    {load.requests_per_second:,.0f} requests/s, enforcement "
                f"{'–' if enforced is None else f'{enforced:.1f} s'}, {at_end:,} jobs queued at the end",
                flush=True,
            )
        left = in_child(prepare_track, str(chdb_dir), pending, False)
        if left is not None:
            notes.append(f"{pending_slug}: {left:,} expired rows left in a FINAL read afterwards")
        notes.append(f"{verified:,} accepted /track events checked stored exactly once (warm-ups included)")
    finally:
        redis.close()
        redis_server.stop()
    return runs, notes


# ---------------------------------------------------------------- the report


def size(n: float) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,.0f} B"


def times(x: float | None) -> str:
    if x is None or math.isnan(x) or math.isinf(x):
        return "–"
    if x >= 100:
        return f"{x:,.0f}×"
    if x >= 10:
        return f"{x:.1f}×"
    return f"{x:.2f}×"


def _over(a: float, b: float) -> float | None:
    return a / b if b else None


def scenario_table(store: Store) -> str:
    lines = [
        "| scenario | wall time | ÷ trackhouse | rows removed | new parts (`bytes_on_disk`) | written (not hard links) "
        "| ÷ trackhouse | table on disk before → after | expired rows in a `FINAL` read | newer rows intact |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario in SCENARIOS:
        m = store.measured.get(scenario.slug)
        if m is None:
            continue
        ref = store.measured.get(scenario.reference) if scenario.reference else None
        time_ratio = times(_over(m.seconds, ref.seconds)) if ref else "1.00×" if scenario.follows is None else "–"
        byte_ratio = (
            times(_over(m.written_bytes, ref.written_bytes)) if ref else "1.00×" if scenario.follows is None else "–"
        )
        removed = f"{m.removed:,}"
        expected = store.expired[scenario.family]
        if scenario.follows is None and m.removed != expected:
            removed += f" ({m.removed - expected:+,} vs expired)"
        expired = "✓ 0" if m.expired_left == 0 else f"✗ {m.expired_left:,}"
        newer = "✓" if m.newer_missing == 0 else f"✗ {m.newer_missing:,} missing"
        each = store.seconds.get(scenario.slug, [])
        spread = f" ({min(each):,.1f}–{max(each):,.1f})" if len(each) > 1 else ""
        lines.append(
            f"| {scenario.label} | {m.seconds:,.1f} s{spread} | {time_ratio} | {removed} | {m.new_parts} · {size(m.new_parts_bytes)} "
            f"| {size(m.written_bytes)} | {byte_ratio} | {size(m.disk_before)} → {size(m.disk_after)} | {expired} | {newer} |"
        )
    return "\n".join(lines)


def track_table(runs: list[TrackRun], seconds: int) -> str:
    lines = [
        "| /track while … | requests/s | per round | p50 | p99 | enforcement in the worker (of the "
        f"{seconds} s run) | worker CPU | jobs queued at the end | ÷ nothing to enforce (median of rounds) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for variant in TRACK_VARIANTS:
        mine = sorted((r for r in runs if r.variant == variant.slug), key=lambda r: r.round_index)
        if not mine:
            continue
        total = sum(r.load.ok_requests for r in mine) / sum(r.load.active_seconds for r in mine)
        rounds = " / ".join(f"{r.load.requests_per_second:,.0f}" for r in mine)
        p50 = statistics.median(r.load.p50_ms for r in mine)
        p99 = statistics.median(r.load.p99_ms for r in mine)
        enforced = [r.enforce_seconds for r in mine]
        spans = " / ".join("–" if e is None else f"{e:.1f} s" for e in enforced)
        cpu = statistics.median(r.worker_cpu_seconds for r in mine)
        queued = " / ".join(f"{r.backlog_end:,}" for r in mine)
        if variant.slug == REFERENCE:
            versus = "1.00× (reference)"
        else:
            each = round_ratios(runs, variant.slug)
            spread = f" (rounds {min(each):.2f}–{max(each):.2f}×)" if each else ""
            versus = f"**{times(ratio(runs, variant.slug))}**{spread}"
        lines.append(
            f"| {variant.label} | {total:,.0f} | {rounds} | {p50:.1f} ms | {p99:.1f} ms | {spans} | {cpu:.1f} s "
            f"| {queued} | {versus} |"
        )
    return "\n".join(lines)


def section(
    store: Store, runs: list[TrackRun] | None, notes: list[str], command: str, args: argparse.Namespace
) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    enforce_default = store.measured.get("enforce-default")
    enforce_short = store.measured.get("enforce-short")
    lines = [
        "## Retention enforcement (`make bench-retention`)",
        "",
        f"{when} · `nproc` {os.cpu_count()} · Python {platform.python_version()} · chDB {store.version} · "
        f"{store.rows:,} events over the last {SPAN_DAYS} days (bench.query_data's generator: "
        f"{query_data.PROJECTS} projects), {store.partitions} monthly partitions "
        f"({store.part_types} parts), {size(store.disk_bytes)} on disk · generated in {store.generated_seconds:.0f} s, settled (`OPTIMIZE … FINAL`) in "
        f"{store.settle_seconds:.0f} s",
        "",
        f"Command: `{command}` (from the repository root; `make bench-retention`, "
        "`RETENTION_EVENTS=N` for another size)",
        "",
        f"Each scenario on its own copy of the same settled table (the real schema; every partition attached "
        f"from it as hard links), at one instant: the 180-day default expires {store.expired['default']:,} rows, "
        f"30 days on {len(SHORT_PROJECTS)} of the {query_data.PROJECTS} projects "
        f"({', '.join(SHORT_PROJECTS)}; the rest forever) {store.expired['short']:,}. "
        + (
            f"Wall time: the median of {args.repeat} repetitions (in brackets the fastest and slowest), each "
            "on a fresh copy; the other figures are that repetition's. "
            if args.repeat > 1
            else "One repetition each. "
        )
        + "chDB has no `system.part_log`: *new parts* are the active parts the operation left that were not "
        "there before (`system.parts`, `bytes_on_disk`, which counts the files a mutation hard-links from the "
        "old part: a lightweight DELETE \"rewrites\" a whole part that way); *written* is the size of those "
        "parts' files that are not hard links (`st_nlink` 1), the bytes actually written. *Newer rows intact*: "
        "every row still unexpired an hour after the cutoff is there in a `FINAL` read (a TTL expires by its own "
        "`now()`, the seconds later of its mutation, so it takes a few rows more than the bench's instant).",
        "",
        scenario_table(store),
        "",
    ]
    if enforce_default and enforce_short:
        lines += [
            f"trackhouse's own steps: 180-day default: {enforce_default.detail}; 30 days on 5 projects: "
            f"{enforce_short.detail}. A lightweight DELETE only writes a mask column: the table keeps its size until "
            "merges (or `APPLY DELETED MASK`, measured above on the same copy) rewrite the parts; a month dropped "
            "whole frees its parts at once. A single-part month (settled, no inserts) is not merged again on its "
            "own, so its masked rows stay on disk until something rewrites it.",
            "",
        ]
    if runs:
        lines += [
            f"/track meanwhile: the split topology (`trackhouse api` + `trackhouse worker` owning chDB, "
            f"redis-server, enrichment on), wrk {args.threads} thread, {args.connections} connections, "
            f"{args.track_seconds} s a run, {args.rounds} rounds in rotated order. Each run: a fresh copy of the "
            f"settled table as `trackhouse.events`, a fresh Redis (registry: the 5 projects, with `retention_days` "
            f"30 only in the last variant), API and worker; after a {WARMUP_SECONDS:g} s warm-up, the worker's own "
            "lifecycle thread (what runs retention in production, every `RETENTION_INTERVAL_SECONDS`) is released "
            "as the measured run starts, by deleting its last-run key in Redis; in the reference it finds nothing "
            "to enforce. *Enforcement in the worker*: from the release until the thread wrote the key back (up to "
            "1 s of it is its poll); worker CPU: user + system seconds during the run. A ratio: the variant's 2xx "
            "requests/s ÷ the reference's in the same round, the median of the rounds'. The ratio is over the "
            "whole run, and enforcement lasted only the share of it shown: a slowdown only while it runs would "
            "show diluted by that share.",
            "",
            track_table(runs, args.track_seconds),
            "",
        ]
    if notes:
        lines += ["Notes:", "", *(f"- {note}" for note in notes), ""]
    return "\n".join(lines)


def auto_track_seconds(store: Store) -> int:
    """As long as trackhouse's longer enforcement took unloaded (under load it takes longer, so
    it covers the run), within 10–60 s."""
    spans = [store.measured[s].seconds for s in ("enforce-default", "enforce-short") if s in store.measured]
    return int(min(60, max(10, math.ceil(max(spans, default=10)))))


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench.retention", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of every scenario (3)")
    parser.add_argument(
        "--rounds", type=int, default=6, help="rounds of the /track variants (6: each twice in every position)"
    )
    parser.add_argument(
        "--track-seconds", type=int, default=None,
        help="seconds of each measured wrk run (default: trackhouse's longer unloaded enforcement, 10-60)",
    )  # fmt: skip
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--no-track", dest="track", action="store_false", help="skip the /track runs")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, data)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(args_list)
    if args.repeat < 1 or args.rounds < 1:
        parser.error("--repeat and --rounds must be >= 1")
    command = shlex.join(["python", "-m", "bench.retention", *args_list])
    workdir = Path(tempfile.mkdtemp(prefix="thb-retention-", dir="/tmp"))
    chdb_dir = workdir / "ch"
    started = time.monotonic()
    notes: list[str] = []
    runs: list[TrackRun] | None = None
    try:
        store = in_child(run_store, str(chdb_dir), args.events, args.repeat)
        if args.track:
            if shutil.which(wrk_binary()) is None:
                notes.append("wrk not found (apt-get install wrk): the /track runs were skipped")
            else:
                args.track_seconds = args.track_seconds or auto_track_seconds(store)
                print(f"/track: {args.rounds} rounds of {len(TRACK_VARIANTS)} runs, {args.track_seconds} s each…", flush=True)
                runs, notes = track_runs(
                    chdb_dir, workdir, args.rounds, args.track_seconds, args.connections, args.threads
                )
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"done in {time.monotonic() - started:.0f} s", file=sys.stderr)
    body = section(store, runs, notes, command, args)
    print("\n" + body)
    old = args.output.read_text() if args.output.exists() else "# Benchmarks\n"
    args.output.write_text(replace_section(old, SECTION, body))
    print(f"written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    # Run the importable copy, not this __main__ one: the spawned children get their functions
    # (and send back their dataclasses) by module name, which must be bench.retention.
    from bench import retention

    raise SystemExit(retention.main())
