"""`make chaos`: events with known ids through the real stack while faults are injected, then
rows counted per event_id. Every acknowledged event must be stored exactly once.

    python -m tests.chaos.run [--events 200000] [--rate 1000] [--outage 60] [--redis-outage 5]
                              [--appendfsync everysec] [--api-processes 1] [--report]
                              [--topology split|embedded]

Redis is a primary with one replica and three Sentinels; the API and the worker find the
primary through them, and the API answers 201 only once the replica holds the job
(`REDIS_MIN_REPLICAS_ACK=1`). Faults, in order, while the load runs: the worker SIGKILLed
(from outside, at random moments, and from inside right after an insert, before RQ learns of
it), a failover (the primary SIGKILLed, the replica promoted by the Sentinels, the old
primary started again and rejoining as a replica), the Redis primary stopped with SIGTERM
and killed with SIGKILL (restarted on the same AOF at once), primary and replica killed for
`--redis-outage` seconds (the API must answer 5xx meanwhile), the API stopped with SIGTERM under
load, a poison event queued inside a job, the store failing for `--outage` seconds, then
hanging for as long. Rows are counted per event_id on a table whose merges are frozen
(tests.support.audit), so a duplicate insert shows. Prints a table and rewrites its section of
CHAOS.md (with `--report`). `--topology embedded`: `trackhouse up` instead, with the faults it
has (tests/chaos/embedded.py).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tests.chaos import embedded
from tests.chaos.load import Ledger, Load
from tests.chaos.poison import queue_poison
from tests.chaos.report import Report, tally, write_section
from tests.chaos.stack import Stack, stored_counts

Step = tuple[float, str, Callable[[], str]]


def schedule(
    stack: Stack, outage: float, gap: float, poison_ids: list[str], redis_outage: float = 5
) -> list[Step]:
    """(seconds after the start, name, action returning what happened)."""
    redis = stack.redis()

    def kill_worker() -> str:
        time.sleep(random.uniform(0, gap / 2))  # anywhere in a job: lingering, merging, inserting
        stack.kill_worker()
        return "worker SIGKILL"

    def die_after_insert() -> str:
        stack.store_fault("die-after-insert")
        return "worker SIGKILLs itself right after an insert"

    def redis_term() -> str:
        return f"Redis primary SIGTERM, back after {stack.restart_redis(kill=False):.1f} s"

    def redis_kill() -> str:
        return f"Redis primary SIGKILL, back after {stack.restart_redis(kill=True):.1f} s"

    def redis_away() -> str:
        stack.redis_outage(redis_outage)
        return f"Redis primary and replica SIGKILL, back after {redis_outage:.0f} s (under load)"

    def failover() -> str:
        promoted, replicating = stack.failover()
        return (
            f"Redis failover: primary SIGKILL, replica promoted after {promoted:.1f} s, "
            f"old primary restarted and replicating it after {replicating:.1f} s"
        )

    def api_term() -> str:
        return f"API SIGTERM under load (exit {stack.restart_api()}), restarted"

    def poison() -> str:
        poison_ids.append(queue_poison(redis, stack.settings))
        return "a queued job of 100 events, one the store rejects"

    def outage_on(mode: str) -> Callable[[], str]:
        def act() -> str:
            stack.store_fault(mode)
            time.sleep(outage)
            stack.store_fault(None)
            return f"store {'failing' if mode == 'fail' else 'hanging'} for {outage:.0f} s"

        return act

    steps: list[tuple[str, Callable[[], str]]] = [
        ("kill", kill_worker),
        ("kill", kill_worker),
        ("kill", kill_worker),
        ("die", die_after_insert),
        ("die", die_after_insert),
        # The failover first: a Sentinel that tried one (as in the outage, with no replica
        # alive to promote) waits 2 x failover-timeout before it tries again.
        ("failover", failover),
        ("redis-term", redis_term),
        ("redis-kill", redis_kill),
        ("redis-outage", redis_away),
        ("api-term", api_term),
        ("poison", poison),
        ("store-fail", outage_on("fail")),
        ("store-hang", outage_on("hang")),
    ]
    return [(gap * (i + 1), name, action) for i, (name, action) in enumerate(steps)]


def run(
    directory: Path,
    *,
    events: int,
    rate: float,
    outage: float,
    gap: float,
    appendfsync: str = "everysec",
    api_processes: int = 1,
    redis_outage: float = 5,
    drain_timeout: float = 900,
    log: Callable[[str], None] = print,
) -> Report:
    stack = Stack(directory, appendfsync=appendfsync, api_processes=api_processes)
    ledger = Ledger()
    poison_ids: list[str] = []
    faults: list[str] = []
    stack.start()
    started = time.monotonic()
    try:
        load = Load(stack.base_url, ledger, rate=rate)
        load.start()
        for at, _name, action in schedule(stack, outage, gap, poison_ids, redis_outage):
            time.sleep(max(0.0, at - (time.monotonic() - started)))
            what = action()
            faults.append(what)
            log(
                f"[{time.monotonic() - started:6.1f} s] {what}; sent {ledger.sent:,}, acked {len(ledger.acked):,}"
            )
        while ledger.sent < events:  # the rest of the load, fault-free
            time.sleep(0.5)
        load.stop()
        last_fault = time.monotonic()
        redis = stack.redis()
        deadline = time.monotonic() + drain_timeout
        next_log = 0.0
        while any((pending := stack.pending_work(redis)).values()):
            if time.monotonic() > deadline:
                raise AssertionError(f"not drained after {drain_timeout:.0f} s: {pending}")
            if time.monotonic() >= next_log:
                log(f"[{time.monotonic() - started:6.1f} s] draining: {pending}")
                next_log = time.monotonic() + 10
            time.sleep(1)
        log(f"[{time.monotonic() - started:6.1f} s] drained; counting rows per event_id")
        drain_seconds = time.monotonic() - last_fault
        dead_letters = stack.dead_letters(redis)
        redis.close()
    finally:
        stack.stop()
    seconds = time.monotonic() - started
    return tally(
        ledger,
        stored_counts(stack.chdb_url),
        poison_ids,
        dead_letters=dead_letters,
        redis_outages=1 if redis_outage > 0 else 0,
        faults=faults,
        seconds=seconds,
        drain_seconds=drain_seconds,
    )


def write_markdown(report: Report, args: argparse.Namespace) -> None:
    faults = "\n".join(f"{i}. {what}" for i, what in enumerate(report.faults, 1))
    write_section(
        "split",
        f"## Split topology: Sentinels, `trackhouse api`, a worker process\n\n"
        f"Written by `make chaos` (`python -m tests.chaos.run --report`) on "
        f"{datetime.now(UTC):%Y-%m-%d}: {args.events:,} events at ~{args.rate:,.0f}/s through "
        f"`trackhouse api` ({args.api_processes} process(es)), a Redis primary with one replica and "
        f"three Sentinels (redis-server processes, AOF, appendfsync {args.appendfsync}; the API and "
        f"the worker find the primary through the Sentinels, `REDIS_MIN_REPLICAS_ACK=1`) and one "
        f"worker process on chDB, while these faults were injected, {args.gap:.0f} s apart (one "
        f"that outlasts the gap delays the next):\n\n{faults}\n\n"
        f"Then every row was counted per event_id, on a table whose merges were frozen from the "
        f"start and without FINAL, so each insert that landed is a row (`tests/support/audit.py`). Result: "
        f"**{'PASS' if report.ok else 'FAIL'}**.\n\n{report.table()}\n\n"
        "Not acknowledged events got no 201 (a 500 while Redis was away, a 503 while no replica "
        "confirmed the job, as after the failover until the old primary replicated again, a "
        "refused connection while the API restarted): a client retries those. The poison job "
        "is queued straight into Redis, since the API never lets such a value through.\n"
        "\nEarlier runs (up to 2026-11-30) counted rows of the ReplacingMergeTree as merges left "
        'them, which collapse repeated event ids: their "0 duplicated" was not shown. This count '
        "is uncollapsed. The first uncollapsed run (2026-12-01) found 50 duplicate rows, one "
        "`/batch` request's events: a job queued twice (redis-py retried an enqueue whose reply a "
        "Redis restart lost) was stored twice; fixed in `worker/merge.py` "
        "(`tests/integration/worker/test_merge.py`). Runs before the failover fault (up to "
        "2026-12-01) had one redis-server and no replica. The first run with the replica and "
        "the failover (2026-12-01) found 50 duplicate rows (0 lost), again one `/batch` "
        "request's events; the next two (234,211 and 234,395 acknowledged) found none. Its data "
        "was lost (a temporary directory: keep it with `--dir`), so the cause is not proven; a "
        "likely one, reproduced by a test: the same retried enqueue landing after the first copy "
        "had been stored inside another job's insert (under that job's token). Since then a stored "
        "job is marked for 5 minutes and a late copy is dropped (`worker/merge.py`, "
        "`test_merge.py::test_a_job_queued_again_after_it_was_stored_is_not_stored_again`); "
        "this report is the first run after that fix.\n",
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="make chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="events to send at least")
    parser.add_argument("--rate", type=float, default=1_000, help="events per second")
    parser.add_argument("--outage", type=float, default=60, help="seconds the store fails, then hangs")
    parser.add_argument("--gap", type=float, default=10, help="seconds between faults")
    parser.add_argument("--redis-outage", type=float, default=5, help="seconds Redis stays away once")
    parser.add_argument("--appendfsync", choices=("always", "everysec", "no"), default="everysec")
    parser.add_argument(
        "--api-processes",
        type=int,
        default=None,
        help="`trackhouse api --processes N` (default 1; embedded: `trackhouse up`'s, one per core)",
    )
    parser.add_argument(
        "--dir", type=Path, default=None, help="where the stack keeps its data (default: a temp dir)"
    )
    parser.add_argument("--report", action="store_true", help="rewrite CHAOS.md with the result")
    parser.add_argument(
        "--topology",
        choices=("split", "embedded"),
        default="split",
        help="split: the stack above; embedded: `trackhouse up` (tests/chaos/embedded.py; "
        "--outage, --redis-outage do not apply)",
    )
    args = parser.parse_args()
    if args.topology == "split" and args.api_processes is None:
        args.api_processes = 1
    with tempfile.TemporaryDirectory(prefix="chaos-", dir="/tmp") as tmp:
        directory = args.dir or Path(tmp)
        common = {
            "events": args.events,
            "rate": args.rate,
            "gap": args.gap,
            "appendfsync": args.appendfsync,
            "api_processes": args.api_processes,
        }
        if args.topology == "embedded":
            report = embedded.run(directory, **common)
        else:
            report = run(directory, outage=args.outage, redis_outage=args.redis_outage, **common)
    print(report.table())
    if report.lost:
        print("lost, first ids:", report.lost[:10])
    if report.duplicates:
        print("duplicated, first ids:", list(report.duplicates)[:10])
    if args.report and args.topology == "embedded":
        embedded.write_markdown(
            report,
            events=args.events,
            rate=args.rate,
            gap=args.gap,
            appendfsync=args.appendfsync,
            api_processes=args.api_processes,
        )
    elif args.report:
        write_markdown(report, args)
    raise SystemExit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
