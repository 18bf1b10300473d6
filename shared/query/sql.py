"""Every read's SQL: a `Query` (or a `Selection`, for exports), or the lookup of one event by id
(GET /api/events/{id}), as SQL text plus bound parameters.

Identifiers come only from the allow-lists (`metrics`, `dimensions`, `schema`) and the
validated database name; every value a client sent is a `{name:Type}` parameter. Reads use
FINAL, so an event_id re-sent to the ReplacingMergeTree counts once even before a merge.

Every query and export carries its caps as ClickHouse settings (`Limits`): time, rows and
bytes read, memory, and for an aggregate the size of its result, so the store never builds an
answer larger than the API would send; the lookup by id (`event_by_id`) too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from shared.lifecycle.retention import Retention
from shared.query.dimensions import TAGS_SQL, VALUE_MAX_CHARS, Dimension
from shared.query.errors import QueryError
from shared.query.metrics import metric_sql
from shared.query.model import Filter, Query, Selection
from shared.query.ranges import utc_param
from shared.store.schema import BOOL_COLUMNS, EVENT_COLUMNS, TIME_COLUMNS

EXPORT_COLUMNS: Final = (*EVENT_COLUMNS, "inserted_at")
# Columns that are not text (numbers, flags, times, the tags array, whose cell opens with `[`):
# every other export column is a String a client chose.
_NOT_TEXT: Final = frozenset(
    {*TIME_COLUMNS, *BOOL_COLUMNS, "inserted_at", "time_spent_sec", "conversion_value", "link_tags"}
)
TEXT_EXPORT_COLUMNS: Final = tuple(c for c in EXPORT_COLUMNS if c not in _NOT_TEXT)
# A spreadsheet runs a cell that opens with one of these as a formula (OWASP, CSV injection).
_FORMULA_STARTS: Final = "'=', '+', '-', '@', '\\t', '\\r'"
# The table's sort key: an export in this order streams without a sort.
_TABLE_ORDER: Final = "team_id, project_id, link_id, toDate(event_time), event_id"


class AnswerTooLarge(QueryError):
    """An answer over QUERY_MAX_ANSWER_BYTES (413): ask for fewer rows or dimensions."""

    status = 413


_CELL_SLACK: Final = 16
"""Bytes a result cell may take in ClickHouse beyond its JSON text (a string's 8-byte offset
against its two quotes; a UInt64 zero is 8 bytes, "0" one; `_rows` and `_cut` are not sent)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps every read runs under (from Settings); a read over them fails, never a 500."""

    timeout_seconds: float
    max_rows_to_read: int
    max_bytes_to_read: int
    max_threads: int = 0
    """Engine threads per read (0: the engine's default)."""
    thread_nice: int = 0
    """Nice value of the engine threads running a read (os_thread_priority): >0 yields CPU to
    the inserts and the API's own threads."""
    max_memory_bytes: int = 0
    """Memory one read may take in the store (max_memory_usage; 0: no cap). Over it the read
    fails (MEMORY_LIMIT_EXCEEDED: a 400), the store and its inserts carry on."""
    max_answer_bytes: int = 0
    """Largest /api/query answer, as JSON (0: no cap). Over it: AnswerTooLarge, a 413."""

    def clause(self, timeout_seconds: float | None = None, *, max_result_bytes: int = 0) -> str:
        seconds = self.timeout_seconds if timeout_seconds is None else timeout_seconds
        # readonly=2: no writes, while the per-query settings below stay settable.
        # Partitions are months of event_time and the sort key holds its date, so two copies
        # of an event never sit in different partitions: FINAL need not merge across them.
        return (
            f" SETTINGS readonly = 2, max_execution_time = {float(seconds)!r},"
            f" max_rows_to_read = {int(self.max_rows_to_read)},"
            f" max_bytes_to_read = {int(self.max_bytes_to_read)},"
            f" max_memory_usage = {int(self.max_memory_bytes)},"
            " do_not_merge_across_partitions_select_final = 1"
            f", os_thread_priority = {int(self.thread_nice)}"
            + (f", max_threads = {int(self.max_threads)}" if self.max_threads else "")
            + (
                f", max_result_bytes = {int(max_result_bytes)}, result_overflow_mode = 'throw'"
                if max_result_bytes
                else ""
            )
        )

    def result_bytes(self, columns: int, rows: int) -> int:
        """`max_result_bytes` for an aggregate of at most `rows` rows of `columns` columns: the
        store refuses (before any row leaves it) a result whose JSON would be over twice the
        answer cap. Never one within the cap (the slack covers ClickHouse's own overhead per
        cell); the exact check of the answer's JSON (413) comes after, in the API."""
        if not self.max_answer_bytes:
            return 0
        return 2 * self.max_answer_bytes + _CELL_SLACK * columns * rows


@dataclass
class Statement:
    sql: str
    parameters: dict[str, Any] = field(default_factory=dict)
    columns: tuple[str, ...] = ()
    """The result's column names, when the caller needs them (exports)."""
    tenant: str | None = None
    """Whose read it is (a read key's project or team; None: the admin's), for the per-tenant slot cap."""


def _filter_sql(flt: Filter, i: int, params: dict[str, Any]) -> str:
    dim = flt.dimension
    if dim.kind == "attribute":
        params[f"fk{i}"] = dim.key
    expr = "t" if dim.kind == "tag" else dim.sql(f"{{fk{i}:String}}")
    params[f"fv{i}"] = list(flt.values)
    values = f"{{fv{i}:Array(String)}}"
    if flt.operator in ("is", "is_not"):
        positive = f"has({values}, {expr})"
    elif flt.operator in ("contains", "contains_not"):
        positive = f"multiSearchAnyCaseInsensitiveUTF8({expr}, {values})"
    else:  # matches: re2, through match(); one bound pattern per value
        for j, pattern in enumerate(flt.values):
            params[f"fr{i}_{j}"] = pattern
        positive = (
            "(" + " OR ".join(f"match({expr}, {{fr{i}_{j}:String}})" for j in range(len(flt.values))) + ")"
        )
    if dim.kind == "tag":  # an event matches when any of its tags does
        positive = f"arrayExists(t -> {positive}, {TAGS_SQL})"
    return f"NOT {positive}" if flt.operator in ("is_not", "contains_not") else positive


def where(selection: Selection, params: dict[str, Any]) -> str:
    params["_start"] = utc_param(selection.span.start)
    params["_end"] = utc_param(selection.span.end)
    conditions = [
        "event_time >= toDateTime64({_start:String}, 3, 'UTC')",
        "event_time < toDateTime64({_end:String}, 3, 'UTC')",
    ]
    if selection.projects is not None:
        params["_projects"] = sorted(selection.projects)
        conditions.append("has({_projects:Array(String)}, project_id)")
    if selection.retention is not None and (kept := selection.retention.condition(params, selection.projects)):
        conditions.append(kept)
    if not selection.bots:
        conditions.append("NOT is_bot")
    conditions.extend(_filter_sql(flt, i, params) for i, flt in enumerate(selection.filters))
    return " WHERE " + " AND ".join(conditions)


def _dimension_sql(dim: Dimension, i: int, params: dict[str, Any], *, grouped: bool = True) -> str:
    if dim.kind == "attribute":
        params[f"dk{i}"] = dim.key
    return dim.grouped_sql(f"{{dk{i}:String}}") if grouped else dim.sql(f"{{dk{i}:String}}")


CUT: Final = "_cut"
"""The aggregate's column saying a group's value was cut (some dimension's text in the group
is longer than VALUE_MAX_CHARS)."""
ROWS: Final = "_rows"


def aggregate(
    query: Query,
    database: str,
    limits: Limits,
    *,
    dimensions: bool = True,
    paginate: bool = True,
    max_rows: int | None = None,
) -> Statement:
    """One row per group: dimensions d0…, metrics m0…, `_cut` (with a free-text dimension),
    and `_rows`, the group count before LIMIT; `columns` names them. `dimensions=False`: the
    totals (one row, no ARRAY JOIN for tags). `max_rows`: the most rows the result can have
    (default: the query's limit), to cap its size in the store."""
    params: dict[str, Any] = {"tz": query.selection.tz.key}
    dims = query.dimensions if dimensions else ()
    columns = [f"{_dimension_sql(d, i, params)} AS d{i}" for i, d in enumerate(dims)]
    names = [f"d{i}" for i in range(len(dims))]
    columns += [
        f"{metric_sql(m, approximate=query.approximate)} AS m{i}" for i, m in enumerate(query.metrics)
    ]
    names += [f"m{i}" for i in range(len(query.metrics))]
    long = [
        f"lengthUTF8({_dimension_sql(d, i, params, grouped=False)}) > {VALUE_MAX_CHARS}"
        for i, d in enumerate(dims)
        if d.free_text
    ]
    if long:
        columns.append(f"max({' OR '.join(long)}) AS {CUT}")
        names.append(CUT)
    columns.append(f"count() OVER () AS {ROWS}")
    names.append(ROWS)
    sql = f"SELECT {', '.join(columns)} FROM {database}.events{'' if query.approximate else ' FINAL'}"
    if any(d.kind == "tag" for d in dims):
        sql += f" ARRAY JOIN {TAGS_SQL} AS _tag"
    sql += where(query.selection, params)
    if dims:
        sql += " GROUP BY " + ", ".join(f"d{i}" for i in range(len(dims)))
        alias = {d.name: f"d{i}" for i, d in enumerate(dims)} | {
            m.name: f"m{i}" for i, m in enumerate(query.metrics)
        }
        keys = [f"{alias[name]} {direction.upper()} NULLS LAST" for name, direction in query.order_by]
        named = {name for name, _ in query.order_by}
        keys += [f"d{i} ASC" for i, d in enumerate(dims) if d.name not in named]  # a stable order
        sql += " ORDER BY " + ", ".join(keys)
        if paginate:
            params["_limit"], params["_offset"] = query.limit, query.offset
            sql += " LIMIT {_limit:UInt64} OFFSET {_offset:UInt64}"
    rows = (query.limit if paginate else max_rows or query.limit) if dims else 1
    clause = limits.clause(max_result_bytes=limits.result_bytes(len(names), rows))
    return Statement(sql + clause, params, tuple(names))


def first_event(selection: Selection, database: str, limits: Limits) -> Statement:
    """The earliest event in the caller's scope (for date_range "all"); no FINAL needed."""
    params: dict[str, Any] = {}
    conditions = ["1"]
    if selection.projects is not None:
        params["_projects"] = sorted(selection.projects)
        conditions.append("has({_projects:Array(String)}, project_id)")
    if selection.retention is not None and (kept := selection.retention.condition(params, selection.projects)):
        conditions.append(kept)
    sql = f"SELECT min(event_time), count() FROM {database}.events WHERE {' AND '.join(conditions)}"
    return Statement(sql + limits.clause(), params)


def _neutralised(column: str) -> str:
    """The text cell with a `'` in front when a spreadsheet would take it for a formula. No
    alias: WHERE and ORDER BY must still see the stored column (CSV carries no names)."""
    if column not in TEXT_EXPORT_COLUMNS:
        return column
    return f"if(substring({column}, 1, 1) IN ({_FORMULA_STARTS}), concat('\\'', {column}), {column})"


def export(
    selection: Selection,
    database: str,
    limits: Limits,
    timeout_seconds: float,
    *,
    for_spreadsheets: bool = False,
) -> Statement:
    """Every column of the selected events; `for_spreadsheets`: text cells that would run as a
    formula get a leading `'` (the CSV export's default)."""
    params: dict[str, Any] = {}
    columns = [_neutralised(c) for c in EXPORT_COLUMNS] if for_spreadsheets else EXPORT_COLUMNS
    sql = f"SELECT {', '.join(columns)} FROM {database}.events FINAL" + where(selection, params)
    return Statement(
        sql + f" ORDER BY {_TABLE_ORDER}" + limits.clause(timeout_seconds), params, EXPORT_COLUMNS
    )


def event_by_id(
    database: str,
    event_id: str,
    limits: Limits,
    *,
    team_id: str | None,
    project_id: str | None,
    max_scopes: int,
    projects: frozenset[str] | None = None,
    retention: Retention | None = None,
) -> Statement:
    """GET /api/events/{id}: the first-received row of each (team_id, project_id) holding
    `event_id` (in the given team / project, when given), scopes in a stable order, at most
    `max_scopes` of them. FINAL collapses re-sent copies to the first; copies that did not
    collapse (another link or day, so another sorting key) are ordered as deduplication keeps
    them: server-key copies first, then first received. `projects`: the read key's projects
    (None: the admin's, all). `columns` names the row's columns."""
    conditions = ["event_id = {event_id:String}"]
    parameters: dict[str, Any] = {"event_id": event_id}
    if team_id is not None:
        conditions.append("team_id = {team_id:String}")
        parameters["team_id"] = team_id
    if project_id is not None:
        conditions.append("project_id = {project_id:String}")
        parameters["project_id"] = project_id
    if projects is not None:
        conditions.append("has({_projects:Array(String)}, project_id)")
        parameters["_projects"] = sorted(projects)
    if retention is not None and (kept := retention.condition(parameters, projects)):
        conditions.append(kept)
    return Statement(
        f"SELECT {', '.join(EXPORT_COLUMNS)} FROM {database}.events FINAL WHERE {' AND '.join(conditions)} "
        "ORDER BY team_id, project_id, trusted DESC, received_at, inserted_at "
        f"LIMIT 1 BY team_id, project_id LIMIT {int(max_scopes)}" + limits.clause(),
        parameters,
        EXPORT_COLUMNS,
    )
