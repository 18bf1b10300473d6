"""Failed admin-token attempts, throttled per client: a guesser gets 429, not more guesses.

A long random token already makes guessing hopeless; this keeps a weak one from being
tried at request speed, and the logs quiet. In process memory (each API process counts its
own), bounded: the least recently seen clients are forgotten first. A client is an address,
IPv6 by /64 as the ingestion limiter counts it: one subscriber's block is one guesser.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from api.rate_limit import ip_bucket

MAX_FAILURES = 10
"""Failed attempts a client may make per window before it is refused."""
WINDOW_SECONDS = 60.0
MAX_CLIENTS = 10_000
"""Clients remembered at once (~1 MB at most)."""


class Lockout:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._failures: OrderedDict[str, tuple[float, int]] = OrderedDict()  # client -> (window start, count)
        self._lock = threading.Lock()
        self._now = clock

    def retry_after(self, client: str) -> int | None:
        """Whole seconds until `client` may try again, or None when it may try now."""
        client = ip_bucket(client)
        with self._lock:
            entry = self._failures.get(client)
            if entry is None:
                return None
            left = entry[0] + WINDOW_SECONDS - self._now()
            if left <= 0:
                del self._failures[client]
                return None
            return max(1, int(left + 0.999)) if entry[1] >= MAX_FAILURES else None

    def failed(self, client: str) -> None:
        client = ip_bucket(client)
        with self._lock:
            now = self._now()
            start, count = self._failures.pop(client, (now, 0))
            if now - start >= WINDOW_SECONDS:
                start, count = now, 0
            self._failures[client] = (start, count + 1)
            while len(self._failures) > MAX_CLIENTS:
                self._failures.popitem(last=False)
