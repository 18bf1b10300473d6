"""The chaos run, short: every fault of `make chaos` once, at a few hundred events per second.

Real processes throughout: a Redis primary, its replica and three Sentinels (AOF,
`REDIS_MIN_REPLICAS_ACK=1`), `trackhouse api`, a worker with faults at its writer seam
(tests.chaos.faulty_worker) on chDB. Every acknowledged event is stored exactly once (counted
on a table whose merges are frozen), including through a 5 s Redis outage that clients see as
5xx and a failover (the primary SIGKILLed, the replica promoted); the poison event is
dead-lettered and its 99 neighbours stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.run import run

pytestmark = pytest.mark.integration


@pytest.mark.timeout(240)  # ~30 s; the drain bound below fails first, and says what is left
def test_no_acknowledged_event_is_lost_or_duplicated_under_faults(short_dir: Path) -> None:
    report = run(short_dir / "chaos", events=3_000, rate=300, outage=3, gap=2, drain_timeout=90)
    print(report.table())  # shown with -s
    assert len(report.faults) == 13
    assert any(fault.startswith("Redis failover") for fault in report.faults)
    assert report.server_errors > 0  # Redis away 5 s: clients saw it, as 5xx, not as a 201
    assert report.acked > 3_000
    assert report.lost == []
    assert report.duplicates == {}
    assert report.unknown_rows == 0
    assert report.stored_acked == report.acked
    assert (report.poison_sent, report.poison_stored, report.poison_dead_letters) == (1, 0, 1)
