"""Retention: how old an event may be, per project, and removing the older ones.

A project's `retention_days` (registry) wins; a project without one, or not registered, gets
TRACKHOUSE_RETENTION_DAYS; 0 is forever. Two halves, so that no read ever shows an expired
row, even before it is physically gone:
- reads add `Retention.condition` to their WHERE (cutoffs computed at the read's instant);
- a worker runs `enforce` every RETENTION_INTERVAL_SECONDS: a month (partition) whose every
  project has expired is dropped whole, which costs nothing but unlinking its parts; every
  other expired row goes in one lightweight DELETE (the reads' condition, negated), which marks
  them in a mask column and leaves merges to drop them.
Why not a TTL: TTL expressions are per table, fixed in the DDL, while retention here changes
per project at run time; a TTL rewritten on every change would rematerialise the whole table.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)

FOREVER_MS: Final = -2_208_988_800_000
"""1900-01-01, the earliest DateTime64 time the table holds: "no cutoff" in SQL arrays."""
_DAY_MS: Final = 86_400_000


class HasRetention(Protocol):
    @property
    def retention_days(self) -> int | None: ...


def _cutoff(now_ms: int, days: int) -> int | None:
    return None if days == 0 else now_ms - days * _DAY_MS


@dataclass(frozen=True, slots=True)
class Retention:
    """The cutoffs at one instant (ms since the epoch; None: forever)."""

    default_ms: int | None
    own_ms: dict[str, int | None] = field(default_factory=dict)
    """Projects whose registry record sets retention_days."""

    @classmethod
    def at(cls, now: datetime, default_days: int, projects: Mapping[str, HasRetention]) -> Retention:
        now_ms = int(now.timestamp() * 1000)
        own = {
            project_id: _cutoff(now_ms, p.retention_days)
            for project_id, p in projects.items()
            if p.retention_days is not None
        }
        return cls(_cutoff(now_ms, default_days), own)

    def cutoff(self, project_id: str) -> int | None:
        return self.own_ms.get(project_id, self.default_ms)

    @property
    def active(self) -> bool:
        return self.default_ms is not None or any(c is not None for c in self.own_ms.values())

    def condition(self, params: dict[str, Any], projects: frozenset[str] | None = None) -> str | None:
        """SQL keeping only unexpired rows (bound parameters `_r*`), or None when nothing expires.
        `projects`: the read's scope, when it has one (a single cutoff is a plain bound, which
        also prunes partitions)."""
        if projects is not None:
            cutoffs = {self.cutoff(p) for p in projects}
            if cutoffs == {None}:
                return None
            if len(cutoffs) == 1:
                params["_rcut"] = next(iter(cutoffs))
                return "event_time >= fromUnixTimestamp64Milli({_rcut:Int64}, 'UTC')"
        if not self.active:
            return None
        own = sorted(self.own_ms.items())
        params["_rp"] = [p for p, _ in own]
        params["_rc"] = [FOREVER_MS if c is None else c for _, c in own]
        params["_rd"] = FOREVER_MS if self.default_ms is None else self.default_ms
        per_row = (
            "event_time >= fromUnixTimestamp64Milli(if(has({_rp:Array(String)}, project_id), "
            "arrayElement({_rc:Array(Int64)}, indexOf({_rp:Array(String)}, project_id)), {_rd:Int64}), 'UTC')"
        )
        if self.default_ms is not None and all(c is not None for _, c in own):
            # Every row expires somewhere: the earliest cutoff is a plain bound, for partition pruning.
            params["_rmin"] = min([self.default_ms, *(c for _, c in own if c is not None)])
            return f"event_time >= fromUnixTimestamp64Milli({{_rmin:Int64}}, 'UTC') AND {per_row}"
        return per_row


@dataclass(slots=True)
class Report:
    partitions_dropped: list[int] = field(default_factory=list)
    rows_in_dropped: int = 0
    rows_deleted: int = 0
    deletes: int = 0
    seconds: float = 0.0


def _month_end_ms(month: int) -> int:
    year, number = divmod(month, 100)
    start = datetime(year, number, 1, tzinfo=UTC)
    following = (start + timedelta(days=32)).replace(day=1)
    return int(following.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Target:
    """Where DDL goes: the table itself, or its local tables on every node of a cluster."""

    database: str
    cluster: str | None = None

    @property
    def table(self) -> str:
        return f"{self.database}.events_local ON CLUSTER {self.cluster}" if self.cluster else f"{self.database}.events"

    @property
    def reads(self) -> str:
        return f"{self.database}.events"


def plan(months: Iterable[tuple[int, str, int]], retention: Retention) -> list[tuple[int, int]]:
    """From (month, project_id, rows) of the stored rows: the months to drop whole (every
    project in them expired by the month's end), with their rows."""
    by_month: dict[int, list[tuple[str, int]]] = {}
    for month, project_id, rows in months:
        by_month.setdefault(int(month), []).append((project_id, int(rows)))
    drops: list[tuple[int, int]] = []
    for month, projects in sorted(by_month.items()):
        end = _month_end_ms(month)
        if all((c := retention.cutoff(p)) is not None and c >= end for p, _ in projects):
            drops.append((month, sum(rows for _, rows in projects)))
    return drops


def enforce(client: Client, target: Target, retention: Retention) -> Report:
    """Remove what `retention` says expired; returns what it did. Idempotent: a run cut short
    (a crash) is finished by the next one. Whole months first (free), then one lightweight
    DELETE for every other expired row: the reads' own condition, negated (a DELETE costs
    about as much for one row as for many, so never one per project or month)."""
    report = Report()
    if not retention.active:
        return report
    started = time.perf_counter()
    months = client.query(
        f"SELECT toYYYYMM(event_time) AS month, project_id, count() FROM {target.reads} GROUP BY month, project_id"
    ).result_rows
    for month, count in plan(((int(m), str(p), int(n)) for m, p, n in months), retention):
        # The partition value comes from the table (toYYYYMM, an integer), never from a client.
        client.command(f"ALTER TABLE {target.table} DROP PARTITION {int(month)}")
        report.partitions_dropped.append(month)
        report.rows_in_dropped += count
    params: dict[str, Any] = {}
    kept = retention.condition(params)
    if kept is not None:
        expired = f"NOT ({kept})"
        (count,) = client.query(f"SELECT count() FROM {target.reads} WHERE {expired}", parameters=params).result_rows[0]
        if count:
            client.command(
                f"DELETE FROM {target.table} WHERE {expired} SETTINGS lightweight_deletes_sync = 2", parameters=params
            )
            report.rows_deleted = int(count)
            report.deletes = 1
    report.seconds = time.perf_counter() - started
    if report.partitions_dropped or report.deletes:
        log.info(
            "retention: dropped %d month(s) (%d rows), deleted %d rows, %.1f s",
            len(report.partitions_dropped), report.rows_in_dropped, report.rows_deleted, report.seconds,
        )
    return report
