"""Driving wrk with the bench's Lua scripts and reading back their exact counts.

wrk's own "Requests/sec" counts every response (non-2xx too) over the whole -d, so the
scripts count responses per status themselves and write them (with wrk's latency
percentiles) as JSON to BENCH_COUNTS. Requests are sent for `active_seconds`, then wrk
keeps running for `grace_seconds` with every connection parked, so in-flight requests get
their answer instead of being cut off: accepted vs stored can then be compared exactly.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.procs import ROOT, clean_env

TRACK_LUA = ROOT / "bench" / "track.lua"
BATCH_LUA = ROOT / "bench" / "batch.lua"
BATCH_CONNECTIONS = 16
"""/batch's load: 16 connections of 100 events each, as the performance targets measure it (64 of them only
lengthen the queue in front of the API: the same events/s, p99 four times longer)."""


@dataclass(frozen=True)
class LoadSpec:
    url: str
    script: Path
    events_per_request: int = 1
    connections: int | None = None
    """wrk connections for this load (None: the run's --connections)."""
    headers: tuple[tuple[str, str], ...] = ()
    """Extra request headers (track.lua only: a write key, an Origin)."""


@dataclass(frozen=True)
class LoadResult:
    prefix: str
    active_seconds: float
    events_per_request: int
    sent: int
    statuses: dict[int, int]
    partial_events: int
    """Events accepted by 207 answers (batch: some events of the request rejected)."""
    p50_ms: float
    p99_ms: float
    socket_errors: int
    timeouts: int

    @property
    def ok_requests(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def responses(self) -> int:
        return sum(self.statuses.values())

    @property
    def non_2xx(self) -> int:
        return self.responses - self.ok_requests

    @property
    def unanswered(self) -> int:
        """Requests sent whose answer never arrived (cut off or failed): their fate is unknown."""
        return self.sent - self.responses

    @property
    def accepted_events(self) -> int:
        whole = self.ok_requests - self.statuses.get(207, 0)
        return whole * self.events_per_request + self.partial_events

    @property
    def accepted_per_second(self) -> float:
        return self.accepted_events / self.active_seconds

    @property
    def requests_per_second(self) -> float:
        return self.ok_requests / self.active_seconds


def wrk_binary() -> str:
    found = shutil.which("wrk") or "/usr/bin/wrk"
    return found


def run_wrk(
    spec: LoadSpec,
    *,
    prefix: str,
    active_seconds: float,
    grace_seconds: float,
    connections: int,
    threads: int,
    workdir: Path,
    rate: float = 0.0,
) -> LoadResult:
    """One wrk run against `spec.url`; `rate` > 0 paces it (total requests/s)."""
    counts = workdir / f"wrk-{prefix}.json"
    counts.unlink(missing_ok=True)
    duration = int(round(active_seconds + grace_seconds))
    env = clean_env(
        {
            "BENCH_PREFIX": prefix,
            "BENCH_ACTIVE_S": f"{active_seconds:.3f}",
            "BENCH_RATE": f"{rate:.3f}",
            "BENCH_THREADS": str(threads),
            "BENCH_COUNTS": str(counts),
            "BENCH_EVENTS_PER_REQUEST": str(spec.events_per_request),
            "BENCH_HEADERS": "\n".join(f"{name}: {value}" for name, value in spec.headers),
        }
    )
    argv = [
        wrk_binary(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",  # slow answers still count; wrk's default 2 s would only add noise
        "--latency",
        "-s",
        str(spec.script),
        spec.url,
    ]
    log_path = workdir / f"wrk-{prefix}.log"
    with log_path.open("wb") as log:
        subprocess.run(
            argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=duration + 60
        )
    if not counts.exists():
        raise RuntimeError(f"wrk wrote no counts (see {log_path})")
    data = json.loads(counts.read_text())
    errors = data["errors"]
    return LoadResult(
        prefix=prefix,
        active_seconds=active_seconds,
        events_per_request=spec.events_per_request,
        sent=int(data["sent"]),
        statuses={int(k): int(v) for k, v in data["statuses"].items()},
        partial_events=int(data["partial_events"]),
        p50_ms=data["latency_us"]["p50"] / 1000,
        p99_ms=data["latency_us"]["p99"] / 1000,
        socket_errors=int(errors["connect"] + errors["read"] + errors["write"]),
        timeouts=int(errors["timeout"]),
    )
