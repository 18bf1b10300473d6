"""Answering a query: resolve "all", run the aggregate (and the totals), shape the rows, and
zero-fill a lone time dimension so every bucket of the range appears, in order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from shared.query import sql
from shared.query.engine import ReadEngine
from shared.query.metrics import Metric, empty_value
from shared.query.model import Query, QueryBody, Selection, parse_query
from shared.query.ranges import buckets, iso, resolve_range
from shared.query.sql import Limits


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
    project: str | None,
    now: datetime | None = None,
) -> Selection:
    first: datetime | None = None
    if spec == "all":
        probe = Selection(resolve_range("today", tz, now or datetime.now(UTC), None), tz, (), bots, project)
        earliest, count = engine.rows(sql.first_event(probe, database, limits))[0]
        if count:
            first = earliest.replace(tzinfo=UTC) if earliest.tzinfo is None else earliest
    span = resolve_range(spec, tz, now or datetime.now(UTC), first)
    return Selection(span, tz, filters, bots, project)


def answer(
    engine: ReadEngine, body: QueryBody, selection: Selection, database: str, limits: Limits, max_rows: int
) -> dict[str, Any]:
    query = parse_query(body, selection, max_rows=max_rows)
    time = query.time_dimension
    fill = time is not None and len(query.dimensions) == 1
    labels = buckets(selection.span, time.grain, selection.tz, max_rows) if fill and time else []
    rows = engine.rows(sql.aggregate(query, database, limits, paginate=not fill))
    n = len(query.dimensions)
    results = [
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
        (row,) = engine.rows(sql.aggregate(query, database, limits, dimensions=False))
        values = _metrics(query.metrics, row[: len(query.metrics)])
        body_out["totals"] = {m.name: v for m, v in zip(query.metrics, values, strict=True)}
    body_out["meta"] = {
        "metrics": [m.name for m in query.metrics],
        "dimensions": [d.name for d in query.dimensions],
        "timezone": selection.tz.key,
        "date_range": [iso(selection.span.start), iso(selection.span.end)],
        "total_rows": total_rows,
    }
    return body_out


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
