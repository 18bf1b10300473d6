"""The dimensions a query may group and filter by: an allow-list of SQL expressions.

A client names a dimension; the SQL comes from here, never from the client. Attribute
dimensions (`event_attributes.page`) take the key as a bound parameter, after validation.
Every value is text: empty values are "", booleans "true"/"false". Text a client sent (every
dimension but the flags and time) is grouped and answered cut to its first VALUE_MAX_CHARS
characters (`grouped_sql`): a group-by over 16 KB attribute values holds 1 KB keys, not 16.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Final, Literal, get_args

from shared.query.errors import QueryError, QueryForbidden
from shared.store.schema import JSON_COLUMNS

_PLAIN: Final = (
    "event_type",
    "link_id",
    "link_slug",
    "link_label",
    "link_original_url",
    "team_id",
    "project_id",
    "qr_code_id",
    "user_id",
    "country",
    "city",
    "device_type",
    "browser",
    "os",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "conversion_type",
)
_FLAGS: Final = ("is_qr_scan", "is_bounce", "is_bot")
FILTER_ONLY: Final = ("user_email", "visitor_id")
"""Filtered on, never grouped by: one person's events (an export filtered on them answers a
subject access request), where a group-by would list people."""

COLUMN_SQL: Final[dict[str, str]] = {
    **{name: name for name in (*_PLAIN, *FILTER_ONLY)},  # String or LowCardinality(String) columns
    **{name: f"if({name}, 'true', 'false')" for name in _FLAGS},
    "referrer_domain": "domainWithoutWWW(referrer)",
}
TAGS_SQL: Final = "if(empty(link_tags), [''], link_tags)"
"""link_tag: one row per tag; an event without tags counts under ""."""

TimeGrain = Literal["minute", "hour", "day", "week", "month"]
TIME_GRAINS: Final[tuple[TimeGrain, ...]] = get_args(TimeGrain)
# Bucket start in the query's timezone, as the text the API returns. `{tz}` is the bound
# timezone parameter (a constant to ClickHouse, so the *(…, tz) overloads accept it).
_TIME_SQL: Final[dict[TimeGrain, str]] = {
    "minute": "formatDateTime(toStartOfMinute(event_time, {tz}), '%Y-%m-%dT%H:%i:00', {tz})",
    "hour": "formatDateTime(toStartOfHour(event_time, {tz}), '%Y-%m-%dT%H:00:00', {tz})",
    "day": "toString(toDate(event_time, {tz}))",
    "week": "toString(toMonday(event_time, {tz}))",
    "month": "toString(toStartOfMonth(event_time, {tz}))",
}
PERSONAL_COLUMNS: Final = frozenset({"user_id", *FILTER_ONLY})
PERSONAL_ATTRIBUTES: Final = frozenset({"user_attributes"})
"""What a stats key (a public dashboard link) may not group or filter by: who the visitor is.
`user_name`, `ip_address` and `user_agent` are no dimension for anyone; `user_email` and
`visitor_id` are filters only (FILTER_ONLY)."""
URL_COLUMNS: Final = frozenset({"link_original_url", "referrer"})
"""Read by a stats key without their query string and fragment (tokens, e-mails, click ids
travel there); so are attribute values, which may be URLs (the tracker's page)."""
VALUE_MAX_CHARS: Final = 1024
"""Characters of a dimension value a group-by keeps and returns (`meta.value_max_chars`)."""
_ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@$/-]{0,99}$")

DIMENSION_NAMES: Final = (
    *(name for name in COLUMN_SQL if name not in FILTER_ONLY),
    "link_tag",
    *(f"{column}.<key>" for column in JSON_COLUMNS),
    *(f"time:{grain}" for grain in TIME_GRAINS),
)


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str
    """As the client wrote it, echoed in `meta.dimensions`."""
    kind: Literal["column", "tag", "attribute", "time"]
    column: str = ""
    """column: the COLUMN_SQL key; attribute: the JSON column."""
    key: str = ""
    """attribute: the top-level JSON key."""
    grain: TimeGrain = "day"
    public: bool = False
    """Read by a stats key: URLs without their query string (URL_COLUMNS)."""

    def sql(self, key_param: str = "", tz_param: str = "{tz:String}") -> str:
        """A text expression over one row. `key_param` is the bound parameter holding the key."""
        expression = self._sql(key_param, tz_param)
        if self.public and (self.kind == "attribute" or self.column in URL_COLUMNS):
            return f"cutQueryStringAndFragment({expression})"
        return expression

    def _sql(self, key_param: str, tz_param: str) -> str:
        if self.kind == "column":
            return COLUMN_SQL[self.column]
        if self.kind == "tag":
            return "_tag"
        if self.kind == "attribute":
            # Strings unquoted; numbers, booleans, objects as their JSON text; absent: "".
            return (
                f"if(JSONType({self.column}, {key_param}) = 'String', "
                f"JSONExtractString({self.column}, {key_param}), "
                f"JSONExtractRaw({self.column}, {key_param}))"
            )
        return _TIME_SQL[self.grain].replace("{tz}", tz_param)

    @property
    def free_text(self) -> bool:
        """Text a client sent, of any length: cut when grouped (not flags, not time buckets)."""
        return self.kind in ("tag", "attribute") or (self.kind == "column" and self.column not in _FLAGS)

    def grouped_sql(self, key_param: str = "") -> str:
        """The expression a group-by groups on and returns: `sql()`, free text cut to
        VALUE_MAX_CHARS characters (never inside a UTF-8 character). Values equal in their
        first VALUE_MAX_CHARS characters are one group."""
        expression = self.sql(key_param)
        return f"leftUTF8({expression}, {VALUE_MAX_CHARS})" if self.free_text else expression


def parse_dimension(
    name: str, field: str, *, time_allowed: bool = True, public: bool = False, grouping: bool = True
) -> Dimension:
    """`public`: for a stats key, which may not read personal dimensions (403). `grouping`:
    a dimension to group by (FILTER_ONLY ones are refused), else a filter's."""
    dimension = _parse_dimension(name, field, time_allowed=time_allowed)
    if grouping and dimension.column in FILTER_ONLY:
        raise QueryError(field, f"{name!r} can be filtered on, not grouped by")
    if not public:
        return dimension
    if dimension.column in PERSONAL_COLUMNS or (
        dimension.kind == "attribute" and dimension.column in PERSONAL_ATTRIBUTES
    ):
        raise QueryForbidden(field, f"{name[:100]!r} is personal data: a stats key cannot read it")
    return dataclasses.replace(dimension, public=True)


def _parse_dimension(name: str, field: str, *, time_allowed: bool) -> Dimension:
    if not isinstance(name, str) or not name:
        raise QueryError(field, "must be a dimension name")
    if name in COLUMN_SQL:
        return Dimension(name, "column", column=name)
    if name == "link_tag":
        return Dimension(name, "tag")
    if name.startswith("time:"):
        grain = name.removeprefix("time:")
        if not time_allowed:
            raise QueryError(field, "time dimensions cannot be filtered on (use date_range)")
        if grain not in TIME_GRAINS:
            raise QueryError(field, f"unknown time grain {grain!r} ({', '.join(TIME_GRAINS)})")
        return Dimension(name, "time", grain=grain)
    column, dot, key = name.partition(".")
    if dot and column in JSON_COLUMNS:
        if not _ATTRIBUTE_KEY.match(key):
            raise QueryError(field, "attribute key must be 1-100 of letters, digits and _.:@$/-")
        return Dimension(name, "attribute", column=column, key=key)
    raise QueryError(field, f"unknown dimension {name[:100]!r}")
