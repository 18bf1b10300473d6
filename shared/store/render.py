"""Rendering migrations for one ClickHouse node or for a cluster (`CLICKHOUSE_CLUSTER`).

Migrations are written for a single node (`shared/store/migrations/*.sql`). Single node: each
statement runs as written. Cluster: `render` rewrites each statement by these rules, keeping
track of the tables created so far:

- Every DDL statement gets `ON CLUSTER <cluster>`.
- A `*MergeTree` table `db.t` becomes two: `db.t_local` on every node, with the `Replicated`
  variant of its engine (`'/clickhouse/tables/{uuid}/{shard}', '{replica}'`, then the
  engine's own arguments, e.g. `ReplacingMergeTree(ver)`), and `db.t`, a `Distributed` table
  over the shards that every read and insert goes through, sharded by a hash of the sorting
  key, so rows a Replacing/Summing engine collapses meet on one shard. So the code keeps
  naming `db.t`. `{uuid}` (the same on every replica with ON CLUSTER) keeps Keeper paths
  apart when a table is rebuilt under a name used before. A table that deduplicates inserts
  (`non_replicated_deduplication_window`) gets `replicated_deduplication_window` and its
  seconds setting instead, sized to outlive the retry schedule (below).
- `ALTER`, `OPTIMIZE`, `TRUNCATE` of such a table act on `db.t_local`; `RENAME` and
  `EXCHANGE` rename the local tables; each is followed by `CREATE OR REPLACE` of the
  Distributed table(s) `AS` their local table, so they always carry its columns (a
  Distributed table holds no data: inserts are synchronous, below). `DROP` drops both.
- A materialized view must write `TO` a table; it is created on every node and reads and
  writes the local tables (`FROM db.t` becomes `FROM db.t_local`), so it sees the inserts
  that land on its node. A plain view reads the Distributed tables.
- `CREATE [OR REPLACE] TABLE … AS SELECT` (a rebuild) creates the new local tables empty, copies
  the rows once through the Distributed tables and, for OR REPLACE, exchanges the copy with the
  old table and drops the old one (`ClusterRenderer._table_from_select`).
- `INSERT … SELECT` goes through the Distributed tables with `distributed_foreground_insert = 1`
  (the workers' inserts set it too): acknowledged only once the shards have the rows.
- Anything else raises `RenderError`, so a migration the renderer does not understand fails
  `tests/integration/shared/store/test_render.py` (which renders every migration) before it ships.

Conventions for migration authors: name every table `{database}.<name>`; one or more statements
per file, separated by `;`; no `ON CLUSTER` and no Replicated engines of your own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DEDUP_WINDOW_BLOCKS = 10_000
"""Inserts each replicated table remembers for deduplication (Keeper holds their hashes)."""
DEDUP_WINDOW_SECONDS = 7 * 86_400
"""How long they are remembered: the default retry schedule spans ~43 minutes (plus job
timeouts), and a dead letter requeued within a week is still deduplicated."""
LOCAL_SUFFIX = "_local"
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


class RenderError(ValueError):
    """A statement the cluster renderer has no rule for."""


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


@dataclass
class ClusterRenderer:
    """Renders single-node statements for `cluster`, in migration order (it tracks tables)."""

    database: str
    cluster: str
    sharding: dict[str, str] = field(default_factory=dict)
    """Tables split into local + Distributed, by name: their sharding expression."""

    def render(self, statement: str) -> list[str]:
        head = " ".join(statement.split()[:5]).upper().replace("CREATE OR REPLACE ", "CREATE ")
        for prefix, rule in (
            ("CREATE DATABASE", self._database),
            ("CREATE MATERIALIZED VIEW", self._materialized_view),
            ("CREATE VIEW", self._view),
            ("CREATE TABLE", self._table),
            ("ALTER TABLE", self._alter),
            ("OPTIMIZE TABLE", self._alter),
            ("TRUNCATE TABLE", self._alter),
            ("RENAME TABLE", self._rename),
            ("EXCHANGE TABLES", self._exchange),
            ("DROP TABLE", self._drop),
            ("DROP VIEW", self._drop),
            ("DROP DATABASE", self._database),
            ("INSERT INTO", self._insert),
        ):
            if head.startswith(prefix):
                return rule(statement)
        raise RenderError(f"no cluster rule for: {statement[:80]}")

    # --- names ---
    def _qualified(self, name: str) -> str:
        return f"{self.database}.{name}"

    def _ref(self) -> str:
        return rf"\b{re.escape(self.database)}\.({_NAME})\b"

    def _to_local(self, text: str) -> str:
        """References to split tables in `text`, pointed at their local tables."""
        return re.sub(
            self._ref(),
            lambda m: self._qualified(m[1] + LOCAL_SUFFIX) if m[1] in self.sharding else m[0],
            text,
        )

    def _on_cluster(self, statement: str, target: re.Match[str], name: str | None = None) -> str:
        """`statement` with the object at `target` renamed to `name` and ON CLUSTER after it."""
        new = self._qualified(name) if name else target[0]
        return f"{statement[: target.start()]}{new} ON CLUSTER {self.cluster}{statement[target.end() :]}"

    def _target(self, statement: str, keywords: str) -> re.Match[str]:
        match = re.match(rf"\s*{keywords}\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?", statement, re.IGNORECASE)
        assert match is not None
        name = re.compile(rf"{_NAME}(?:\.{_NAME})?").match(statement, match.end())
        if name is None:
            raise RenderError(f"no object name in: {statement[:80]}")
        return name

    def _table_name(self, target: re.Match[str]) -> str:
        database, _, name = target[0].rpartition(".")
        if database != self.database:
            raise RenderError(f"name tables {{database}}.<name>, not {target[0]!r}")
        return name

    def distributed(self, name: str) -> str:
        local = name + LOCAL_SUFFIX
        return (
            f"CREATE OR REPLACE TABLE {self._qualified(name)} ON CLUSTER {self.cluster} "
            f"AS {self._qualified(local)} ENGINE = Distributed({self.cluster}, {self.database}, {local}, "
            f"{self.sharding[name]})"
        )

    # --- rules ---
    def _database(self, statement: str) -> list[str]:
        keywords = r"(?:CREATE|DROP)\s+DATABASE"
        target = self._target(statement, keywords)
        return [self._on_cluster(statement, target)]

    def _view(self, statement: str) -> list[str]:
        target = self._target(statement, r"CREATE\s+(?:OR\s+REPLACE\s+)?VIEW")
        return [self._on_cluster(statement, target)]

    def _materialized_view(self, statement: str) -> list[str]:
        target = self._target(statement, r"CREATE\s+MATERIALIZED\s+VIEW")
        if not re.match(r"\s+TO\s", statement[target.end() :], re.IGNORECASE):
            raise RenderError(f"a materialized view needs TO <table> in cluster mode: {statement[:80]}")
        rendered = self._on_cluster(statement, target)
        cut = target.start() + len(target[0]) + len(f" ON CLUSTER {self.cluster}")
        return [rendered[:cut] + self._to_local(rendered[cut:])]

    def _table(self, statement: str) -> list[str]:
        target = self._target(statement, r"CREATE\s+(?:OR\s+REPLACE\s+)?TABLE")
        name = self._table_name(target)
        rest = statement[target.end() :]
        engine = re.search(rf"\bENGINE\s*=\s*({_NAME})(\s*\((?:[^()]|\([^()]*\))*\))?", rest, re.IGNORECASE)
        if engine is None:
            raise RenderError(f"no ENGINE in: {statement[:80]}")
        if not engine[1].endswith("MergeTree") or engine[1].startswith("Replicated"):
            return [self._on_cluster(statement, target)]  # a per-node table (Memory, Null, ...)
        arguments = (engine[2] or "").strip()[1:-1].strip()
        replicated = f"ENGINE = Replicated{engine[1]}('/clickhouse/tables/{{uuid}}/{{shard}}', '{{replica}}'"
        replicated += f", {arguments})" if arguments else ")"
        columns, tail = self._to_local(rest[: engine.start()]), rest[engine.end() :]
        select = re.search(r"\bAS\s+(?=(?:SELECT|WITH)\b)", tail, re.IGNORECASE)
        clauses = tail[: select.start()] if select else tail
        source = re.match(rf"\s*AS\s+{self._ref()}", rest, re.IGNORECASE)  # CREATE TABLE t AS other …
        key = _sharding_key(clauses, self.sharding.get(source[1]) if source else None)
        if select:
            return self._table_from_select(
                statement, name, columns + replicated + _dedup_settings(clauses), key, tail[select.end() :]
            )
        self.sharding[name] = key
        created = (
            f"{statement[: target.start()]}{self._qualified(name + LOCAL_SUFFIX)} ON CLUSTER {self.cluster}"
        )
        return [created + columns + replicated + _dedup_settings(tail), self.distributed(name)]

    def _table_from_select(
        self, statement: str, name: str, definition: str, key: str, query: str
    ) -> list[str]:
        """CREATE [OR REPLACE] TABLE … AS SELECT: run on every node, each replica would copy its
        own parts into the new table. Instead: create the local tables empty (`EMPTY AS`, the
        structure from the local tables), copy once through the Distributed tables (one copy
        per shard; replication does the rest), and for OR REPLACE swap the copy in and drop the
        old table. The copy inserts the SELECT's columns by position: explicit columns of such a
        statement may only be MATERIALIZED, ALIAS or indexes."""
        replace = bool(re.match(r"\s*CREATE\s+OR\s+REPLACE\b", statement, re.IGNORECASE))
        target = f"{name}__rebuild" if replace and name in self.sharding else name
        local, on = self._qualified(target + LOCAL_SUFFIX), f"ON CLUSTER {self.cluster}"
        out = [
            f"DROP TABLE IF EXISTS {self._qualified(target)} {on} SYNC",
            f"DROP TABLE IF EXISTS {local} {on} SYNC",
        ]
        out = out if target != name else []
        keyword = (
            "CREATE TABLE IF NOT EXISTS" if target == name and not replace else "CREATE OR REPLACE TABLE"
        )
        out.append(f"{keyword} {local} {on}{definition.rstrip()} EMPTY AS {self._to_local(query)}")
        self.sharding[target] = key
        out.append(self.distributed(target))
        out.append(
            f"INSERT INTO {self._qualified(target)} SETTINGS distributed_foreground_insert = 1 {query}"
        )
        if target != name:
            out += self._exchange(f"EXCHANGE TABLES {self._qualified(target)} AND {self._qualified(name)}")
            out += self._drop(f"DROP TABLE IF EXISTS {self._qualified(target)} SYNC")
        return out

    def _alter(self, statement: str) -> list[str]:
        target = self._target(statement, r"(?:ALTER|OPTIMIZE|TRUNCATE)\s+TABLE")
        name = self._table_name(target)
        if name not in self.sharding:
            return [self._on_cluster(statement, target)]
        rendered = self._on_cluster(statement, target, name + LOCAL_SUFFIX)
        return [rendered] if statement.split()[0].upper() != "ALTER" else [rendered, self.distributed(name)]

    def _pairs(self, text: str, separator: str) -> list[tuple[str, str]]:
        pairs = re.findall(rf"{self._ref()}\s+{separator}\s+{self._ref()}", text, re.IGNORECASE)
        if not pairs:
            raise RenderError(f"name tables {{database}}.<name> in: {text[:80]}")
        return pairs

    def _rename(self, statement: str) -> list[str]:
        pairs = self._pairs(statement, "TO")
        split = [(a, b) for a, b in pairs if a in self.sharding]
        renames = ", ".join(
            f"{self._qualified(a + LOCAL_SUFFIX if (a, b) in split else a)} TO "
            f"{self._qualified(b + LOCAL_SUFFIX if (a, b) in split else b)}"
            for a, b in pairs
        )
        out = [f"RENAME TABLE {renames} ON CLUSTER {self.cluster}"]
        for a, b in split:
            self.sharding[b] = self.sharding.pop(a)
            out += [
                f"DROP TABLE IF EXISTS {self._qualified(a)} ON CLUSTER {self.cluster} SYNC",
                self.distributed(b),
            ]
        return out

    def _exchange(self, statement: str) -> list[str]:
        [(a, b)] = self._pairs(statement, "AND")
        if a not in self.sharding or b not in self.sharding:
            return [
                f"EXCHANGE TABLES {self._qualified(a)} AND {self._qualified(b)} ON CLUSTER {self.cluster}"
            ]
        self.sharding[a], self.sharding[b] = self.sharding[b], self.sharding[a]
        local_a, local_b = self._qualified(a + LOCAL_SUFFIX), self._qualified(b + LOCAL_SUFFIX)
        return [
            f"EXCHANGE TABLES {local_a} AND {local_b} ON CLUSTER {self.cluster}",
            self.distributed(a),
            self.distributed(b),
        ]

    def _drop(self, statement: str) -> list[str]:
        target = self._target(statement, r"DROP\s+(?:TABLE|VIEW)")
        name = self._table_name(target)
        rendered = self._on_cluster(statement, target)
        if name not in self.sharding:
            return [rendered]
        del self.sharding[name]
        return [rendered, self._on_cluster(statement, target, name + LOCAL_SUFFIX)]

    def _insert(self, statement: str) -> list[str]:
        target = self._target(statement, r"INSERT\s+INTO(?:\s+TABLE)?")
        end = target.end()
        columns = re.match(r"\s*\((?:[^()]|\([^()]*\))*\)", statement[end:])
        if columns:
            end += columns.end()
        if not re.match(r"\s*(SELECT|WITH)\b", statement[end:], re.IGNORECASE):
            raise RenderError(f"only INSERT … SELECT is rendered for a cluster: {statement[:80]}")
        return [f"{statement[:end]} SETTINGS distributed_foreground_insert = 1{statement[end:]}"]


def _sharding_key(clauses: str, inherited: str | None = None) -> str:
    """cityHash64 of the sorting key (ORDER BY), so rows that collapse together share a shard."""
    order = re.search(
        r"\bORDER\s+BY\s+(.+?)(?=\s+(?:PRIMARY\s+KEY|SAMPLE\s+BY|TTL|SETTINGS|PARTITION\s+BY)\b|$)",
        clauses,
        re.IGNORECASE | re.DOTALL,
    )
    if order is None and inherited:
        return inherited
    if order is None:
        raise RenderError("a MergeTree table needs ORDER BY (its sorting key shards it)")
    key = order[1].strip()
    if key.startswith("(") and key.endswith(")"):
        key = key[1:-1].strip()
    return "rand()" if key.lower() in ("", "tuple()") else f"cityHash64({key})"


def _dedup_settings(clauses: str) -> str:
    """Insert deduplication for a replicated table: the replicated window replaces the
    non-replicated one."""
    setting = re.search(r"\bnon_replicated_deduplication_window\s*=\s*\d+", clauses)
    if setting is None:
        return clauses
    replicated = (
        f"replicated_deduplication_window = {DEDUP_WINDOW_BLOCKS}, "
        f"replicated_deduplication_window_seconds = {DEDUP_WINDOW_SECONDS}"
    )
    return clauses[: setting.start()] + replicated + clauses[setting.end() :]


def render(statements: list[str], renderer: ClusterRenderer | None) -> list[str]:
    """`statements` as they run: unchanged on one node, rewritten by `renderer` for a cluster."""
    if renderer is None:
        return statements
    return [out for statement in statements for out in renderer.render(statement)]
