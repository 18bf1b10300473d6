"""The embedded chaos run, short: `trackhouse up` under a steady load while its store process and
then its redis-server are SIGKILLed (the supervisor restarts both, Redis on its AOF and socket),
and a poison job is queued. Every acknowledged event is stored exactly once (counted on a table
whose merges are frozen, inserted without collapsing), the poison event is dead-lettered and its
99 neighbours stored. The whole stack's SIGTERM and SIGKILL restarts and the API's kill are in
`make chaos-embedded` and tests/integration/cli/test_up_supervisor.py, test_crash_restart.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.embedded import run

pytestmark = pytest.mark.integration


@pytest.mark.timeout(240)  # ~20 s; the drain bound below fails first, and says what is left
def test_a_supervised_stack_loses_and_duplicates_nothing_when_its_children_are_killed(
    short_dir: Path,
) -> None:
    report = run(
        short_dir / "chaos",
        events=1_500,
        rate=300,
        gap=1,
        faults=("store", "redis", "poison"),
        drain_timeout=60,
    )
    print(report.table())  # shown with -s
    assert [fault.split(",")[0] for fault in report.faults] == [
        "store process SIGKILL",
        "redis-server SIGKILL",
        "a queued job of 100 events",
    ]
    assert report.acked > 1_000  # most of the load went through (a refused request is not acked)
    assert report.lost == []
    assert report.duplicates == {}
    assert report.unknown_rows == 0
    assert report.stored_acked == report.acked
    assert (report.poison_sent, report.poison_stored, report.poison_dead_letters) == (1, 0, 1)
    assert report.stop_failures == []  # the last SIGTERM stopped everything, exit 0
