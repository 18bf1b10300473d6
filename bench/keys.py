"""`track-key`: /track without a write key against /track with a registry write key, on the same
API process, in the same run, interleaved; and, each against its own keyless run, the same with
an `Origin` (a browser's request: CORS applies) from a page the key's project lists in `domains`.

The split topology of `track` (`trackhouse api` + `trackhouse worker`, redis-server, chDB,
enrichment on), one API process. Before the API starts, the registry gets a team and two
projects with a write key each: `proj789`, the project track.lua's events name (so the keyless
events also name a registered project and pay its lookup), and `proj789-web` with `domains`.
Each variant is one short wrk run (`--duration`, 4 s); a round runs every variant once, each
round in an order rotated by one (ABCD, BCDA, ...), so drift of the machine (and of the queue,
the store) weighs on every variant alike; the queue is drained before every run. A short
warm-up of each variant comes first and is not counted. Figures: 2xx answers per second of
load over all rounds, p50/p99 the median of the runs' (wrk's), API CPU per 1,000 answers. The
ratio: in each round, a variant's requests/s ÷ its keyless variant's; the median of the rounds'
(on a shared machine another job's burst of CPU spoils a round or two, not the median).
Every accepted event is checked stored exactly once.

    python -m bench.keys [--duration 4] [--rounds 8] [--connections 64]

prints the table and rewrites its section of BENCHMARKS.md (`make bench` runs it too, as the
`track-key` contender, and writes the same section).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from redis import Redis

from bench.checks import exactly_once
from bench.load import TRACK_LUA, LoadResult, LoadSpec
from bench.meter import PipelineMeter
from bench.phase import Config, Result, load_phase, note_load
from bench.procs import ROOT, Proc, Processes, wait_http_ok
from bench.queue_probe import failed, wait_drained, wait_worker
from bench.queued import topology_for
from bench.sections import replace_section
from bench.store_read import read_phases
from shared.queue.redis_server import RedisServer, free_port
from shared.registry.model import KeyIn, ProjectIn, TeamIn
from shared.registry.store import RegistryStore

SECTION = "write-keys"
TARGET = 0.95
"""/track with a write key keeps at least this share of the keyless throughput."""
ROUNDS = 8
"""Twice as many as variants: each runs twice in every position of the order."""
RUN_SECONDS = 4.0
"""Short runs, many rounds: the variants' runs lie close together in time."""
GRACE_SECONDS = 1.0
"""In-flight requests are answered within milliseconds (p99 < 100 ms): 1 s is plenty."""
WARMUP_SECONDS = 2.0
TEAM, PROJECT, WEB_PROJECT = "team456", "proj789", "proj789-web"
"""track.lua's events name team456 / proj789."""
DOMAINS = ["example.com", "*.example.com"]
ORIGIN = "https://www.example.com"


@dataclass(frozen=True)
class Variant:
    slug: str
    """The event_id prefix of its runs: `<slug>-r<round>` (no dash: no run's prefix may begin
    another's, rows are told apart by `startswith(event_id, prefix + "-")`)."""
    label: str
    key: str | None
    """Which registry key it sends (X-Write-Key): "plain" (proj789's), "web" (proj789-web's)."""
    origin: bool
    baseline: str
    """The slug of the keyless variant its ratio divides by."""


VARIANTS = (
    Variant("nokey", "no key", None, False, "nokey"),
    Variant("key", "registry write key (`X-Write-Key`)", "plain", False, "nokey"),
    Variant("origin", f"no key, `Origin: {ORIGIN}`", None, True, "origin"),
    Variant("keyorigin", "write key of a project with `domains`, matching `Origin`", "web", True, "origin"),
)
KEYED = "key"
"""The variant the main table's `track-key` row shows, and the target is about."""


@dataclass
class Runs:
    """One variant's counted runs."""

    loads: list[LoadResult] = field(default_factory=list)
    api_cpu_seconds: list[float] = field(default_factory=list)

    @property
    def ok_requests(self) -> int:
        return sum(load.ok_requests for load in self.loads)

    @property
    def per_second(self) -> float:
        seconds = sum(load.active_seconds for load in self.loads)
        return self.ok_requests / seconds if seconds else 0.0

    @property
    def p50_ms(self) -> float:
        return statistics.median(load.p50_ms for load in self.loads)

    @property
    def p99_ms(self) -> float:
        return statistics.median(load.p99_ms for load in self.loads)

    @property
    def cpu_ms_per_1k(self) -> float | None:
        return sum(self.api_cpu_seconds) * 1e6 / self.ok_requests if self.ok_requests else None


def rotated(variants: tuple[Variant, ...], round_index: int) -> list[Variant]:
    """Round r's order: the variants rotated by r (every variant runs first once in n rounds)."""
    shift = round_index % len(variants)
    return [*variants[shift:], *variants[:shift]]


def _register(redis: Redis) -> dict[str, str]:
    """The bench's team, projects and write keys; returns the secrets by Variant.key."""
    store = RegistryStore(redis)
    store.create_team(TeamIn(team_id=TEAM, name="bench"))
    store.create_project(ProjectIn(project_id=PROJECT, team_id=TEAM, name="bench app"))
    store.create_project(ProjectIn(project_id=WEB_PROJECT, team_id=TEAM, name="bench web", domains=DOMAINS))
    return {
        "plain": store.create_key(KeyIn(kind="write", name="bench"), project_id=PROJECT).key,
        "web": store.create_key(KeyIn(kind="write", name="bench web"), project_id=WEB_PROJECT).key,
    }


def _spec(url: str, variant: Variant, secrets: dict[str, str]) -> LoadSpec:
    headers: list[tuple[str, str]] = []
    if variant.key is not None:
        headers.append(("X-Write-Key", secrets[variant.key]))
    if variant.origin:
        headers.append(("Origin", ORIGIN))
    return LoadSpec(url, TRACK_LUA, headers=tuple(headers))


def run_keys(
    cfg: Config,
    workdir: Path,
    rounds: int = ROUNDS,
    command: str = "python -m bench.run",
    seconds: float = RUN_SECONDS,
) -> Result:
    """`cfg`'s connections and threads; each run `seconds` long (not `cfg.duration`: bench.run's
    10 s for 4 × 8 runs would take 8 minutes), its grace at most GRACE_SECONDS."""
    cfg = replace(cfg, duration=seconds, grace=min(cfg.grace, GRACE_SECONDS))
    result = Result("track-key")
    redis_server = RedisServer(workdir / "redis", port=free_port())
    redis_url = redis_server.start()
    chdb_url = f"chdb://{workdir / 'ch'}"
    port = free_port()
    topo = topology_for("track", port, redis_url, chdb_url, workdir)
    redis = Redis.from_url(redis_url)
    runs = {variant.slug: Runs() for variant in VARIANTS}
    order: list[str] = []
    prefixes: list[tuple[str, LoadResult]] = []
    try:
        secrets = _register(redis)  # before the API starts: its first snapshot has them
        specs = {v.slug: _spec(topo.spec.url, v, secrets) for v in VARIANTS}
        with Processes() as procs:
            api = procs.start("track-key-api", topo.api_argv, topo.env, workdir / "api.log")
            wait_http_ok(f"http://127.0.0.1:{port}/healthz", api)
            worker = procs.start("track-key-worker", topo.worker_argv, topo.env, workdir / "worker.log")
            alive = partial(_alive, api, worker)
            wait_worker(redis, timeout_seconds=120, check_alive=alive)

            def drain(before: str) -> None:
                left, _ = wait_drained(
                    redis, topo.queue, timeout_seconds=cfg.drain_timeout, check_alive=alive
                )
                if left:
                    raise RuntimeError(f"{left:,} jobs still queued after {cfg.drain_timeout:.0f} s ({before})")

            for variant in VARIANTS:  # not counted: every code path warm before the first figure
                drain(f"before warm-{variant.slug}")
                prefix = f"warm-{variant.slug}"
                warm = load_phase(cfg, specs[variant.slug], prefix, workdir, seconds=WARMUP_SECONDS)
                prefixes.append((prefix, warm))
            rss = 0
            for round_index in range(rounds):
                for variant in rotated(VARIANTS, round_index):
                    drain(f"before {variant.slug}-r{round_index + 1}")
                    prefix = f"{variant.slug}-r{round_index + 1}"
                    with PipelineMeter({"api": api.pid}) as meter:
                        load = load_phase(cfg, specs[variant.slug], prefix, workdir)
                    runs[variant.slug].loads.append(load)
                    runs[variant.slug].api_cpu_seconds.append(meter.used.get("api", 0.0))
                    if variant.slug == KEYED:  # the main table's row: the keyed runs'
                        rss = max(rss, meter.rss_peak.get("api", 0))
                    order.append(prefix)
                    prefixes.append((prefix, load))
                    note_load(result, load)
            drain("at the end")
            dead = failed(redis, topo.queue)
            if dead:
                result.notes.append(f"{dead:,} jobs in the FailedJobRegistry")
            worker.stop(timeout_seconds=cfg.drain_timeout)  # warm: finishes the job in hand
            api.stop()
    finally:
        redis.close()
        redis_server.stop()

    rows = read_phases(chdb_url, topo.database, [prefix for prefix, _ in prefixes])
    for prefix, load in prefixes:
        checked = exactly_once(load, rows[prefix], 0)
        if not checked.ok:
            result.violations.append(checked.message)
            result.notes.append(checked.message)
    verified = sum(load.accepted_events for _, load in prefixes)
    if not result.violations:
        result.notes.append(f"exactly once in every run ({verified:,} events, warm-ups included)")
    result.notes.append(f"order: {', '.join(order)}")

    keyed = runs[KEYED]
    result.accepted_per_s = result.requests_per_s = keyed.per_second
    result.p50_ms, result.p99_ms = keyed.p50_ms, keyed.p99_ms
    result.rss_bytes = rss
    result.notes.append(
        f"{TARGET:g}× target: {verdict_line(runs)}; every variant in the `{SECTION}` section"
    )
    result.section = (SECTION, section(runs, cfg, rounds, command))
    return result


def _alive(*procs: Proc) -> None:
    for proc in procs:
        proc.check_alive()


def round_ratios(runs: dict[str, Runs], variant: Variant) -> list[float]:
    """Each round's requests/s of `variant` ÷ its keyless variant's in the same round."""
    mine, base = runs[variant.slug].loads, runs[variant.baseline].loads
    return [m.requests_per_second / b.requests_per_second for m, b in zip(mine, base, strict=True)]


def ratio(runs: dict[str, Runs], variant: Variant) -> float:
    """The median of the rounds' ratios: a burst of someone else's load spoils one round's, not
    the figure (the ratio of the totals would weigh it in)."""
    return statistics.median(round_ratios(runs, variant))


def totals_ratio(runs: dict[str, Runs], variant: Variant) -> float:
    base = runs[variant.baseline].per_second
    return runs[variant.slug].per_second / base if base else 0.0


def _spread(runs: dict[str, Runs], variant: Variant) -> str:
    each = round_ratios(runs, variant)
    return f"rounds {min(each):.3f}–{max(each):.3f}×, totals {totals_ratio(runs, variant):.3f}×"


def verdict_line(runs: dict[str, Runs]) -> str:
    keyed = next(v for v in VARIANTS if v.slug == KEYED)
    got = ratio(runs, keyed)
    mark = "✓" if got >= TARGET else "✗"
    return (
        f"{mark} /track with a write key ≥ {TARGET:g}× the requests/s without one: {got:.3f}× "
        f"(median of the rounds; {_spread(runs, keyed)})"
    )


def _label(slug: str) -> str:
    return next(v.label for v in VARIANTS if v.slug == slug)


def table(runs: dict[str, Runs]) -> str:
    lines = [
        "| /track | requests/s | per round | p50 | p99 | API CPU ms / 1k requests | ÷ keyless (median of rounds) |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant in VARIANTS:
        mine = runs[variant.slug]
        rounds = " / ".join(f"{load.requests_per_second:,.0f}" for load in mine.loads)
        cpu = "–" if mine.cpu_ms_per_1k is None else f"{mine.cpu_ms_per_1k:,.0f} ms"
        if variant.slug == variant.baseline:
            versus = "1.00× (reference)"
        else:
            versus = (
                f"**{ratio(runs, variant):.3f}×** {_label(variant.baseline)} ({_spread(runs, variant)})"
            )
        lines.append(
            f"| {variant.label} | {mine.per_second:,.0f} | {rounds} | {mine.p50_ms:.1f} ms | "
            f"{mine.p99_ms:.1f} ms | {cpu} | {versus} |"
        )
    return "\n".join(lines)


def section(runs: dict[str, Runs], cfg: Config, rounds: int, command: str) -> str:
    web = Variant("keyorigin", "", "web", True, "nokey")
    against_keyless = (
        f" Against keyless requests without an Origin the domain-checked key keeps {ratio(runs, web):.3f}×; "
        "the rest of that difference is CORS, which every request with an Origin pays, key or none."
    )
    return (
        "## /track with a registry write key\n\n"
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · `trackhouse api` (one process) + `trackhouse worker`, "
        f"chDB, enrichment on · wrk {cfg.threads} threads, {cfg.connections} connections, "
        f"{cfg.duration:g} s a run · {rounds} rounds\n\n"
        f"Command: `{command}` (from the repository root; `python -m bench.keys` rewrites only this "
        "section; `make bench` runs the same as its `track-key` contender)\n\n"
        f"{table(runs)}\n\n"
        f"{verdict_line(runs)}.{against_keyless}\n\n"
        "One API process, redis-server and chDB, fresh for the run, serve every variant; the registry "
        f"holds a team, the project the events name (`{PROJECT}`, so keyless events too name a registered "
        f"project; its write key sent as `X-Write-Key`) and `{WEB_PROJECT}` (`domains` "
        f"{', '.join(DOMAINS)}; its key sent with `Origin: {ORIGIN}`). Each round runs every variant "
        f"once, in an order rotated by one each round (ABCD, BCDA, …), the queue drained before each "
        f"run, after a {WARMUP_SECONDS:g} s warm-up of each variant that is not counted. Requests/s: 2xx "
        "answers over the seconds of load of all rounds (per round: each run's); p50/p99: the median "
        "of the runs' (wrk's); API CPU: the API process's user + system time per 1,000 answers. A "
        "ratio: in each round, the variant's requests/s ÷ the keyless variant's (with an Origin, the "
        "keyless one with the same Origin); the figure is the median of the rounds' ratios, in "
        "brackets their lowest and highest and the ratio of the totals. Every accepted event was "
        "checked stored exactly once."
    )


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench.keys", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=float, default=RUN_SECONDS, help=f"seconds of load per run ({RUN_SECONDS:g})"
    )
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"rounds of every variant ({ROUNDS})")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument(
        "--grace", type=float, default=GRACE_SECONDS, help=f"seconds for in-flight requests ({GRACE_SECONDS:g})"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, data)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(args_list)
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    cfg = Config(
        duration=args.duration, connections=args.connections, threads=args.threads,
        backlog_seconds=0, drain_timeout=90, grace=args.grace, half_load=False,
    )  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="thb-keys-", dir="/tmp"))
    started = time.monotonic()
    command = shlex.join(["python", "-m", "bench.keys", *args_list])
    try:
        result = run_keys(cfg, workdir, args.rounds, command, args.duration)
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"done in {time.monotonic() - started:.0f} s", file=sys.stderr)
    assert result.section is not None
    name, body = result.section
    print(body)
    print("\n" + "\n".join(f"- {note}" for note in result.notes))
    old = args.output.read_text() if args.output.exists() else ""
    args.output.write_text(replace_section(old, name, body))
    print(f"\nwritten to {args.output}", file=sys.stderr)
    for violation in result.violations:
        print(f"EXACTLY-ONCE VIOLATION: {violation}", file=sys.stderr)
    return 1 if result.violations else 0


if __name__ == "__main__":
    sys.exit(main())
