"""Every metric, defined once: its SQL aggregate over the selected rows, and its definition in
words, from which docs/query-api.md's table is generated (`make docs`).

Rows are the stored events (read with FINAL, so a re-sent event_id is one row) inside the
date range, matching every filter, bots left out unless asked for.

`engagement` events (sent by the tracker when a page is hidden or left, carrying the time the
page was visible and whether the visit bounced) measure a page view; they are not events of
their own. They are left out of `events`, `visitors`, `sessions`, `conversions`,
`conversion_value`, `conversion_rate` and `qr_scans`, and they are what `avg_time_spent_sec`
and `bounce_rate` read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

_COUNTED: Final = "event_type != 'engagement'"
"""An event of its own (not an engagement measurement)."""
_CONVERSION: Final = f"({_COUNTED} AND (event_type = 'conversion' OR conversion_type != ''))"
_TIMED: Final = "(event_type = 'engagement' OR time_spent_sec != 0)"
"""Events that measure time: engagement events, and others that carry a time_spent_sec
(server-side senders put it on the event itself); 0 is the contract's default, not a measure."""
_VIEW: Final = (
    "if(JSONHas(event_attributes, 'view_id'), JSONExtractString(event_attributes, 'view_id'), event_id)"
)
"""The view an engagement event measures. The tracker sends the visible time of a view in
parts (one per hide, each with its own event_id, so the first-received copy of each wins),
all naming their view in `event_attributes.view_id`; an engagement without one is a view of
its own."""
_MEASURED: Final = (
    f"(uniqExactIf({_VIEW}, event_type = 'engagement') + countIf({_COUNTED} AND time_spent_sec != 0))"
)
"""What `avg_time_spent_sec` divides by: the views engagement events measure, plus the other
events that carry a time."""


MetricName = Literal[
    "events",
    "visitors",
    "sessions",
    "bounce_rate",
    "avg_time_spent_sec",
    "conversions",
    "conversion_value",
    "conversion_rate",
    "qr_scans",
]
"""The metrics' names, for the type checker and the query body's schema: METRICS defines each
one (the type checker holds every definition's name to this list; a test, every name to a
definition) and METRIC_NAMES is the list at run time."""
METRIC_NAMES: Final[tuple[MetricName, ...]] = get_args(MetricName)


@dataclass(frozen=True, slots=True)
class Metric:
    name: MetricName
    sql: str
    kind: Literal["count", "sum", "rate"]
    """count: an integer (0 in an empty bucket); sum: a number (0); rate: a number or null."""
    definition: str


def _ratio(numerator: str, denominator: str) -> str:
    # NULL, not NaN or an error, when nothing is in the denominator (an empty bucket).
    return f"if(({denominator}) = 0, NULL, ({numerator}) / ({denominator}))"


METRICS: Final[dict[MetricName, Metric]] = {
    m.name: m
    for m in (
        Metric("events", f"countIf({_COUNTED})", "count", "stored events, `engagement` events left out"),
        Metric(
            "visitors",
            f"uniqExactIf(visitor_id, {_COUNTED})",
            "count",
            "distinct `visitor_id` of those events",
        ),
        Metric(
            "sessions",
            f"uniqExactIf(session_id, {_COUNTED})",
            "count",
            "distinct `session_id` of those events",
        ),
        Metric(
            "bounce_rate",
            _ratio(
                "100 * (uniqExact(session_id) - uniqExactIf(session_id, NOT is_bounce))",
                "uniqExact(session_id)",
            ),
            "rate",
            "percent of sessions whose every event, engagement events included, has `is_bounce = true` "
            "(`null` without sessions)",
        ),
        Metric(
            "avg_time_spent_sec",
            _ratio(f"sumIf(time_spent_sec, {_TIMED})", _MEASURED),
            "rate",
            "the mean time of a measured view: `time_spent_sec` summed over engagement events and over "
            "other events whose `time_spent_sec` is not 0, divided by the views those engagement events "
            "measure (`event_attributes.view_id`, else their own `event_id`) plus those other events "
            "(`null` without any)",
        ),
        Metric(
            "conversions",
            f"countIf({_CONVERSION})",
            "count",
            'events with `event_type = "conversion"` or a non-empty `conversion_type` (engagement events never)',
        ),
        Metric(
            "conversion_value",
            f"sumIf(conversion_value, {_CONVERSION})",
            "sum",
            "sum of `conversion_value` over those conversions",
        ),
        Metric(
            "conversion_rate",
            _ratio(f"100 * uniqExactIf(visitor_id, {_CONVERSION})", f"uniqExactIf(visitor_id, {_COUNTED})"),
            "rate",
            "percent of visitors with at least one conversion",
        ),
        Metric("qr_scans", f"countIf(is_qr_scan AND {_COUNTED})", "count", "events with `is_qr_scan = true`"),
    )
}

def metric_sql(metric: Metric, *, approximate: bool) -> str:
    """The exact definition, or with `approximate` (opt-in, said in `meta`): uniq() (an adaptive
    sample, ~1-2 % error) instead of uniqExact() for the distinct counts."""
    return metric.sql.replace("uniqExact", "uniq") if approximate else metric.sql


def empty_value(metric: Metric) -> int | float | None:
    """A metric's value over no rows: what a zero-filled time bucket shows."""
    return {"count": 0, "sum": 0.0, "rate": None}[metric.kind]
