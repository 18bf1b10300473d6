"""Migrations rendered for one node and for a cluster. No ClickHouse server runs here, so the
cluster rendering is checked by ClickHouse's own parser (chDB's `formatQuery`, which parses
without running) and by its shape; the single-node rendering also runs (the `migrated` fixture,
every integration test)."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import resources

import pytest
from clickhouse_connect.driver.client import Client
from pydantic import ValidationError

from shared.settings import Settings
from shared.store.migrate import load_migrations, plan
from shared.store.render import DEDUP_WINDOW_SECONDS, ClusterRenderer, RenderError, render, split_statements
from tests.support.processes import ROOT

pytestmark = pytest.mark.integration
DB, CLUSTER = "trackhouse", "events_cluster"


def parses(store: Client, statement: str) -> str:
    """ClickHouse's own formatting of `statement`; raises on a syntax error."""
    return str(store.command("SELECT formatQuery({q:String})", parameters={"q": statement}))


def test_every_migration_file_is_loaded() -> None:
    files = sorted(
        e.name for e in resources.files("shared.store.migrations").iterdir() if e.name.endswith(".sql")
    )
    assert [f"{m.version:04d}_{m.name}.sql" for m in load_migrations()] == files  # none skipped by its name


@pytest.mark.parametrize("cluster", [None, CLUSTER], ids=["single-node", "cluster"])
def test_every_migration_renders_and_parses(store: Client, cluster: str | None) -> None:
    steps = plan(DB, cluster)
    assert [step.migration for step in steps] == load_migrations()
    for step in steps:
        assert step.statements, step.migration
        for statement in step.statements:
            parses(store, statement)
            if cluster is None:
                assert "ON CLUSTER" not in statement and "Replicated" not in statement
                continue
            assert re.search(rf"\bON CLUSTER {CLUSTER}\b", statement) or statement.startswith("INSERT"), (
                statement
            )
            engine = re.search(r"ENGINE = (\w+)", statement)
            if engine and engine[1].endswith("MergeTree"):  # no table escapes replication
                assert engine[1].startswith("Replicated") and "'{replica}'" in statement, statement


def test_the_events_table_on_a_cluster(store: Client) -> None:
    statements = [s for step in plan(DB, CLUSTER) for s in step.statements]
    local = next(s for s in statements if s.startswith(f"CREATE TABLE IF NOT EXISTS {DB}.events_local"))
    assert "ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}')" in local
    assert "non_replicated_deduplication_window" not in local
    assert f"replicated_deduplication_window_seconds = {DEDUP_WINDOW_SECONDS}" in local
    # Reads and inserts name trackhouse.events: the Distributed table, current after every ALTER.
    distributed = f"CREATE OR REPLACE TABLE {DB}.events ON CLUSTER {CLUSTER} AS {DB}.events_local"
    last = [s for s in statements if s.startswith(distributed)][-1]
    assert f"Distributed({CLUSTER}, {DB}, events_local, cityHash64(team_id, project_id" in last
    # A rebuild (0004: CREATE OR REPLACE … AS SELECT) copies once through the Distributed tables
    # into a new replicated table, swaps it in, re-creates the Distributed table, drops the old.
    rebuild = [s for step in plan(DB, CLUSTER) if step.migration.version == 4 for s in step.statements]
    if rebuild:
        heads = [" ".join(s.split()[:6]) for s in rebuild]
        assert heads.index(
            f"EXCHANGE TABLES {DB}.events__rebuild_local AND {DB}.events_local ON"
        ) < heads.index(" ".join(last.split()[:6]))
        assert any(
            s.startswith(f"INSERT INTO {DB}.events__rebuild SETTINGS distributed_foreground_insert = 1")
            for s in rebuild
        )
        assert rebuild[-1] == f"DROP TABLE IF EXISTS {DB}.events__rebuild_local ON CLUSTER {CLUSTER} SYNC"
    # The deduplication window outlives the whole retry schedule (plus every attempt's timeout).
    settings = Settings()
    attempts = len(settings.retry_intervals_seconds) + 1
    assert (
        sum(settings.retry_intervals_seconds) + attempts * settings.job_timeout_seconds < DEDUP_WINDOW_SECONDS
    )


# The shapes the next migrations take (a rebuild with a version column, rollups): rendered by
# hand here, so the rules are pinned down and each result parses.
FUTURE = """
CREATE TABLE IF NOT EXISTS {db}.events_v2 (event_id String, team_id String, ver UInt64)
ENGINE = ReplacingMergeTree(ver) ORDER BY (team_id, event_id);
INSERT INTO {db}.events_v2 (event_id, team_id, ver) SELECT event_id, team_id, 0 FROM {db}.events;
EXCHANGE TABLES {db}.events AND {db}.events_v2;
DROP TABLE IF EXISTS {db}.events_v2;
CREATE TABLE IF NOT EXISTS {db}.daily (team_id String, day Date, n UInt64)
ENGINE = SummingMergeTree ORDER BY (team_id, day);
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.daily_mv TO {db}.daily
AS SELECT team_id, toDate(now()) AS day, count() AS n FROM {db}.events GROUP BY team_id;
CREATE VIEW IF NOT EXISTS {db}.teams AS SELECT DISTINCT team_id FROM {db}.events;
RENAME TABLE {db}.daily TO {db}.daily_counts;
OPTIMIZE TABLE {db}.daily_counts FINAL
"""


def test_rebuilds_rollups_and_views(store: Client) -> None:
    base = [s for step in plan(DB) for s in split_statements(step.migration.sql.format(database=DB))]
    renderer = ClusterRenderer(DB, CLUSTER)
    render(base, renderer)  # the tables so far
    out = render(split_statements(FUTURE.format(db=DB)), renderer)
    on = f"ON CLUSTER {CLUSTER}"
    d_events = f"Distributed({CLUSTER}, {DB}, events_local, cityHash64(team_id, event_id))"
    assert out == [
        f"CREATE TABLE IF NOT EXISTS {DB}.events_v2_local {on} (event_id String, team_id String, ver UInt64)\n"
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}', ver) "
        "ORDER BY (team_id, event_id)",
        f"CREATE OR REPLACE TABLE {DB}.events_v2 {on} AS {DB}.events_v2_local ENGINE = "
        f"Distributed({CLUSTER}, {DB}, events_v2_local, cityHash64(team_id, event_id))",
        f"INSERT INTO {DB}.events_v2 (event_id, team_id, ver) SETTINGS distributed_foreground_insert = 1 "
        f"SELECT event_id, team_id, 0 FROM {DB}.events",
        f"EXCHANGE TABLES {DB}.events_local AND {DB}.events_v2_local {on}",
        f"CREATE OR REPLACE TABLE {DB}.events {on} AS {DB}.events_local ENGINE = {d_events}",
        f"CREATE OR REPLACE TABLE {DB}.events_v2 {on} AS {DB}.events_v2_local ENGINE = Distributed({CLUSTER}, "
        f"{DB}, events_v2_local, cityHash64(team_id, project_id, link_id, toDate(event_time), event_id))",
        f"DROP TABLE IF EXISTS {DB}.events_v2 {on}",
        f"DROP TABLE IF EXISTS {DB}.events_v2_local {on}",
        f"CREATE TABLE IF NOT EXISTS {DB}.daily_local {on} (team_id String, day Date, n UInt64)\n"
        "ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}') "
        "ORDER BY (team_id, day)",
        f"CREATE OR REPLACE TABLE {DB}.daily {on} AS {DB}.daily_local ENGINE = "
        f"Distributed({CLUSTER}, {DB}, daily_local, cityHash64(team_id, day))",
        # The view runs on every node, from the inserts into its node's local table.
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {DB}.daily_mv {on} TO {DB}.daily_local\n"
        f"AS SELECT team_id, toDate(now()) AS day, count() AS n FROM {DB}.events_local GROUP BY team_id",
        f"CREATE VIEW IF NOT EXISTS {DB}.teams {on} AS SELECT DISTINCT team_id FROM {DB}.events",
        f"RENAME TABLE {DB}.daily_local TO {DB}.daily_counts_local {on}",
        f"DROP TABLE IF EXISTS {DB}.daily {on} SYNC",
        f"CREATE OR REPLACE TABLE {DB}.daily_counts {on} AS {DB}.daily_counts_local ENGINE = "
        f"Distributed({CLUSTER}, {DB}, daily_counts_local, cityHash64(team_id, day))",
        f"OPTIMIZE TABLE {DB}.daily_counts_local {on} FINAL",
    ]
    for statement in out:
        parses(store, statement)


@pytest.mark.parametrize(
    "statement",
    [
        "GRANT SELECT ON {db}.events TO reader",  # no rule: the migration must not ship untested
        "CREATE MATERIALIZED VIEW {db}.mv ENGINE = MergeTree ORDER BY a AS SELECT a FROM {db}.events",
        "CREATE TABLE other_db.t (a String) ENGINE = MergeTree ORDER BY a",
        "CREATE TABLE {db}.t (a String) ENGINE = MergeTree",
        "INSERT INTO {db}.events VALUES ('x')",
    ],
)
def test_what_the_renderer_cannot_handle_fails_loudly(statement: str) -> None:
    with pytest.raises(RenderError):
        ClusterRenderer(DB, CLUSTER).render(statement.format(db=DB))


def test_split_keeps_semicolons_in_strings_and_drops_comments() -> None:
    sql = "-- a comment; not a statement\nSELECT 'a;b' /* c; */ ; SELECT 2;\n"
    assert split_statements(sql) == ["SELECT 'a;b'", "SELECT 2"]


def test_dry_run_prints_the_plan_as_sql(store: Client) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cli", "migrate", "--dry-run"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "TRACKHOUSE_CLICKHOUSE_CLUSTER": CLUSTER},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    expected = [s for step in plan(DB, CLUSTER) for s in step.statements]
    assert split_statements(out) == expected
    assert all(f"{statement};\n" in out + "\n" for statement in expected)  # each ends in ";"


def test_the_cluster_name_is_a_plain_identifier() -> None:
    with pytest.raises(ValidationError, match="plain identifier"):
        Settings(clickhouse_cluster="c ON CLUSTER x; DROP DATABASE trackhouse")
    assert Settings(clickhouse_cluster=" ").clickhouse_cluster is None  # compose's empty default


def test_a_new_table_from_a_select_is_copied_once(store: Client) -> None:
    renderer = ClusterRenderer(DB, CLUSTER)
    render([f"CREATE TABLE {DB}.events (a String) ENGINE = MergeTree ORDER BY a"], renderer)
    out = renderer.render(
        f"CREATE TABLE IF NOT EXISTS {DB}.copy (a String) ENGINE = MergeTree ORDER BY a AS SELECT a FROM {DB}.events"
    )
    on = f"ON CLUSTER {CLUSTER}"
    assert out == [
        f"CREATE TABLE IF NOT EXISTS {DB}.copy_local {on} (a String) "
        "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}') ORDER BY a "
        f"EMPTY AS SELECT a FROM {DB}.events_local",  # structure only, on every node
        f"CREATE OR REPLACE TABLE {DB}.copy {on} AS {DB}.copy_local ENGINE = Distributed({CLUSTER}, {DB}, copy_local, cityHash64(a))",
        f"INSERT INTO {DB}.copy SETTINGS distributed_foreground_insert = 1 SELECT a FROM {DB}.events",  # once
    ]
    for statement in out:
        parses(store, statement)
