"""A steady load of events with known ids, and the ledger of what the API answered.

Each event carries its own event_id, so the run can count rows per id at the end. An
event is *acknowledged* when the API answered 201 for it (`/track`), or listed it as
`accepted` (`/batch`); anything else (a 5xx, a 503, a refused connection, a timeout) is
not, and may or may not have been queued: the run reports those apart.
"""

from __future__ import annotations

import http.client
import itertools
import json
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


def new_event(seq: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": random.choice(("click", "view", "conversion")),
        "link_id": f"link-{seq % 500}",
        "link_slug": f"slug-{seq % 500}",
        "team_id": f"team-{seq % 7}",
        "project_id": f"project-{seq % 23}",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36",
        "referrer": "https://news.example.org/",
        "time_spent_sec": seq % 90,
    }


@dataclass
class Ledger:
    sent: int = 0
    acked: set[str] = field(default_factory=set)
    unacked: set[str] = field(default_factory=set)
    outcomes: Counter[str] = field(default_factory=Counter)
    """Events by what the API answered: `201`, `500`, `503`, `no answer: …`."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, ids: list[str], acked: list[str], outcome: str) -> None:
        with self.lock:
            self.sent += len(ids)
            self.acked.update(acked)
            rest = set(ids) - set(acked)
            self.unacked.update(rest)
            if acked:
                self.outcomes["201 acknowledged"] += len(acked)
            if rest:
                self.outcomes[outcome] += len(rest)


class Load:
    """`threads` clients sending ~`rate` events/s: a `batch_size`-event /batch request, or
    (`single_share` of the events) one /track request per event. Stops on `stop()`."""

    def __init__(
        self,
        base_url: str,
        ledger: Ledger,
        *,
        rate: float,
        threads: int = 4,
        batch_size: int = 50,
        single_share: float = 0.1,
    ) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self._address = (host, int(port))
        self.ledger = ledger
        self._rate = rate
        self._batch_size = batch_size
        self._single_share = single_share
        self._seq = itertools.count()
        self._stop = threading.Event()
        self._budget_lock = threading.Lock()
        self._started = time.monotonic()
        self._issued = 0
        self._threads = [
            threading.Thread(target=self._run, name=f"load-{i}", daemon=True) for i in range(threads)
        ]

    def start(self) -> None:
        self._started = time.monotonic()
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _take(self, events: int) -> bool:
        """Pace to `rate`: wait until `events` more fit the schedule."""
        while not self._stop.is_set():
            with self._budget_lock:
                due = self._started + (self._issued + events) / self._rate
                if time.monotonic() >= due:
                    self._issued += events
                    return True
            time.sleep(min(0.01, max(0.0, due - time.monotonic())))
        return False

    def _run(self) -> None:
        connection: http.client.HTTPConnection | None = None
        while not self._stop.is_set():
            single = random.random() < self._single_share
            events = [new_event(next(self._seq)) for _ in range(1 if single else self._batch_size)]
            if not self._take(len(events)):
                return
            if connection is None:
                connection = http.client.HTTPConnection(*self._address, timeout=30)
            ids = [event["event_id"] for event in events]
            try:
                if single:
                    status, body = _post(connection, "/api/events/track", events[0])
                    acked = ids if status == 201 and body.get("event_id") == ids[0] else []
                else:
                    status, body = _post(connection, "/api/events/batch", {"events": events})
                    acked = (
                        [r["event_id"] for r in body.get("results", []) if r.get("status") == "accepted"]
                        if status in (201, 207)
                        else []
                    )
                self.ledger.record(ids, acked, f"{status} {body.get('error', '')}".strip())
            except (OSError, http.client.HTTPException) as error:
                # Refused, reset or timed out: no answer, so not acknowledged.
                self.ledger.record(ids, [], f"no answer ({type(error).__name__})")
                connection.close()
                connection = None
                time.sleep(0.05)


def _post(connection: http.client.HTTPConnection, path: str, payload: Any) -> tuple[int, dict[str, Any]]:
    connection.request("POST", path, body=json.dumps(payload), headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    raw = response.read()
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {"error": raw[:80].decode(errors="replace")}
    return response.status, body if isinstance(body, dict) else {}
