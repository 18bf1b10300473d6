"""Which months retention drops whole, and which rows the reads' condition keeps (the SQL runs
on chDB in tests/integration/lifecycle; here the rules alone)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from shared.lifecycle.retention import FOREVER_MS, Retention, plan

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
DAY = 86_400_000
NOW_MS = int(NOW.timestamp() * 1000)


def projects(**days: int | None) -> dict[str, SimpleNamespace]:
    return {name: SimpleNamespace(retention_days=d) for name, d in days.items()}


def test_a_projects_own_days_win_over_the_default_and_zero_is_forever() -> None:
    rules = Retention.at(NOW, 90, projects(short=30, forever=0, default=None))
    assert rules.cutoff("short") == NOW_MS - 30 * DAY
    assert rules.cutoff("forever") is None
    assert rules.cutoff("default") == rules.cutoff("unregistered") == NOW_MS - 90 * DAY


def test_nothing_expires_without_any_days() -> None:
    rules = Retention.at(NOW, 0, projects(a=None, b=0))
    assert not rules.active and rules.condition({}) is None and plan([(202001, "a", 5)], rules) == []


def test_a_read_of_projects_sharing_one_cutoff_gets_a_plain_bound() -> None:
    rules = Retention.at(NOW, 0, projects(a=30, b=30, c=0))
    params: dict[str, object] = {}
    assert rules.condition(params, frozenset({"a", "b"})) == (
        "event_time >= fromUnixTimestamp64Milli({_rcut:Int64}, 'UTC')"
    )
    assert params == {"_rcut": NOW_MS - 30 * DAY}
    assert rules.condition({}, frozenset({"c"})) is None  # forever


def test_the_general_condition_binds_every_rule() -> None:
    rules = Retention.at(NOW, 0, projects(a=30, c=0))
    params: dict[str, object] = {}
    sql = rules.condition(params)
    assert sql is not None and "_rmin" not in sql  # unregistered projects are kept forever: no plain bound
    assert params == {"_rp": ["a", "c"], "_rc": [NOW_MS - 30 * DAY, FOREVER_MS], "_rd": FOREVER_MS}
    everywhere = Retention.at(NOW, 90, projects(a=30))
    params = {}
    assert "_rmin" in (everywhere.condition(params) or "") and params["_rmin"] == NOW_MS - 90 * DAY


def test_a_month_is_dropped_only_when_every_project_in_it_expired_by_its_end() -> None:
    rules = Retention.at(NOW, 0, projects(a=30, b=90, keep=0))
    months = [
        (202607, "a", 10), (202607, "b", 5),   # both expired by the end of July: dropped
        (202609, "a", 3), (202609, "b", 4),    # b's cutoff (early September) falls inside: kept
        (202605, "a", 1), (202605, "keep", 1),  # a project kept forever holds the month
        (202611, "a", 7),                       # a's cutoff is in November: not whole
    ]
    assert plan(months, rules) == [(202607, 15)]
