"""What every contender shares: its settings, its row of figures, and the load phases.

A phase is one wrk run with its own event_id prefix (`fill`, `main`, `half`), so the rows
it stored can be told apart in ClickHouse afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.load import LoadResult, LoadSpec, run_wrk
from bench.meter import PipelineMeter, mib, per_thousand, percent_of_core, pipeline
from bench.procs import PYTHON

BENCH_DB = "trackhouse"
"""Database of the baselines' chDB directories (trackhouse uses its own default)."""


@dataclass(frozen=True)
class Config:
    duration: float
    connections: int
    threads: int
    backlog_seconds: float
    drain_timeout: float
    grace: float
    half_load: bool


@dataclass
class Result:
    name: str
    status: str = "ok"  # "ok" | "n/a" | "failed"
    accepted_per_s: float | None = None
    requests_per_s: float | None = None
    """2xx answers per second of load (the targets compare /batch's to bare's)."""
    p50_ms: float | None = None
    p99_ms: float | None = None
    drain_rows_per_s: float | None = None
    lag_p50_ms: float | None = None
    lag_p99_ms: float | None = None
    lag_p99_half_ms: float | None = None
    redis_bytes_per_event: float | None = None
    rss_bytes: int | None = None
    cpu_ms_per_1k: float | None = None
    """CPU milliseconds of every pipeline process (not wrk) per 1,000 events accepted in main,
    counted from main's start until its backlog is stored."""
    cells: dict[str, str] = field(default_factory=dict)
    """Text shown instead of a figure, by field name (e.g. "not drained: 12 jobs left")."""
    notes: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    """Exactly-once failures: make the whole run fail."""
    section: tuple[str, str] | None = None
    """(name, Markdown): a BENCHMARKS.md section of its own (`<!-- name:start -->`) that this
    contender's figures fill, printed and written after the notes."""


def uvicorn_argv(app: str, port: int) -> list[str]:
    return [
        PYTHON, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
        "--no-access-log", "--loop", "uvloop", "--http", "httptools", "--log-level", "warning",
    ]  # fmt: skip


def note_load(result: Result, phase: LoadResult) -> None:
    if phase.non_2xx:
        other = {s: n for s, n in phase.statuses.items() if not 200 <= s < 300}
        result.notes.append(f"{phase.prefix}: Non-2xx responses {phase.non_2xx:,} {other}")
    if phase.unanswered:
        result.notes.append(f"{phase.prefix}: {phase.unanswered:,} requests never answered")
    if phase.statuses.get(207):
        result.notes.append(f"{phase.prefix}: {phase.statuses[207]:,} answers were 207 (partly accepted)")


def main_figures(result: Result, main: LoadResult, rss: int) -> None:
    result.accepted_per_s = main.accepted_per_second
    result.requests_per_s = main.requests_per_second
    result.p50_ms, result.p99_ms = main.p50_ms, main.p99_ms
    result.rss_bytes = rss
    note_load(result, main)


def api_rss(meter: PipelineMeter) -> int:
    """The table's "API RSS": the API processes; in today's embedded topology the `trackhouse up`
    process, which serves the API itself (its worker threads and chDB with it)."""
    return meter.rss_peak.get("api") or meter.rss_peak.get("supervisor", 0)


def cost_figures(
    result: Result, main: LoadResult, meter: PipelineMeter, during_load: dict[str, float], jobs_left: int = 0
) -> None:
    """CPU while the load ran (% of one core, wrk too), CPU per 1,000 accepted events from
    main's start until they were stored (the pipeline only), and peak RSS per role."""
    result.notes.append(f"main: CPU, % of one core: {percent_of_core(during_load, main.active_seconds)}")
    used = pipeline(meter.used)
    if main.accepted_events and used:
        result.cpu_ms_per_1k = sum(used.values()) * 1e6 / main.accepted_events
        if jobs_left:  # the backlog's share is still to come: a lower bound
            result.cells["cpu_ms_per_1k"] = f"≥ {result.cpu_ms_per_1k:,.0f} ms (not drained)"
        result.notes.append(
            f"main: CPU per 1,000 events, until stored: {per_thousand(used, main.accepted_events)}"
        )
    result.notes.append(f"main: RSS peak: {mib(meter.rss_peak, meter.processes)}")


def load_phase(
    cfg: Config, spec: LoadSpec, prefix: str, workdir: Path, *, seconds: float = 0, rate: float = 0
) -> LoadResult:
    return run_wrk(
        spec,
        prefix=prefix,
        active_seconds=seconds or cfg.duration,
        grace_seconds=cfg.grace,
        connections=spec.connections or cfg.connections,
        threads=cfg.threads,
        workdir=workdir,
        rate=rate,
    )


def half_phase(
    result: Result,
    cfg: Config,
    spec: LoadSpec,
    main: LoadResult,
    workdir: Path,
    drain_per_s: float | None = None,
) -> LoadResult | None:
    """A run paced at half the sustainable rate: the lower of what the API accepted and what
    the worker drains (else a fast API would still bury a slow worker, and "lag at half load"
    would only measure a growing backlog)."""
    events_per_s = min(main.accepted_per_second, drain_per_s or float("inf")) / 2
    if not cfg.half_load or events_per_s <= 0:
        return None
    half = load_phase(cfg, spec, "half", workdir, rate=events_per_s / spec.events_per_request)
    result.notes.append(f"half: paced at {events_per_s:,.0f} events/s, got {half.accepted_per_second:,.0f}/s")
    return half
