"""Erasure in ClickHouse: a lightweight DELETE of every stored copy of the subject's events.

Lightweight, not `ALTER TABLE … DELETE`: the rows are masked at once in the parts that hold
them (reads, FINAL included, skip them from then on) and merges drop them for good, where a
mutation would rewrite every column of those parts first. `lightweight_deletes_sync = 2`
returns once every replica has applied it; the count after it (every replica's local table,
in a cluster) is what `done` is checked against.
"""

from __future__ import annotations

from typing import Any

from clickhouse_connect.driver.client import Client

from shared.lifecycle.retention import Target
from shared.lifecycle.subjects import MATCH_KINDS


def condition(
    kind: str, values: list[str], team_id: str | None, project_id: str | None, received_before_ms: int | None
) -> tuple[str, dict[str, Any]]:
    """`received_before_ms`: None for every row of the subject (a suppressed one)."""
    if kind not in MATCH_KINDS:  # the column name is an identifier: from the allow-list only
        raise ValueError(f"not an erasable column: {kind!r}")
    params: dict[str, Any] = {"_v": values}
    where = [f"has({{_v:Array(String)}}, {kind})"]
    if received_before_ms is not None:
        where.append("received_at <= fromUnixTimestamp64Milli({_before:Int64}, 'UTC')")
        params["_before"] = received_before_ms
    if team_id is not None:
        where.append("team_id = {_team:String}")
        params["_team"] = team_id
    if project_id is not None:
        where.append("project_id = {_project:String}")
        params["_project"] = project_id
    return " AND ".join(where), params


def count(client: Client, target: Target, where: str, params: dict[str, Any], *, every_replica: bool = False) -> int:
    """Stored rows matching (every copy: no FINAL). `every_replica`: the largest count of any
    replica of the cluster, so a replica that missed the delete is seen."""
    if every_replica and target.cluster:
        sql = (
            f"SELECT max(c) FROM (SELECT hostName() AS h, count() AS c FROM "
            f"clusterAllReplicas({target.cluster}, {target.database}.events_local) WHERE {where} GROUP BY h)"
        )
    else:
        sql = f"SELECT count() FROM {target.reads} WHERE {where}"
    rows = client.query(sql, parameters=params).result_rows
    return int(rows[0][0] or 0) if rows else 0


def delete(client: Client, target: Target, where: str, params: dict[str, Any]) -> int:
    """Delete the matching rows; returns how many there were."""
    found = count(client, target, where, params)
    if found:
        client.command(
            f"DELETE FROM {target.table} WHERE {where} SETTINGS lightweight_deletes_sync = 2", parameters=params
        )
    return found
