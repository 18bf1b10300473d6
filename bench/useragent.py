"""`python -m bench.useragent`: what user-agent enrichment costs a `/batch`, on this machine.

A batch of N events with N distinct user agents (an attacker rotating agents defeats any
cache), against the same batch with one agent (cached), and without enrichment; each as the
median of a few POSTs to the app in process (fakeredis: the queue is not what is measured).
Prints one table, with ratios to enrichment off.

    python -m bench.useragent [--events 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import fakeredis
from fastapi.testclient import TestClient

from api.app import create_app
from shared.event import useragent
from shared.settings import Settings

_CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{}.0.{}.{} Safari/537.36"
_IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{} Mobile/15E148 Safari/604.1 r{}"


def agents(n: int, seed: int) -> list[str]:
    """N distinct, realistic agents (version numbers rotated), different for each `seed`."""
    return [
        (_CHROME if i % 2 else _IPHONE).format(100 + i % 30, seed, i) for i in range(n)
    ]


def batch_seconds(client: TestClient, user_agents: list[str]) -> float:
    body = [{"event_type": "click", "event_id": f"ua-{i}", "user_agent": ua} for i, ua in enumerate(user_agents)]
    started = time.perf_counter()
    response = client.post("/api/events/batch", json=body)
    elapsed = time.perf_counter() - started
    assert response.status_code == 201, response.text
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.useragent")
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        base = Settings(data_dir=Path(data), batch_max_events=args.events, job_max_events=args.events)
        rows: list[tuple[str, float]] = []
        for name, enrich, distinct in (
            ("enrichment off", False, True),
            ("one agent (cached)", True, False),
            ("distinct agents (uncached)", True, True),
        ):
            settings = base.model_copy(update={"enrich_user_agent": enrich})
            client = TestClient(create_app(settings, redis=fakeredis.FakeRedis(), open_store=lambda: None))  # type: ignore[arg-type,return-value]
            times = []
            for seed in range(args.repeat):
                useragent.cache_clear()
                batch = agents(args.events, seed) if distinct else [agents(1, seed)[0]] * args.events
                times.append(batch_seconds(client, batch))
            rows.append((name, statistics.median(times)))
    resolver = useragent.resolver_name()
    print(f"/batch of {args.events} events, median of {args.repeat}; ua-parser resolver: {resolver}")
    print(f"| {'case':<28} | {'ms per batch':>12} | {'vs off':>7} |")
    print(f"|{'-' * 30}|{'-' * 14}|{'-' * 9}|")
    off = rows[0][1]
    for name, seconds in rows:
        print(f"| {name:<28} | {seconds * 1000:>12.1f} | {seconds / off:>6.1f}x |")


if __name__ == "__main__":
    main()
