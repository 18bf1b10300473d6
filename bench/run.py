"""`python -m bench.run` (`make bench`): every contender, one after the other, on this machine,
with the same load generator; prints one table and the performance targets, and rewrites BENCHMARKS.md
(the sections other commands own, `<!-- NAME:start -->…<!-- NAME:end -->`, are kept).

    python -m bench.run [--duration 10] [--connections 64] [--only bare,track]

Exit status 1 if a contender failed or trackhouse broke exactly-once delivery.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import FrameType

from bench import direct, embedded, keys, queued, report
from bench.load import BATCH_CONNECTIONS, wrk_binary
from bench.phase import Config, Result
from bench.procs import ROOT
from bench.sections import block, rewrite_keeping_sections

RUNNERS: dict[str, Callable[[Config, Path], Result]] = {
    "bare": direct.run_bare,
    "naive": direct.run_naive,
    "plain": partial(queued.run_queued, "plain"),
    "track": partial(queued.run_queued, "track"),
    "track-noenrich": partial(queued.run_queued, "track-noenrich"),
    "track-replica": partial(queued.run_queued, "track-replica"),
    "track-key": keys.run_keys,
    "batch": partial(queued.run_queued, "batch"),
    "batch-2proc": partial(queued.run_queued, "batch-2proc"),
    "embedded": partial(embedded.run_embedded, "embedded"),
    "embedded-batch": partial(embedded.run_embedded, "embedded-batch"),
    "embedded-1api": partial(embedded.run_embedded, "embedded-1api"),
    "embedded-batch-1api": partial(embedded.run_embedded, "embedded-batch-1api"),
}

ABOUT = """\
Contenders: **bare** FastAPI that only parses JSON (the per-request ceiling); **naive** validation
+ one synchronous chDB insert per request; **plain** the textbook design: one RQ job per event, one
insert per job (bench/plain_*.py); **track** trackhouse (`trackhouse api` + `trackhouse worker`,
split topology, chDB) on `POST /api/events/track` (a Chrome user agent, enrichment on, the default);
**track-noenrich** the same with every enrichment step off (the difference is enrichment's cost);
**track-replica** the same with a Redis replica and `REDIS_MIN_REPLICAS_ACK=1` (201 once `WAIT`
confirms the replica holds the job: the difference is what replicated acknowledgements cost);
**track-key** the same (one API process, the worker beside it) with a registry write key on every
request, its runs interleaved with keyless ones on the same process (its figures: the keyed runs';
the comparison, with and without an Origin, is its own section below, bench/keys.py);
**batch** the same as track on `POST /api/events/batch`
with {batch} events per request; **batch-2proc** the same with `trackhouse api --processes 2`
(RSS and CPU of the API: the supervisor and its children together); **embedded** what `make run`
starts, `trackhouse up` (its own redis-server, chDB and the workers under one data dir) on /track,
**embedded-batch** the same on /batch. Every contender gets fresh data dirs and free loopback ports.

Load: wrk, {threads} threads, {connections} connections ({batch_connections} for /batch), requests sent for {duration:g} s, then
{grace:g} s in which connections send nothing more so every in-flight request is answered.
Events/s: 2xx answers (counted by the Lua scripts) × events per request, over the {duration:g} s.
Latency p50/p99: wrk's. Queue-based contenders run four phases: *fill* (API alone for
{backlog:g} s: Redis `used_memory` growth / events accepted), *drain* (the worker starts on that
backlog: rows stored / time from its first dequeue to an empty queue, its capacity), *main*
(full load while the worker drains: events/s, latency, lag, RSS, CPU) and *half* (paced, open
loop, at half the sustainable rate: the lower of main's events/s and the drain rate).
The embedded contenders have no separate worker: main and half only.
Lag: `inserted_at − received_at` of the phase's rows (201 → row visible). RSS: peak VmRSS of the
API process(es) from main's start until its backlog is stored. CPU ms / 1k events: user + system
CPU of every pipeline process (not wrk, not the harness) from main's start until its backlog is
stored, per 1,000 events accepted in main. The notes split both per role, each process under the
contender's own found by its command line: `api` (`trackhouse api` and its children), `worker`,
`store` (`trackhouse store`), `redis` (redis-server), `supervisor` (`trackhouse up` itself: until
it supervises children, the API, the worker threads and chDB in one process, whose RSS is then the
API's). Ratios divide this row's figure by bare's / plain's, whatever the direction. Exactly once: after draining, rows, distinct event_ids and accepted events of each
phase must be equal (rows are counted without FINAL; a background merge could hide a duplicate).
Everything shares {cpus} cores with wrk, so figures are relative, not capacity planning."""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _nproc() -> str:
    try:
        return subprocess.run(["nproc"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return str(os.cpu_count())


def _wrk_version() -> str:
    try:
        out = subprocess.run([wrk_binary(), "--version"], capture_output=True, text=True, timeout=5)
        return (out.stdout or out.stderr).splitlines()[0].split(" Copyright")[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "wrk"


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark every contender on this machine; print one table, rewrite BENCHMARKS.md.",
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds of load per main phase (10)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(RUNNERS)}")
    parser.add_argument("--backlog-seconds", type=float, default=3, help="fill phase, API alone (3)")
    parser.add_argument(
        "--drain-timeout", type=float, default=90, help="longest wait for a queue to drain (90)"
    )
    parser.add_argument(
        "--grace", type=float, default=3, help="seconds for in-flight requests after load (3)"
    )
    parser.add_argument("--no-half-load", action="store_true", help="skip the paced half-load phase")
    parser.add_argument("--keep", action="store_true", help="keep temp dirs (logs, data) of every contender")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(RUNNERS)
    unknown = [n for n in names if n not in RUNNERS]
    if unknown:
        parser.error(f"unknown contender(s) {unknown}; choose from {list(RUNNERS)}")
    if args.connections < args.threads:
        parser.error("--connections must be >= --threads")
    args.names = names
    return args


def _run_one(name: str, cfg: Config, keep: bool, command: str) -> Result:
    workdir = Path(tempfile.mkdtemp(prefix=f"thb-{name}-", dir="/tmp"))  # short: unix socket paths
    started = time.monotonic()
    print(f"[{name}] running in {workdir}", file=sys.stderr, flush=True)
    runner = partial(keys.run_keys, command=command) if name == "track-key" else RUNNERS[name]
    try:
        result = runner(cfg, workdir)
    except Exception as exc:  # one broken contender must not hide the others' figures
        traceback.print_exc()
        result = Result(
            name, status="failed", notes=[f"{type(exc).__name__}: {exc}", f"logs kept in {workdir}"]
        )
        keep = True
    print(
        f"[{name}] done in {time.monotonic() - started:.0f} s: {result.status}", file=sys.stderr, flush=True
    )
    if keep:
        print(f"[{name}] kept {workdir}", file=sys.stderr)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM too unwinds the try/finally blocks that stop children


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _interrupt)
    cfg = Config(
        duration=args.duration,
        connections=args.connections,
        threads=args.threads,
        backlog_seconds=args.backlog_seconds,
        drain_timeout=args.drain_timeout,
        grace=args.grace,
        half_load=not args.no_half_load,
    )
    command = shlex.join(["python", "-m", "bench.run", *(sys.argv[1:] if argv is None else argv)])
    results = [_run_one(name, cfg, args.keep, command) for name in args.names]

    table = report.table(results)
    print(table)
    targets = report.targets(results)
    if targets:
        print("\n" + targets)
    notes = report.notes(results)
    if notes:
        print("\n" + notes)
    own = [block(*r.section) for r in results if r.section is not None and r.status == "ok"]
    for text in own:
        print("\n" + text)
    about = ABOUT.format(
        batch=queued.BATCH_SIZE, threads=cfg.threads, connections=cfg.connections,
        batch_connections=BATCH_CONNECTIONS, duration=cfg.duration,
        grace=cfg.grace, backlog=cfg.backlog_seconds, cpus=_nproc(),
    )  # fmt: skip
    text = (
        "# Benchmarks\n\n"
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · `nproc` {_nproc()} · {_cpu_model()} · "
        f"Python {platform.python_version()} · {_wrk_version()}\n\n"
        f"Command: `{command}` (from the repository root; `make bench` runs it with the defaults)\n\n"
        f"{table}\n\n{targets + chr(10) * 2 if targets else ''}{about}\n\n## Notes\n\n{notes or '(none)'}\n"
        + "".join(f"\n{text}\n" for text in own)  # the contenders' own sections (track-key's)
    )
    old = args.output.read_text() if args.output.exists() else ""
    args.output.write_text(rewrite_keeping_sections(old, text))  # bench-query's and others' stay
    print(f"\nwritten to {args.output}", file=sys.stderr)

    violations = [v for r in results for v in r.violations]
    for violation in violations:
        print(f"EXACTLY-ONCE VIOLATION: {violation}", file=sys.stderr)
    failed = [r.name for r in results if r.status == "failed"]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if violations or failed else 0


if __name__ == "__main__":
    sys.exit(main())
