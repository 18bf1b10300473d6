"""Answering a query: resolve "all", run the aggregate (and the totals), shape the rows, and
zero-fill a lone time dimension so every bucket of the range appears, in order. An answer
larger than `Limits.max_answer_bytes` as JSON is an AnswerTooLarge (413), never sent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from shared.lifecycle.retention import Retention
from shared.query import sql
from shared.query.dimensions import VALUE_MAX_CHARS
from shared.query.engine import ReadEngine
from shared.query.metrics import Metric, empty_value
from shared.query.model import Query, QueryBody, Selection, parse_query
from shared.query.ranges import buckets, iso, resolve_range
from shared.query.sql import AnswerTooLarge, Limits


def _number(metric: Metric, value: Any) -> int | float | None:
    if value is None:
        return None
    if metric.kind == "count":
        return int(value)
    return float(value)


def resolve_selection(
    engine: ReadEngine,
    database: str,
    limits: Limits,
    *,
    spec: object,
    tz: Any,
    filters: Any,
    bots: bool,
    projects: frozenset[str] | None,
    public: bool = False,
    now: datetime | None = None,
    retention: Retention | None = None,
) -> Selection:
    first: datetime | None = None
    if spec == "all":
        probe = Selection(
            resolve_range("today", tz, now or datetime.now(UTC), None), tz, (), bots, projects, public, retention
        )
        earliest, count = engine.rows(sql.first_event(probe, database, limits))[0]
        if count:
            first = earliest.replace(tzinfo=UTC) if earliest.tzinfo is None else earliest
    span = resolve_range(spec, tz, now or datetime.now(UTC), first)
    return Selection(span, tz, filters, bots, projects, public, retention)


def answer(
    engine: ReadEngine, body: QueryBody, selection: Selection, database: str, limits: Limits, max_rows: int
) -> dict[str, Any]:
    query = parse_query(body, selection, max_rows=max_rows)
    time = query.time_dimension
    fill = time is not None and len(query.dimensions) == 1
    labels = buckets(selection.span, time.grain, selection.tz, max_rows) if fill and time else []
    statement = sql.aggregate(query, database, limits, paginate=not fill, max_rows=len(labels) or None)
    rows = engine.rows(statement)
    n = len(query.dimensions)
    cut = statement.columns.index(sql.CUT) if sql.CUT in statement.columns else None
    results: list[dict[str, Any]] = [
        {
            "dimensions": [str(v) for v in row[:n]],
            "metrics": _metrics(query.metrics, row[n : n + len(query.metrics)]),
        }
        for row in rows
    ]
    total_rows = int(rows[0][-1]) if rows else 0
    if fill:
        results, total_rows = _zero_filled(query, labels, results), len(labels)
    elif n == 0 and not results:
        results, total_rows = [{"dimensions": [], "metrics": [empty_value(m) for m in query.metrics]}], 1
    body_out: dict[str, Any] = {"results": results}
    if query.totals:
        values: list[int | float | None]
        if n == 0:  # the one row is the total already
            values = results[0]["metrics"]
        else:
            (row,) = engine.rows(sql.aggregate(query, database, limits, dimensions=False))
            values = _metrics(query.metrics, row[: len(query.metrics)])
        body_out["totals"] = {m.name: v for m, v in zip(query.metrics, values, strict=True)}
    body_out["meta"] = {
        "metrics": [m.name for m in query.metrics],
        "dimensions": [d.name for d in query.dimensions],
        "timezone": selection.tz.key,
        "date_range": [iso(selection.span.start), iso(selection.span.end)],
        "total_rows": total_rows,
        "approximate": query.approximate,
        "value_max_chars": VALUE_MAX_CHARS,
        "truncated_values": cut is not None and any(row[cut] for row in rows),
    }
    _check_size(body_out, limits.max_answer_bytes)
    return body_out


def _check_size(body: dict[str, Any], max_bytes: int) -> None:
    # The store refused results far over the cap already (max_result_bytes); this is the
    # exact check, on the JSON the route sends (orjson: a few ms for a few MB).
    if max_bytes and (size := len(orjson.dumps(body))) > max_bytes:
        raise AnswerTooLarge(
            "query",
            f"the answer is {size:,} bytes, over QUERY_MAX_ANSWER_BYTES ({max_bytes:,}): "
            "ask for fewer rows (limit) or dimensions",
        )


def _metrics(metrics: Sequence[Metric], values: Sequence[Any]) -> list[int | float | None]:
    return [_number(m, v) for m, v in zip(metrics, values, strict=True)]


def _zero_filled(query: Query, labels: list[str], results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = {r["dimensions"][0]: r for r in results}
    empty = [empty_value(m) for m in query.metrics]
    filled = [found.get(label) or {"dimensions": [label], "metrics": list(empty)} for label in labels]
    # Ordered here (the SQL could not order buckets it never saw): stable sorts, last key first.
    position = {m.name: i for i, m in enumerate(query.metrics)}
    for name, direction in reversed(query.order_by):
        if name not in position:  # the time dimension itself
            filled.sort(key=lambda r: r["dimensions"][0], reverse=direction == "desc")
            continue
        i = position[name]
        present = [r for r in filled if r["metrics"][i] is not None]
        present.sort(key=lambda r: r["metrics"][i], reverse=direction == "desc")
        filled = present + [r for r in filled if r["metrics"][i] is None]  # nulls last
    return filled[query.offset : query.offset + query.limit]
