"""An erasure on the whole embedded stack (`trackhouse up`): eight clients send events of the
subject and of others while it is requested (with `suppress`); the stack and its redis-server
are SIGKILLed while the erasure runs (a worker holding a job it lingers over); after a restart
it resumes and finishes. Then nothing of the subject is stored, and every other acknowledged
event is stored exactly once, counted on the uncollapsed table (merges frozen)."""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from shared.queue.connect import connect_redis
from shared.queue.redis_server import URL_FILE
from tests.support.builders import basic_event
from tests.support.processes import dump_event_ids, http, prepare_chdb, wait_for
from tests.support.up import running_up

pytestmark = pytest.mark.integration
ADMIN_TOKEN = "erasure-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CLIENTS = 8
BATCHES = 30
"""Per client: batches of four events, one of them the subject's."""


class Client(threading.Thread):
    def __init__(self, base: str, index: int, stop: threading.Event) -> None:
        super().__init__(name=f"client-{index}", daemon=True)
        self.base, self.index, self.stop = base, index, stop
        self.accepted: list[str] = []
        self.dropped: list[str] = []

    def run(self) -> None:
        for batch in range(BATCHES):
            if self.stop.is_set():
                return
            events = [
                basic_event(event_id=f"c{self.index}-{batch}-{i}", user_id="subject" if i == 0 else f"user-{i}")
                for i in range(4)
            ]
            try:
                status, body = http("POST", f"{self.base}/api/events/batch", events)
            except OSError:  # the stack was killed mid-request: not acknowledged
                return
            if status != 201:
                continue
            for result in body["results"]:
                (self.accepted if result["status"] == "accepted" else self.dropped).append(result["event_id"])


@pytest.mark.timeout(400)  # two cold starts of chDB on a loaded machine
def test_an_erasure_survives_a_crash_of_the_stack_while_clients_send(short_dir: Path) -> None:
    prepare_chdb(f"chdb://{short_dir / 'clickhouse'}")
    # Workers linger over each job, so one holds a job when the erasure starts: its runner waits
    # for that job before deleting, which is when the kill comes.
    env = {"TRACKHOUSE_INSERT_LINGER_MS": "3000", "TRACKHOUSE_ADMIN_TOKEN": ADMIN_TOKEN}
    stop = threading.Event()
    with running_up(short_dir, env, log_name="first.log") as first:
        clients = [Client(first.base, i, stop) for i in range(CLIENTS)]
        for client in clients:
            client.start()
        wait_for(lambda: sum(len(c.accepted) for c in clients) >= 200, timeout_seconds=60, what="traffic")
        status, erasure = http("POST", f"{first.base}/api/admin/erasures", {"subject": {"user_id": ["subject"]}, "suppress": True}, ADMIN)
        assert status == 202, erasure

        def running() -> bool:
            state = http("GET", f"{first.base}/api/admin/erasures/{erasure['id']}", headers=ADMIN)[1]["status"]
            assert state != "done", "finished before the kill: nothing resumed"
            return state == "running"

        wait_for(running, timeout_seconds=30, what="the erasure to run", interval=0.02)
        redis_pid = int((short_dir / "redis" / "redis.pid").read_text())
        os.kill(redis_pid, signal.SIGKILL)  # the whole stack at once, clients still sending
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=30)
        stop.set()
        for client in clients:
            client.join(timeout=30)

    accepted = [e for c in clients for e in c.accepted]
    assert any(c.dropped for c in clients), "no event was sent after the suppression"
    with running_up(short_dir, {"TRACKHOUSE_ADMIN_TOKEN": ADMIN_TOKEN}, log_name="second.log") as second:

        def finished() -> dict[str, Any] | None:
            record = http("GET", f"{second.base}/api/admin/erasures/{erasure['id']}", headers=ADMIN)[1]
            assert record["status"] != "failed", record
            return record if record["status"] == "done" else None

        done = wait_for(finished, timeout_seconds=120, what="the erasure to resume and finish")
        redis = connect_redis((short_dir / "redis" / URL_FILE).read_text())
        try:
            wait_for(lambda: not redis.keys("rq:job:*"), timeout_seconds=120, what="every job to be stored")
        finally:
            redis.close()
        assert second.stop(60) == 0, second.log_tail()
    assert done["attempts"] >= 2  # the first run was cut short
    rows = Counter(dump_event_ids(f"chdb://{short_dir / 'clickhouse'}", "trackhouse"))
    subject = {e for e in accepted if e.endswith("-0")}
    assert subject, "no event of the subject was acknowledged before the erasure"
    assert not subject & set(rows)
    others = [e for e in accepted if e not in subject]
    assert sorted(rows) == sorted(others) and set(rows.values()) == {1}
