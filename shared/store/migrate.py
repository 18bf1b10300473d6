"""Schema migrations: numbered, append-only SQL files in `shared/store/migrations/`.

Each file holds one or more statements separated by `;`; `{database}` is replaced by the
configured database name (validated as a plain identifier in Settings, since DDL cannot bind
identifiers). Every table is named `{database}.<name>`. Those files are for one node.

With `CLICKHOUSE_CLUSTER` set, the same migration runs from its counterpart of the same file
name in `shared/store/migrations/cluster/` (`{cluster}` is replaced by the cluster name too;
ClickHouse's own macros `{uuid}`, `{shard}`, `{replica}` are left for the servers), written
by hand by these conventions:

- Every DDL statement has `ON CLUSTER {cluster}`.
- A `*MergeTree` table `t` is two: `t_local` on every node, with the `Replicated` variant of
  its engine (`'/clickhouse/tables/{uuid}/{shard}', '{replica}'`, then the engine's own
  arguments, e.g. `ReplicatedReplacingMergeTree(…, ver)`), and `t`, a `Distributed` table over
  the shards that every read and insert goes through, sharded by `cityHash64(<sorting key>)`
  (so rows a Replacing/Summing engine collapses meet on one shard); the code keeps naming `t`.
  `{uuid}` (the same on every replica with ON CLUSTER) keeps Keeper paths apart when a table is
  rebuilt under a name used before. A table that deduplicates inserts
  (`non_replicated_deduplication_window`) has `replicated_deduplication_window` =
  `DEDUP_WINDOW_BLOCKS` and `replicated_deduplication_window_seconds` = `DEDUP_WINDOW_SECONDS`.
- `ALTER`, `OPTIMIZE`, `TRUNCATE` act on `t_local`; `RENAME`/`EXCHANGE` rename the local
  tables; each is followed by `CREATE OR REPLACE TABLE t … AS t_local ENGINE = Distributed(…)`,
  so the Distributed table always carries the local table's columns. `DROP` drops both.
- A materialized view writes `TO` a local table and reads local tables (it runs on every node
  from the inserts that land there); a plain view reads the Distributed tables.
- A rebuild (`CREATE OR REPLACE TABLE … AS SELECT`) creates the new local tables `EMPTY AS`,
  copies the rows once through the Distributed tables, exchanges and drops the old
  (cluster/0004 does).
- `INSERT … SELECT` goes through the Distributed tables with `distributed_foreground_insert = 1`
  (the workers' inserts set it too): acknowledged only once the shards have the rows.

No ClickHouse cluster runs in the tests: `tests/integration/shared/store/test_render.py` fails
when a migration has no cluster counterpart (or the reverse), parses every statement of both
with ClickHouse's own parser, checks these conventions, and that each replicated table has the
columns of its single-node table.

Applied versions are recorded in `<database>.schema_migrations` (created right after
migration 1: `_BOOKKEEPING` on one node, in cluster/0001 for a cluster). Every statement should
be idempotent (IF NOT EXISTS), so two processes migrating at once do no harm; a migration that
renames or exchanges tables is not, so run `trackhouse migrate` once before starting the
services (compose does: its one-shot `migrate` service).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING

from clickhouse_connect.driver.client import Client

if TYPE_CHECKING:
    from shared.settings import Settings

log = logging.getLogger(__name__)

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_CLUSTER_DIR = "cluster"
_PLACEHOLDER = re.compile(r"\{(database|cluster)\}")
DEDUP_WINDOW_BLOCKS = 10_000
"""Inserts each replicated table remembers for deduplication (Keeper holds their hashes)."""
DEDUP_WINDOW_SECONDS = 7 * 86_400
"""How long they are remembered: the default retry schedule spans ~43 minutes (plus job
timeouts), and a dead letter requeued within a week is still deduplicated."""
_BOOKKEEPING = (
    "CREATE TABLE IF NOT EXISTS {database}.schema_migrations "
    "(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
    "ENGINE = ReplacingMergeTree ORDER BY version"
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str
    cluster_sql: str | None = None
    """The same migration for a cluster (`migrations/cluster/<same file name>`); None: missing."""


class MigrationError(ValueError):
    """A migration that cannot run here (no cluster counterpart)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One migration as it runs here: its statements, for one node or for the cluster."""

    migration: Migration
    statements: list[str]


def split_statements(sql: str) -> list[str]:
    """The statements of a migration file: split on `;` outside quotes; comments dropped."""
    statements, current, i = [], [], 0
    while i < len(sql):
        char = sql[i]
        if char in "'\"`":
            end = i + 1
            while end < len(sql) and sql[end] != char:
                end += 2 if sql[end] == "\\" else 1
            current.append(sql[i : end + 1])
            i = end + 1
        elif sql.startswith("--", i):
            i = sql.find("\n", i) if "\n" in sql[i:] else len(sql)
        elif sql.startswith("/*", i):
            i = sql.index("*/", i) + 2
        elif char == ";":
            statements.append("".join(current))
            current, i = [], i + 1
        else:
            current.append(char)
            i += 1
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]


def _files(directory: Traversable) -> dict[str, str]:
    """The migration files in `directory`, by file name."""
    if not directory.is_dir():
        return {}
    return {e.name: e.read_text(encoding="utf-8") for e in directory.iterdir() if _FILE.match(e.name)}


def cluster_files() -> dict[str, str]:
    """`migrations/cluster/*.sql` by file name (each should have a single-node file of its name)."""
    return _files(resources.files("shared.store.migrations").joinpath(_CLUSTER_DIR))


def load_migrations() -> list[Migration]:
    cluster = cluster_files()
    found = []
    for name, sql in _files(resources.files("shared.store.migrations")).items():
        match = _FILE.match(name)
        assert match is not None
        found.append(Migration(int(match[1]), match[2], sql, cluster.get(name)))
    return sorted(found, key=lambda m: m.version)


def _fill(sql: str, database: str, cluster: str | None) -> str:
    """`{database}` and `{cluster}` replaced; any other `{…}` (ClickHouse's macros) kept."""
    names = {"database": database, "cluster": cluster or ""}
    return _PLACEHOLDER.sub(lambda m: names[m[1]], sql)


def plan(database: str, cluster: str | None = None) -> list[Step]:
    """Every migration's statements, in order, for one node or (from `migrations/cluster/`) for
    `cluster`."""
    steps = []
    for migration in load_migrations():
        if cluster is None:
            statements = split_statements(_fill(migration.sql, database, None))
            if migration.version == 1:  # the database exists from here on
                statements.append(_BOOKKEEPING.format(database=database))
        elif migration.cluster_sql is None:
            raise MigrationError(
                f"{migration.version:04d}_{migration.name}.sql has no cluster counterpart in "
                f"shared/store/migrations/{_CLUSTER_DIR}/"
            )
        else:
            statements = split_statements(_fill(migration.cluster_sql, database, cluster))
        steps.append(Step(migration, statements))
    return steps


def dry_run(database: str, cluster: str | None = None) -> str:
    """The SQL a fresh store would run, each statement ending in `;` (`trackhouse migrate --dry-run`)."""
    lines = []
    for step in plan(database, cluster):
        lines.append(f"-- {step.migration.version:04d}_{step.migration.name}")
        lines.extend(f"{statement};" for statement in step.statements)
    return "\n".join(lines)


def _applied(client: Client, database: str) -> set[int]:
    exists = client.command(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'schema_migrations'",
        parameters={"db": database},
    )
    if not exists:
        return set()
    rows = client.query(f"SELECT version FROM {database}.schema_migrations").result_rows
    return {int(row[0]) for row in rows}


def migrate(client: Client, database: str, cluster: str | None = None) -> list[Migration]:
    """Apply every migration not yet recorded; return those applied now."""
    applied = _applied(client, database)
    done = []
    # A cluster's bookkeeping table is Distributed: the record must reach a shard before we go on.
    insert_settings = {"distributed_foreground_insert": 1} if cluster else None
    for step in plan(database, cluster):
        migration = step.migration
        if migration.version in applied:
            continue
        for statement in step.statements:
            client.command(statement)
        client.insert(
            f"{database}.schema_migrations",
            [[migration.version, migration.name]],
            column_names=["version", "name"],
            settings=insert_settings,
        )
        log.info("applied migration %04d_%s", migration.version, migration.name)
        done.append(migration)
    return done


def migrate_configured(client: Client, settings: Settings) -> list[Migration]:
    """`migrate` into the configured database (CLICKHOUSE_DATABASE), for the configured cluster
    (CLICKHOUSE_CLUSTER) if set: what every process that migrates at start-up runs."""
    return migrate(client, settings.clickhouse_database, settings.clickhouse_cluster)
