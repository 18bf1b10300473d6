"""The chaos run against the embedded topology: `trackhouse up` as users start it (`make run`), a
supervisor of its own redis-server (AOF), the store process (chDB, the worker threads) and the
API, on a chDB directory whose merges were frozen before the first start
(tests.support.processes.prepare_chdb). The faults are the ones this topology has: a child
SIGKILLed (the supervisor must restart it), the whole stopped with SIGTERM or SIGKILLed with its
redis-server, then started again on the same data directory, and a poison event.

    python -m tests.chaos.run --topology embedded [--events 200000] [--rate 1000] [--gap 10] [--report]
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from redis import Redis

from cli.up import api_processes as up_api_processes
from shared.queue.connect import connect_redis
from shared.queue.redis_server import URL_FILE
from shared.settings import Settings
from tests.chaos.load import Ledger, Load
from tests.chaos.poison import queue_poison
from tests.chaos.report import Report, tally, write_section
from tests.chaos.stack import dead_letters, pending_work, stored_counts
from tests.support.processes import child_port, prepare_chdb, wait_for
from tests.support.supervised import children_of, descendants, gone
from tests.support.up import Up, start_up

START_SECONDS = 180.0
"""A cold start of the whole (chDB, migrations) on a loaded two-core machine."""
TAKEN_BACK = re.compile(r"took back (\d+) job\(s\) a dead worker held")
"""worker.recovery's line, logged before the store process serves (so before /readyz is 200)."""
STOP_SECONDS = 200.0
"""The supervisor's own bounds: 35 s for the API, the job timeout + 15 s for the store."""


class EmbeddedStack:
    """One `trackhouse up` on `directory`, started again by the faults that stop it."""

    def __init__(
        self, directory: Path, *, appendfsync: str = "everysec", api_processes: int | None = None
    ) -> None:
        """`api_processes`: None for `trackhouse up`'s own default (one per core)."""
        self.directory = directory.resolve()
        self.chdb_url = f"chdb://{self.directory / 'clickhouse'}"
        self.port = child_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.settings = Settings(data_dir=self.directory)  # the queue's name, retries, timeouts
        self.env = {
            "TRACKHOUSE_DATA_DIR": str(self.directory),
            "TRACKHOUSE_HOST": "127.0.0.1",
            "TRACKHOUSE_PORT": str(self.port),
            "TRACKHOUSE_INSERT_LINGER_MS": "200",
            "TRACKHOUSE_REDIS_APPENDFSYNC": appendfsync,
            # No collapsing of repeated keys inside one insert (tests.support.audit): the store
            # process's client carries the setting from its URL.
            "TRACKHOUSE_CLICKHOUSE_URL": f"{self.chdb_url}?ch_optimize_on_insert=0",
        }
        if api_processes is not None:
            self.env["TRACKHOUSE_API_PROCESSES"] = str(api_processes)
        self._up: Up | None = None
        self.up: subprocess.Popen[bytes] | None = None
        self.log = self.directory / "up.log"

    def start(self) -> None:
        """Start `trackhouse up` (the first time on a freshly frozen store) and wait until it
        is ready: the API answers /readyz, which the store process answers through it."""
        if self.up is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            prepare_chdb(self.chdb_url)
        self._up = start_up(self.directory, self.env)
        self.up = self._up.process
        self.wait_ready()

    def wait_ready(self) -> None:
        assert self._up is not None
        self._up.wait_ready(START_SECONDS)

    def redis(self) -> Redis:
        url = wait_for(self._redis_url, timeout_seconds=30, what="the redis-server's URL file")
        return connect_redis(url, patient=True)

    def _redis_url(self) -> str:
        return (self.directory / "redis" / URL_FILE).read_text().strip()

    def children(self) -> dict[str, int]:
        assert self.up is not None
        return children_of(self.up.pid)

    def taken_back(self) -> int:
        """Jobs that store processes found held by a dead predecessor and took back, so far."""
        return sum(int(n) for n in TAKEN_BACK.findall(self.log.read_text(errors="replace")))

    def kill_child(self, role: str) -> float:
        """SIGKILL the `role` child; returns the seconds until the supervisor has started a new
        one and the whole is ready again."""
        old = wait_for(lambda: self.children().get(role), timeout_seconds=30, what=f"the {role} process")
        killed = time.monotonic()
        os.kill(old, signal.SIGKILL)
        wait_for(
            lambda: self.children().get(role) not in (None, old),
            timeout_seconds=30,
            what=f"the supervisor to restart the {role} process; see {self.log}",
        )
        self.wait_ready()
        return time.monotonic() - killed

    def stop(self) -> int:
        """SIGTERM: the supervisor stops the API, the store, then Redis; its exit status."""
        if self.up is None or self.up.poll() is not None:
            return self.up.returncode if self.up is not None else 0
        self.up.send_signal(signal.SIGTERM)
        return self.up.wait(timeout=STOP_SECONDS)

    def restart(self) -> tuple[int, float]:
        """SIGTERM under load, then start again: (exit status, seconds until ready again)."""
        stopped = time.monotonic()
        status = self.stop()
        self.start()
        return status, time.monotonic() - stopped

    def crash(self) -> float:
        """The whole stack SIGKILLed, nothing graceful (its redis-server first, as a power cut
        would leave it), then started again; returns the seconds until ready again."""
        assert self.up is not None
        redis = self.children()["redis"]
        below = descendants(self.up.pid)  # the API's own worker processes too
        killed = time.monotonic()
        os.kill(redis, signal.SIGKILL)
        self.up.send_signal(signal.SIGKILL)
        self.up.wait(timeout=30)
        # Everything below dies with it (PR_SET_PDEATHSIG): nothing keeps the chDB lock or the port.
        wait_for(
            lambda: all(gone(pid) for pid in below),
            timeout_seconds=30,
            what="every process below the killed supervisor to die",
        )
        self.start()
        return time.monotonic() - killed


Step = tuple[float, str, Callable[[], str]]


def _held(stack: EmbeddedStack, before: int) -> str:
    """What the killed store process held (a kill that found it idle proves less)."""
    held = stack.taken_back() - before
    return f"; it held {held} job(s), taken back by the next one" if held else "; it held no job"


FAULTS = ("store", "store", "store", "api", "redis", "term", "crash", "poison")
"""The full run's faults, in order. Three store kills within ~40 s: under the supervisor's 5 a
minute, whose crash-loop stop is not what this run tests."""


def schedule(
    stack: EmbeddedStack,
    gap: float,
    poison_ids: list[str],
    stop_failures: list[str],
    faults: Sequence[str] = FAULTS,
) -> list[Step]:
    """(seconds after the start, name, action returning what happened), for `faults` by name."""

    def kill_store() -> str:
        time.sleep(random.uniform(0, gap / 2))  # anywhere in a job: lingering, merging, inserting
        held = stack.taken_back()
        back = stack.kill_child("store")
        return f"store process SIGKILL, restarted by the supervisor, ready after {back:.1f} s{_held(stack, held)}"

    def kill_api() -> str:
        time.sleep(random.uniform(0, gap / 2))
        return (
            f"API process SIGKILL, restarted by the supervisor, ready after {stack.kill_child('api'):.1f} s"
        )

    def kill_redis() -> str:
        back = stack.kill_child("redis")
        return f"redis-server SIGKILL, restarted by the supervisor on its AOF, ready after {back:.1f} s"

    def whole_term() -> str:
        status, back = stack.restart()
        if status != 0:
            stop_failures.append(f"SIGTERM under load: exit {status}")
        return f"`trackhouse up` SIGTERM under load (exit {status}), started again, ready after {back:.1f} s"

    def whole_kill() -> str:
        held = stack.taken_back()
        back = stack.crash()
        return f"`trackhouse up` and its redis-server SIGKILL, started again, ready after {back:.1f} s{_held(stack, held)}"

    def poison() -> str:
        redis = stack.redis()
        try:
            poison_ids.append(queue_poison(redis, stack.settings))
        finally:
            redis.close()
        return "a queued job of 100 events, one the store rejects"

    actions: dict[str, Callable[[], str]] = {
        "store": kill_store,
        "api": kill_api,
        "redis": kill_redis,
        "term": whole_term,
        "crash": whole_kill,
        "poison": poison,
    }
    return [(gap * (i + 1), name, actions[name]) for i, name in enumerate(faults)]


def run(
    directory: Path,
    *,
    events: int,
    rate: float,
    gap: float,
    appendfsync: str = "everysec",
    api_processes: int | None = None,
    drain_timeout: float = 900,
    faults: Sequence[str] = FAULTS,
    log: Callable[[str], None] = print,
) -> Report:
    stack = EmbeddedStack(directory, appendfsync=appendfsync, api_processes=api_processes)
    ledger = Ledger()
    poison_ids: list[str] = []
    happened: list[str] = []
    stop_failures: list[str] = []
    started = time.monotonic()

    def note(what: str) -> None:
        log(
            f"[{time.monotonic() - started:6.1f} s] {what}; sent {ledger.sent:,}, acked {len(ledger.acked):,}"
        )

    try:
        stack.start()  # inside: a start that fails or is interrupted still stops what it started
        started = time.monotonic()
        load = Load(stack.base_url, ledger, rate=rate)
        load.start()
        for at, _name, action in schedule(stack, gap, poison_ids, stop_failures, faults):
            time.sleep(max(0.0, at - (time.monotonic() - started)))
            happened.append(action())
            note(happened[-1])
        while ledger.sent < events:  # the rest of the load, fault-free
            time.sleep(0.5)
        load.stop()
        last_fault = time.monotonic()
        redis = stack.redis()
        try:
            deadline = time.monotonic() + drain_timeout
            next_log = 0.0
            while any((pending := pending_work(redis)).values()):
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"not drained after {drain_timeout:.0f} s: {pending}; see {stack.log}"
                    )
                if time.monotonic() >= next_log:
                    note(f"draining: {pending}")
                    next_log = time.monotonic() + 10
                time.sleep(1)
            drain_seconds = time.monotonic() - last_fault
            note("drained; counting rows per event_id")
            dead = dead_letters(redis)
        finally:
            redis.close()
    finally:
        if (status := stack.stop()) != 0:
            stop_failures.append(f"the last SIGTERM: exit {status}")
    return tally(
        ledger,
        stored_counts(stack.chdb_url),
        poison_ids,
        dead_letters=dead,
        redis_outages=0,  # a restarted redis-server is back within a second: 5xx may not show
        faults=happened,
        seconds=time.monotonic() - started,
        drain_seconds=drain_seconds,
        stop_failures=stop_failures,
    )


def write_markdown(
    report: Report, *, events: int, rate: float, gap: float, appendfsync: str, api_processes: int | None
) -> None:
    apis = (
        f"{api_processes} worker process(es) (`--api-processes`)"
        if api_processes is not None
        else f"{up_api_processes(Settings())} worker process(es) (`trackhouse up`'s default: one per core)"
    )
    faults = "\n".join(f"{i}. {what}" for i, what in enumerate(report.faults, 1))
    server_errors = (
        f", or a 5xx ({report.server_errors:,}) while the redis-server was away: a client retries those."
        if report.server_errors
        else ": a client retries those. None got a 5xx: the API's Redis client retried across the "
        "redis-server's restart."
    )
    stops = "".join(f"\n\n**Did not stop cleanly**: {what}." for what in report.stop_failures)
    write_section(
        "embedded",
        f"## Embedded topology: `trackhouse up` supervising redis-server, the store process and the API\n\n"
        f"Written by `make chaos-embedded` (`python -m tests.chaos.run --topology embedded --report`) "
        f"on {datetime.now(UTC):%Y-%m-%d}: {events:,} events at ~{rate:,.0f}/s through `trackhouse up`, "
        f"exactly what `make run` starts (its own redis-server: AOF, appendfsync {appendfsync}, a unix "
        f"socket; the store process: chDB, migrations, the worker threads, reads; the API: uvicorn "
        f"with {apis}; SIGKILLing the API kills uvicorn's supervisor, whose "
        f"workers die with it), "
        f"while these faults were injected, {gap:.0f} s apart (one that outlasts the gap delays the "
        f"next; each waits until `/readyz` answers 200 again, which the store process answers):\n\n"
        f"{faults}\n\n"
        f"Then `trackhouse up` was stopped (SIGTERM) and every row counted per event_id, on a table "
        f"whose merges were frozen before the first start (`prepare_chdb`) and inserted with "
        f"`optimize_on_insert=0` (the store's URL carries it), without FINAL, so each insert that "
        f"landed is a row. Result: **{'PASS' if report.ok else 'FAIL'}**.{stops}\n\n"
        f"{report.table()}\n\n"
        f"Not acknowledged events got no answer (a refused, reset or broken connection) while the "
        f"API process or the whole restarted{server_errors} A store process that dies holds nothing "
        "unacknowledged (the jobs are in Redis); the one the supervisor starts next takes back at "
        "once what its predecessor held (`--sole-worker`). The poison job is queued straight into "
        "Redis, since the API never lets such a value through.\n",
    )
