"""The statements retention and erasure send to a cluster (`ON CLUSTER`, the local tables,
every replica counted), checked by ClickHouse's own parser: no cluster runs here (chDB's
`formatQuery` parses without running, as for the cluster migrations)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from shared.lifecycle import erase_store
from shared.lifecycle.retention import Retention, Target, enforce

pytestmark = pytest.mark.integration
CLUSTER = Target("trackhouse", "events_cluster")


class Recording:
    """Stands in for the cluster's client: records every statement, answers counts of 5."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def query(self, sql: str, parameters: Any = None) -> SimpleNamespace:
        self.statements.append(sql)
        if "GROUP BY month" in sql:
            return SimpleNamespace(result_rows=[(202001, "p", 5), (202612, "p", 5)])
        return SimpleNamespace(result_rows=[(5,)])

    def command(self, sql: str, parameters: Any = None) -> None:
        self.statements.append(sql)


def parses(store: Client, statement: str) -> str:
    return str(store.command("SELECT formatQuery({q:String})", parameters={"q": statement}))


def test_cluster_statements_parse(store: Client) -> None:
    recording = Recording()
    rules = Retention.at(datetime(2026, 12, 3, tzinfo=UTC), 90, {"p": SimpleNamespace(retention_days=None)})
    report = enforce(recording, CLUSTER, rules)  # type: ignore[arg-type]
    assert report.partitions_dropped == [202001] and report.rows_deleted == 5
    where, params = erase_store.condition("user_email", ["a@example.com"], "t", "p", 1_700_000_000_000)
    erase_store.delete(recording, CLUSTER, where, params)  # type: ignore[arg-type]
    erase_store.count(recording, CLUSTER, where, params, every_replica=True)  # type: ignore[arg-type]
    statements = recording.statements
    assert any("DROP PARTITION 202001" in s and "ON CLUSTER events_cluster" in s for s in statements)
    assert sum(s.startswith("DELETE FROM trackhouse.events_local ON CLUSTER events_cluster") for s in statements) == 2
    assert any("clusterAllReplicas(events_cluster, trackhouse.events_local)" in s for s in statements)
    for statement in statements:
        assert parses(store, statement), statement
