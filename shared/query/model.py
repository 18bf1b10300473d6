"""The query as a typed value: the request bodies (pydantic, documented in OpenAPI) and the
resolved `Query` the SQL builder takes. Every client error is a QueryError naming its field."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from shared.query.dimensions import VALUE_MAX_CHARS, Dimension, parse_dimension
from shared.query.errors import QueryError
from shared.query.metrics import METRICS, Metric, MetricName
from shared.query.ranges import Range

if TYPE_CHECKING:
    from shared.lifecycle.retention import Retention

Operator = Literal["is", "is_not", "contains", "contains_not", "matches"]
OPERATORS: Final[tuple[Operator, ...]] = get_args(Operator)
FilterValue = StrictStr | StrictBool | StrictInt | StrictFloat
DateRange = StrictStr | tuple[StrictStr, StrictStr]
ExportFormat = Literal["csv", "csv_raw", "ndjson", "parquet"]

MAX_FILTERS = 20
MAX_FILTER_VALUES = 100
MAX_VALUE_CHARS = VALUE_MAX_CHARS
"""A filter value's characters: as long as a value an answer returns (cut to VALUE_MAX_CHARS),
so a cut value can be sent back (a `contains` filter matches the values it was cut from)."""
MAX_FILTER_CHARS = 64_000
"""Characters of all filter values together: a query's filters stay a few dozen KB whatever
the three caps above multiply to."""


class Include(BaseModel):
    model_config = ConfigDict(extra="forbid")
    totals: StrictBool = False
    """Add the metrics over the whole selection (`totals`) beside the rows."""
    bots: StrictBool = False
    """Count bot events (is_bot); left out by default."""


class ExportInclude(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bots: StrictBool = False


class _Selection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filters: list[tuple[Operator, StrictStr, list[FilterValue]]] = Field(default=[], max_length=MAX_FILTERS)
    """`[operator, dimension, [values…]]`, all must hold; is/is_not: equal to any value;
    contains/contains_not: any value as a case-insensitive substring; matches: any re2 pattern."""
    date_range: DateRange = "30d"
    """5m 30m 60m 24h today 7d 30d 90d 12mo month year all, or [from, to] (dates, both days
    included, or ISO datetimes, to exclusive)."""
    timezone: StrictStr = "UTC"
    """IANA name; buckets and dates are local to it."""


class QueryBody(_Selection):
    metrics: list[MetricName] = Field(min_length=1, max_length=len(METRICS))
    dimensions: list[StrictStr] = Field(default=[], max_length=6)
    order_by: list[tuple[StrictStr, Literal["asc", "desc"]]] | None = Field(default=None, max_length=8)
    limit: StrictInt = Field(default=100, ge=1)
    """At most QUERY_MAX_ROWS (10,000)."""
    offset: StrictInt = Field(default=0, ge=0, le=1_000_000_000)
    include: Include = Include()
    approximate: StrictBool = False
    """Opt-in speed over exactness: distinct counts by uniq() (~1-2 % error) and no FINAL (an
    event_id re-sent and not yet merged counts twice). `meta.approximate` says so."""


class ExportBody(_Selection):
    format: ExportFormat = "csv"
    """csv: text cells a spreadsheet would run as a formula (opening with = + - @, tab or CR)
    start with `'`; csv_raw: every cell as stored; ndjson and parquet: as stored."""
    include: ExportInclude = ExportInclude()


class QueryResult(BaseModel):
    dimensions: list[str]
    metrics: list[int | float | None]


class QueryMeta(BaseModel):
    metrics: list[str]
    dimensions: list[str]
    timezone: str
    date_range: tuple[str, str]
    """[start, end) as ISO datetimes in the query's timezone."""
    total_rows: int
    """Rows before limit/offset."""
    approximate: bool = False
    """True when the query asked for approximate metrics."""
    value_max_chars: int = VALUE_MAX_CHARS
    """Dimension values (text clients sent: urls, referrers, attributes…) are grouped and
    returned cut to this many characters; values equal in those are one group."""
    truncated_values: bool = False
    """True when a value in `results` was cut to `value_max_chars`."""


class QueryAnswer(BaseModel):
    results: list[QueryResult]
    totals: dict[str, int | float | None] | None = None
    meta: QueryMeta


@dataclass(frozen=True, slots=True)
class Filter:
    operator: Operator
    dimension: Dimension
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Selection:
    """What rows a read covers: the resolved range, filters, bots, and the caller's scope."""

    span: Range
    tz: zoneinfo.ZoneInfo
    filters: tuple[Filter, ...]
    bots: bool
    projects: frozenset[str] | None
    """A read key's projects: every read is restricted to them, whatever the filters say (None:
    the admin's, every project)."""
    public: bool = False
    """A stats key's read: no personal dimension, and no URL query string (`dimensions.PERSONAL`)."""
    retention: Retention | None = None
    """The cutoffs at the read's instant: an expired row is never read, deleted yet or not."""


@dataclass(frozen=True, slots=True)
class Query:
    selection: Selection
    metrics: tuple[Metric, ...]
    dimensions: tuple[Dimension, ...]
    order_by: tuple[tuple[str, Literal["asc", "desc"]], ...]
    """(metric or dimension name, direction), resolved defaults included."""
    limit: int
    offset: int
    totals: bool
    approximate: bool = False

    @property
    def time_dimension(self) -> Dimension | None:
        return next((d for d in self.dimensions if d.kind == "time"), None)


def _text(value: FilterValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_filters(
    raw: list[tuple[Operator, str, list[FilterValue]]], *, public: bool = False
) -> tuple[Filter, ...]:
    filters = []
    if sum(len(_text(v)) for _, _, values in raw for v in values) > MAX_FILTER_CHARS:
        raise QueryError("filters", f"at most {MAX_FILTER_CHARS} characters of values in all")
    for i, (operator, name, values) in enumerate(raw):
        field = f"filters.{i}"
        dimension = parse_dimension(name, field, time_allowed=False, public=public, grouping=False)
        if not 1 <= len(values) <= MAX_FILTER_VALUES:
            raise QueryError(field, f"needs 1 to {MAX_FILTER_VALUES} values")
        texts = tuple(_text(v) for v in values)
        if any(len(t) > MAX_VALUE_CHARS for t in texts):
            raise QueryError(field, f"values are at most {MAX_VALUE_CHARS} characters")
        if operator in ("contains", "contains_not", "matches") and any(not t for t in texts):
            raise QueryError(field, f"{operator} needs non-empty values")
        filters.append(Filter(operator, dimension, texts))
    return tuple(filters)


def parse_query(body: QueryBody, selection: Selection, *, max_rows: int) -> Query:
    metrics = tuple(METRICS[name] for name in body.metrics)
    if len(set(body.metrics)) != len(body.metrics):
        raise QueryError("metrics", "each metric at most once")
    dimensions = tuple(
        parse_dimension(n, f"dimensions.{i}", public=selection.public) for i, n in enumerate(body.dimensions)
    )
    names = [d.name for d in dimensions]
    if len(set(names)) != len(names):
        raise QueryError("dimensions", "each dimension at most once")
    if sum(d.kind == "time" for d in dimensions) > 1:
        raise QueryError("dimensions", "at most one time dimension")
    if sum(d.kind == "tag" for d in dimensions) > 1:
        raise QueryError("dimensions", "link_tag at most once")
    if body.limit > max_rows:
        raise QueryError("limit", f"at most {max_rows}")
    known = set(body.metrics) | set(names)
    order = []
    for i, (name, direction) in enumerate(body.order_by or ()):
        if name not in known:
            raise QueryError(f"order_by.{i}", "must name one of the query's metrics or dimensions")
        order.append((name, direction))
    if not order:
        time = next((d for d in dimensions if d.kind == "time"), None)
        order.append((time.name, "asc") if time else (metrics[0].name, "desc"))
    return Query(
        selection,
        metrics,
        dimensions,
        tuple(order),
        body.limit,
        body.offset,
        body.include.totals,
        body.approximate,
    )
