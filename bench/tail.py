"""`python -m bench.tail` (`make bench-tail`): where the latency tail comes from, measured.

Runs what `make run` starts (`trackhouse up`, one API process so one interpreter holds every
request) under the bench's load, /track then /batch, with a probe in the API process
(bench/probe/sitecustomize.py: GC pauses, event-loop wake-up lateness, each group commit's
duration) and, when `py-spy` is installed, a sampling profile of the API process (non-blocking,
so it does not add to the tail it measures). Prints a table and rewrites BENCHMARKS.md's
`profile` section.

    python -m bench.tail [--duration 10] [--connections 64]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.embedded import up_env
from bench.load import BATCH_CONNECTIONS, BATCH_LUA, TRACK_LUA, LoadSpec, run_wrk
from bench.meter import role_of, walk
from bench.procs import PYTHON, ROOT, Processes, wait_http_ok
from bench.sections import replace_section
from shared.queue.redis_server import free_port

_BUCKETS = {  # inclusive share of samples whose stack passes through these (first match wins)
    "validation (pydantic, parse_event)": ("pydantic", "parse_event", "parse_events", "shared/event/"),
    "enqueue thread (columns, job, Redis)": ("group_commit.py", "shared/queue/", "rq/", "redis/"),
    "HTTP (uvicorn, httptools, starlette)": ("uvicorn/", "httptools", "h11", "starlette/"),
    "body decoding (orjson, api/body)": ("orjson", "api/body.py"),
    "event loop / idle": ("uvloop", "asyncio/", "selectors"),
}


STALL_SECONDS = 0.010
"""A wake-up this late is a stall: every request in the process waited that long."""


@dataclass
class Probe:
    gc: list[tuple[float, int, float]] = field(default_factory=list)
    """(started, generation, pause seconds)"""
    lag: list[tuple[float, float]] = field(default_factory=list)
    """(sleep started, seconds late)"""
    enqueue: list[tuple[float, int]] = field(default_factory=list)
    preempted: int = 0
    """Involuntary context switches of the API process during the load: the OS took the core."""

    def stalls_with_gc(self) -> tuple[int, int, float]:
        """(stalls, stalls during which a collection ran, share of stall time that was GC)."""
        stalls = [(t, late) for t, late in self.lag if late > STALL_SECONDS]
        with_gc, gc_time, stall_time = 0, 0.0, 0.0
        for started, late in stalls:
            end = started + 0.001 + late
            inside = [min(end, g + d) - max(started, g) for g, _, d in self.gc if g < end and g + d > started]
            with_gc += bool(inside)
            gc_time += sum(inside)
            stall_time += late
        return len(stalls), with_gc, gc_time / stall_time if stall_time else 0.0


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _api_pid(supervisor: int) -> int | None:
    return next((s.pid for role, s in walk({"supervisor": supervisor}) if role_of(s.cmdline) == "api"), None)


def _involuntary_switches(pid: int) -> int:
    """Summed over the process's threads (`/proc/PID/status` counts the main thread only)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith("nonvoluntary_ctxt_switches:"):
                total += int(line.split()[1])
    return total


def _profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy", path=f"{Path(PYTHON).parent}:{os.environ.get('PATH', '')}")
    if spy is None:
        return None
    argv = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "250",
            "--nonblocking", "--format", "raw", "--output", str(out)]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stacks(path: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    if path.exists():
        for line in path.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            if n.isdigit():
                counts[stack] += int(n)
    return counts


def _buckets(stacks: Counter[str]) -> list[tuple[str, float]]:
    total = sum(stacks.values()) or 1
    shares: Counter[str] = Counter()
    for stack, n in stacks.items():
        frames = stack.split(";")
        label = next(
            (name for name, marks in _BUCKETS.items() if any(m in f for f in frames for m in marks)), "other"
        )
        shares[label] += n
    return [(label, n / total) for label, n in shares.most_common()]


def _top_self(stacks: Counter[str], n: int = 8) -> list[tuple[str, float]]:
    total = sum(stacks.values()) or 1
    leaves: Counter[str] = Counter()
    for stack, count in stacks.items():
        leaves[stack.rsplit(";", 1)[-1]] += count
    return [(frame, count / total) for frame, count in leaves.most_common(n)]


def run_one(name: str, spec_of: Any, duration: float, connections: int, workdir: Path) -> dict[str, Any]:
    port = free_port()
    spec: LoadSpec = spec_of(f"http://127.0.0.1:{port}/api/events")
    probe_out = workdir / "probe.json"
    probe_env = {"BENCH_PROBE_OUT": str(probe_out), "PYTHONPATH": f"{ROOT / 'bench' / 'probe'}:{ROOT}"}
    env = up_env(workdir / "data", port, {"TRACKHOUSE_API_PROCESSES": "1", **probe_env})
    with Processes() as procs:
        up = procs.start(name, [PYTHON, "-m", "cli", "up"], env, workdir / "up.log")
        wait_http_ok(f"http://127.0.0.1:{port}/readyz", up, timeout_seconds=120)
        api = _api_pid(up.pid)
        spy = _profile(api, duration, workdir / "spy.txt") if api else None
        switches = _involuntary_switches(api) if api else 0
        load = run_wrk(spec, prefix=name.strip("/"), active_seconds=duration, grace_seconds=2,
                       connections=spec.connections or connections, threads=2, workdir=workdir)  # fmt: skip
        switches = (_involuntary_switches(api) - switches) if api else 0
        if spy is not None:
            spy.wait(timeout=60)
        up.stop(timeout_seconds=120)
    probe = Probe()
    for path in workdir.glob("probe.json.*"):
        data = json.loads(path.read_text())
        probe.gc += [(float(t), int(g), float(d)) for t, g, d in data["gc"]]
        probe.lag += [(float(t), float(late)) for t, late in data["lag"]]
        probe.enqueue += [(float(d), int(n)) for d, n in data["enqueue"]]
    probe.preempted = switches
    stacks = _stacks(workdir / "spy.txt")
    return {"name": name, "load": load, "probe": probe, "stacks": stacks, "profiled": spy is not None}


def render(results: list[dict[str, Any]], command: str) -> str:
    lines = [
        "## Where the latency tail comes from",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · `{command}` (`make bench-tail`): `trackhouse up` with one",
        "API process, a probe in it (bench/probe/sitecustomize.py) and py-spy sampling it.",
        "",
        "| load | requests/s | p50 | p99 | GC pauses (gen 2) | GC max | loop late p99 / max | stalls > 10 ms | … with a GC in them (GC's share of stall time) | preempted by the OS | enqueue p50 / p99 / max | events per enqueue |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        load, probe = r["load"], r["probe"]
        pauses = [d for _, _, d in probe.gc]
        full = sum(1 for _, g, _ in probe.gc if g == 2)
        lateness = [late for _, late in probe.lag]
        stalls, with_gc, gc_share = probe.stalls_with_gc()
        enq = [d for d, _ in probe.enqueue]
        events = sum(n for _, n in probe.enqueue) / max(1, len(probe.enqueue))
        lines.append(
            f"| {r['name']} | {load.requests_per_second:,.0f} | {load.p50_ms:.0f} ms | {load.p99_ms:.0f} ms "
            f"| {len(pauses):,} ({full}) | {max(pauses, default=0) * 1000:.1f} ms "
            f"| {_quantile(lateness, 0.99) * 1000:.1f} / {max(lateness, default=0) * 1000:.0f} ms "
            f"| {stalls:,} | {with_gc:,} ({gc_share:.0%}) | {probe.preempted:,} "
            f"| {_quantile(enq, 0.5) * 1000:.1f} / {_quantile(enq, 0.99) * 1000:.1f} / {max(enq, default=0) * 1000:.0f} ms "
            f"| {events:,.1f} |"
        )  # fmt: skip
    for r in results:
        if not r["profiled"]:
            lines += ["", f"**{r['name']}**: no profile (`pip install py-spy` for one)."]
            continue
        buckets = ", ".join(f"{label} {share:.0%}" for label, share in _buckets(r["stacks"]))
        top = ", ".join(f"`{frame.split(' (')[0]}` {share:.0%}" for frame, share in _top_self(r["stacks"]))
        lines += ["", f"**{r['name']}** (py-spy, {sum(r['stacks'].values()):,} samples): {buckets}.",
                  f"Top frames by own time: {top}."]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tail", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds of load per run (10)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections for /track (64)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    loads = {
        "/track": lambda base: LoadSpec(f"{base}/track", TRACK_LUA),
        "/batch": lambda base: LoadSpec(
            f"{base}/batch", BATCH_LUA, events_per_request=100, connections=BATCH_CONNECTIONS
        ),  # fmt: skip
    }
    results = []
    for name, spec_of in loads.items():
        workdir = Path(tempfile.mkdtemp(prefix="thb-tail-", dir="/tmp"))
        try:
            results.append(run_one(name, spec_of, args.duration, args.connections, workdir))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    command = "python -m bench.tail" + "".join(f" {a}" for a in (sys.argv[1:] if argv is None else argv))
    text = render(results, command)
    print(text)
    old = args.output.read_text() if args.output.exists() else "# Benchmarks\n"
    args.output.write_text(replace_section(old, "profile", text))
    print(f"\nwritten to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
