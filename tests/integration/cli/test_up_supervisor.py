"""`trackhouse up` supervises its children: a store or API process that dies is restarted and
nothing acknowledged is lost or stored twice; SIGTERM stops them all and exits 0; a SIGKILLed
supervisor takes its children with it (nothing left holding the chDB lock or the port)."""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path

import pytest
from redis import Redis

from shared.queue.connect import connect_redis
from shared.queue.redis_server import URL_FILE
from shared.settings import Settings
from tests.support.builders import basic_event
from tests.support.processes import dump_event_ids, http, prepare_chdb, wait_for
from tests.support.supervised import children_of, descendants, gone, nice_of, threads_of
from tests.support.up import running_up

pytestmark = pytest.mark.integration


def _post(base: str, tag: str, acknowledged: list[str]) -> None:
    events = [basic_event(event_id=f"{tag}-{i}") for i in range(40)]
    status, body = http("POST", f"{base}/api/events/batch", events)
    assert status == 201, body
    acknowledged += [result["event_id"] for result in body["results"]]


def _stored_everything(redis: Redis, data_dir: Path) -> None:
    try:  # finished jobs are deleted at once (result_ttl 0): none left means all were stored
        wait_for(lambda: not redis.keys("rq:job:*"), timeout_seconds=120, what="every job to be stored")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{(data_dir / 'up.log').read_text()}") from None


@pytest.mark.timeout(400)
def test_a_dead_child_is_restarted_and_nothing_acknowledged_is_lost(short_dir: Path) -> None:
    prepare_chdb(f"chdb://{short_dir / 'clickhouse'}")  # merges frozen: a duplicate stays a row
    acknowledged: list[str] = []
    with running_up(short_dir) as up:
        base = up.base
        redis = connect_redis((short_dir / "redis" / URL_FILE).read_text())
        try:
            first = children_of(up.process.pid)
            assert set(first) == {"store", "api", "redis"}
            for n in range(5):
                _post(base, f"before-{n}", acknowledged)
            os.kill(first["store"], signal.SIGKILL)  # mid-work: it may hold a job it has not finished
            for n in range(3):  # ingestion needs no store process: still acknowledged
                _post(base, f"store-down-{n}", acknowledged)
            wait_for(lambda: children_of(up.process.pid).get("store") not in (None, first["store"]),
                     timeout_seconds=30, what="a new store process")  # fmt: skip
            up.wait_ready()  # readyz: the new store process answers reads
            _stored_everything(redis, short_dir)

            os.kill(first["api"], signal.SIGKILL)
            wait_for(lambda: children_of(up.process.pid).get("api") not in (None, first["api"]),
                     timeout_seconds=30, what="a new API process")  # fmt: skip
            up.wait_ready()
            _post(base, "after", acknowledged)
            _stored_everything(redis, short_dir)
            children = descendants(up.process.pid)
        finally:
            redis.close()
            status = up.stop()
    assert status == 0, (short_dir / "up.log").read_text()
    assert all(gone(pid) for pid in children)
    assert "restarting it" in (short_dir / "up.log").read_text()
    rows = Counter(dump_event_ids(f"chdb://{short_dir / 'clickhouse'}", "trackhouse"))
    assert sorted(rows) == sorted(acknowledged) and set(rows.values()) == {1}


@pytest.mark.timeout(200)
def test_the_store_yields_the_cpu_and_a_killed_supervisor_takes_its_children_with_it(
    short_dir: Path,
) -> None:
    with running_up(short_dir) as up:
        try:
            children = children_of(up.process.pid)
            assert set(children) == {"store", "api", "redis"}
            # The store process's own threads and chDB's insert and merge pools run at WORKER_NICE
            # (ClickHouse's MemoryWorker sets its own); the API and Redis keep the default priority.
            store = children["store"]
            nices = {name: {nice_of(store, tid) for tid in tids} for name, tids in threads_of(store).items()}
            worker_nice = Settings().worker_nice
            assert worker_nice > 0
            # The code only ever raises the value: a suite run under `nice` (its own value inherited
            # by every child) sees the store at least at WORKER_NICE, the others at the suite's own.
            inherited = os.getpriority(os.PRIO_PROCESS, 0)
            for name in ("python", "ThreadPool", "MergeMutate"):
                assert len(nices[name]) == 1 and min(nices[name]) >= max(worker_nice, inherited), (name, nices)
            assert {nice_of(pid) for pid in (children["api"], children["redis"], up.process.pid)} == {inherited}
            below = descendants(up.process.pid)
            assert len(below) >= 3  # redis, store, the API (and its worker processes: one per core)
        finally:  # also on a failed check: a stack left running would skew every later test
            up.process.send_signal(signal.SIGKILL)
            up.process.wait(timeout=30)
    wait_for(lambda: all(gone(pid) for pid in below), timeout_seconds=30, what="every descendant to die")
