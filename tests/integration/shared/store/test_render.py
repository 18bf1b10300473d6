"""Migrations for one node (`shared/store/migrations/*.sql`) and their cluster counterparts
(`shared/store/migrations/cluster/*.sql`, same file names). No ClickHouse cluster runs here, so
the cluster DDL is checked by ClickHouse's own parser (chDB's `formatQuery`, which parses
without running), by the conventions of `shared.store.migrate`'s docstring, and against its
single-node migration (same columns, engine, keys, SELECTs, ALTERs); the single-node DDL also
runs (the `migrated` fixture, every integration test)."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import resources

import pytest
from clickhouse_connect.driver.client import Client
from pydantic import ValidationError

from shared.settings import Settings
from shared.store import migrate as migrations
from shared.store.migrate import (
    DEDUP_WINDOW_BLOCKS,
    DEDUP_WINDOW_SECONDS,
    Migration,
    MigrationError,
    cluster_files,
    load_migrations,
    plan,
    split_statements,
)
from tests.support.processes import ROOT

pytestmark = pytest.mark.integration
DB, CLUSTER = "trackhouse", "events_cluster"
REPLICATION = "'/clickhouse/tables/{uuid}/{shard}', '{replica}'"


def parses(store: Client, statement: str) -> str:
    """ClickHouse's own formatting of `statement`; raises on a syntax error."""
    return str(store.command("SELECT formatQuery({q:String})", parameters={"q": statement}))


def single_line(store: Client, statement: str) -> str:
    """ClickHouse's own formatting of `statement` on one line (how the shapes below are read)."""
    rows = store.query("SELECT formatQuerySingleLine({q:String})", parameters={"q": statement}).result_rows
    return str(rows[0][0])  # not command(): its text comes back escaped


def sql_files(directory: str = "") -> list[str]:
    root = resources.files("shared.store.migrations")
    root = root.joinpath(directory) if directory else root
    return sorted(e.name for e in root.iterdir() if e.name.endswith(".sql"))


def test_every_migration_file_is_loaded() -> None:
    files = sql_files()
    assert [f"{m.version:04d}_{m.name}.sql" for m in load_migrations()] == files  # none skipped by its name


def test_every_migration_has_its_cluster_counterpart_and_no_other() -> None:
    # A new migration without migrations/cluster/<its name> (or a cluster file whose single-node
    # migration was renamed or removed) fails here, before a cluster runs into it.
    assert sql_files("cluster") == sql_files()
    assert sorted(cluster_files()) == sql_files()
    assert all(m.cluster_sql for m in load_migrations())


def test_a_migration_without_a_cluster_counterpart_does_not_plan_for_a_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    orphan = Migration(5, "orphan", "ALTER TABLE {database}.events DROP COLUMN IF EXISTS x")
    monkeypatch.setattr(migrations, "load_migrations", lambda: [*load_migrations(), orphan])
    assert plan(DB)[-1].statements == [f"ALTER TABLE {DB}.events DROP COLUMN IF EXISTS x"]
    with pytest.raises(MigrationError, match="0005_orphan.sql has no cluster counterpart"):
        plan(DB, CLUSTER)


@pytest.mark.parametrize("cluster", [None, CLUSTER], ids=["single-node", "cluster"])
def test_every_migration_renders_and_parses(store: Client, cluster: str | None) -> None:
    steps = plan(DB, cluster)
    assert [step.migration for step in steps] == load_migrations()
    for step in steps:
        assert step.statements, step.migration
        for statement in step.statements:
            parses(store, statement)
            assert "{database}" not in statement and "{cluster}" not in statement, statement
            if cluster is None:
                assert "ON CLUSTER" not in statement and "Replicated" not in statement
                continue
            assert re.search(rf"\bON CLUSTER {CLUSTER}\b", statement) or statement.startswith("INSERT"), (
                statement
            )
            if statement.startswith("INSERT"):  # acknowledged once the shards have the rows
                assert "SETTINGS distributed_foreground_insert = 1" in statement, statement
            engine = re.search(r"ENGINE = (\w+)", statement)
            if engine and engine[1].endswith("MergeTree"):  # no table escapes replication
                assert engine[1].startswith("Replicated") and "'{replica}'" in statement, statement


_TABLE = re.compile(
    r"CREATE (?:OR REPLACE )?TABLE (?:IF NOT EXISTS )?\w+\.(?P<name>\w+) (?:ON CLUSTER \w+ )?"
    r"\((?P<columns>.*)\) ENGINE = (?P<engine>\w+)(?:\((?P<args>[^()]*)\))?"
    r"(?P<clauses>.*?)(?: SETTINGS (?P<settings>.*?))?(?: (?P<empty>EMPTY )?AS (?P<select>SELECT .*))?"
)
_ALTER = re.compile(r"ALTER TABLE \w+\.(?P<name>\w+) (?:ON CLUSTER \w+ )?(?P<commands>.*)")
_INSERT_SELECT = re.compile(r"INSERT INTO \w+\.\w+ .*?(?P<select>SELECT .*)")


def shape(store: Client, statements: list[str], cluster: str | None) -> dict[str, list[object]]:
    """What a migration does to the schema, the same for both topologies: the MergeTree tables it
    creates (columns, engine and its own arguments, keys, settings), its ALTERs and the rows it
    copies. For a cluster, each local table is checked to be replicated and to get its
    Distributed table, sharded by the sorting key, after its last CREATE or ALTER."""
    tables: list[object] = []
    alters: list[object] = []
    copies: list[object] = []
    due: dict[str, str] = {}  # local tables created or altered: their expected Distributed table
    sorting: dict[str, str] = {}
    for statement in statements:
        text = single_line(store, statement)
        if table := _TABLE.fullmatch(text):
            engine, args, settings = table["engine"], table["args"] or "", table["settings"] or ""
            if not engine.endswith("MergeTree"):
                continue
            if cluster:
                assert table["name"].endswith("_local") and engine.startswith("Replicated"), text
                assert args.startswith(REPLICATION), text
                engine, args = engine.removeprefix("Replicated"), args.removeprefix(REPLICATION)
                args = args.removeprefix(", ")
                assert table["select"] is None or table["empty"], text  # rows copied once, below
                settings = settings.replace(
                    f"replicated_deduplication_window = {DEDUP_WINDOW_BLOCKS}, "
                    f"replicated_deduplication_window_seconds = {DEDUP_WINDOW_SECONDS}",
                    "<dedup window>",
                )
                name = table["name"].removesuffix("_local")
                order = re.search(r"ORDER BY (\(.*\)|\S+)", table["clauses"])
                assert order, text
                sorting[name] = order[1][1:-1] if order[1].startswith("(") else order[1]
                due[name] = text
            else:
                settings = re.sub(r"non_replicated_deduplication_window = \d+", "<dedup window>", settings)
                if table["select"]:
                    copies.append(table["select"])
            tables.append((table["columns"], engine, args, table["clauses"], settings))
        elif alter := _ALTER.fullmatch(text):
            name = alter["name"]
            if cluster:
                assert name.endswith("_local"), text
                name = name.removesuffix("_local")
                due[name] = text
            alters.append((name, alter["commands"]))
        elif insert := _INSERT_SELECT.fullmatch(text):
            copies.append(insert["select"])
        distributed = re.fullmatch(
            rf"CREATE OR REPLACE TABLE {DB}\.(\w+) ON CLUSTER {CLUSTER} AS {DB}\.(\w+)_local "
            rf"ENGINE = Distributed\({CLUSTER}, {DB}, (\w+)_local, cityHash64\((.*)\)\)",
            text,
        )
        if distributed:
            name = distributed[1]
            assert distributed[2] == distributed[3] == name, text
            assert distributed[4] == sorting.get(name, distributed[4]), text  # sharded by the sorting key
            due.pop(name, None)
    assert not due, f"no Distributed table re-created after: {due}"
    return {"tables": tables, "alters": alters, "copies": copies}


@pytest.mark.parametrize("version", [m.version for m in load_migrations()])
def test_each_cluster_migration_does_what_its_single_node_one_does(store: Client, version: int) -> None:
    [single] = [step for step in plan(DB) if step.migration.version == version]
    [cluster] = [step for step in plan(DB, CLUSTER) if step.migration.version == version]
    assert shape(store, cluster.statements, CLUSTER) == shape(store, single.statements, None)


def test_the_shape_check_catches_a_cluster_migration_that_drifted(store: Client) -> None:
    [single] = [step.statements for step in plan(DB) if step.migration.version == 2]
    [cluster] = [step.statements for step in plan(DB, CLUSTER) if step.migration.version == 2]
    drifted = [cluster[0].replace("    referrer            String,\n", ""), cluster[1]]
    assert shape(store, drifted, CLUSTER) != shape(store, single, None)  # a column missing
    with pytest.raises(AssertionError, match="no Distributed table"):
        shape(store, cluster[:1], CLUSTER)


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
