"""The registry across processes: two `trackhouse api` processes on one real redis-server.
A key created through one is accepted by the other within a second, and a key revoked while
8 clients send with it is refused everywhere within a second, without failing a request sent
before the revoke."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from shared.queue.redis_server import RedisServer
from tests.support.builders import basic_event
from tests.support.processes import child_port, http, trackhouse, wait_for

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": "Bearer registry-admin-token"}
CLIENTS = 8


@contextmanager
def two_apis(tmp_path: Path) -> Iterator[tuple[str, str]]:
    with RedisServer(tmp_path / "redis") as redis:
        processes, bases = [], []
        for name in ("a", "b"):
            port = child_port()
            env = {
                "TRACKHOUSE_REDIS_URL": redis.url,
                "TRACKHOUSE_PORT": str(port),
                "TRACKHOUSE_ADMIN_TOKEN": ADMIN["Authorization"].removeprefix("Bearer "),
                "TRACKHOUSE_DATA_DIR": str(tmp_path),
                "TRACKHOUSE_BACKPRESSURE_MAX_QUEUED_EVENTS": "0",
            }
            processes.append(trackhouse(["api"], env, tmp_path / f"api-{name}.log"))
            bases.append(f"http://127.0.0.1:{port}")
        try:
            for base in bases:
                wait_for(lambda base=base: _up(base), timeout_seconds=60, what=f"{base} to answer")
            yield bases[0], bases[1]
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)


def _up(base: str) -> bool:
    try:
        return http("GET", f"{base}/healthz")[0] == 200
    except OSError:
        return False


def _write_key(base: str) -> tuple[str, str]:
    """A team, a project and a write key of it, made through `base`: (key id, secret)."""
    assert http("POST", f"{base}/api/admin/teams", {"team_id": "t1", "name": "Team"}, ADMIN)[0] == 201
    project = {"project_id": "p1", "team_id": "t1", "name": "Shop"}
    assert http("POST", f"{base}/api/admin/projects", project, ADMIN)[0] == 201
    status, key = http("POST", f"{base}/api/admin/projects/p1/keys", {"kind": "write", "name": "site"}, ADMIN)
    assert status == 201, key
    return key["id"], key["key"]


def _track(base: str, key: str) -> int:
    return http("POST", f"{base}/api/events/track", basic_event(), {"X-Write-Key": key})[0]


@pytest.mark.timeout(120)
def test_a_key_made_in_one_process_works_in_the_other_within_a_second(tmp_path: Path) -> None:
    with two_apis(tmp_path) as (a, b):
        assert _track(b, "thw_notakeyyet") == 401
        _, key = _write_key(a)
        created = time.monotonic()
        wait_for(lambda: _track(b, key) == 201, timeout_seconds=5, what="the other process to accept the key")
        assert time.monotonic() - created < 1.0
        assert _track(a, key) == 201  # the process that made it: at once


@pytest.mark.timeout(120)
def test_a_key_revoked_under_load_is_refused_within_a_second_and_nothing_before_fails(tmp_path: Path) -> None:
    with two_apis(tmp_path) as (a, b):
        key_id, key = _write_key(a)
        wait_for(lambda: _track(b, key) == 201, timeout_seconds=5, what="the key to reach the other process")
        results: list[tuple[float, float, int]] = []  # (sent, answered, status), monotonic
        stop = threading.Event()
        lock = threading.Lock()

        def client(base: str) -> None:
            while not stop.is_set():
                sent = time.monotonic()
                status = _track(base, key)
                with lock:
                    results.append((sent, time.monotonic(), status))

        threads = [threading.Thread(target=client, args=((a, b)[i % 2],)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        revoke_sent = time.monotonic()
        status, _ = http("DELETE", f"{a}/api/admin/keys/{key_id}", None, ADMIN)
        revoked = time.monotonic()
        assert status == 204
        time.sleep(2.5)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    before: list[Any] = [r for r in results if r[1] < revoke_sent]  # answered before the revoke was sent
    after = [r for r in results if r[0] >= revoked + 1.0]  # sent a second after it was answered
    assert len(before) > CLIENTS and len(after) > CLIENTS, (len(before), len(after))
    assert {r[2] for r in before} == {201}
    assert {r[2] for r in after} == {401}
    assert all(r[2] in (201, 401) for r in results)  # in between: one or the other, never an error
