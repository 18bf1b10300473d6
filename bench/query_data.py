"""Synthetic events for the query benchmark, generated inside the store (INSERT … SELECT from
numbers()): N events over the last 30 days, 20 projects (4 per team), 2,000 links (100 per
project), 500,000 visitors, four sessions per visitor, 12 % engagement events, 2 % bots, and
1 % of the events re-sent (a second copy of the same event: FINAL must count it once)."""

from __future__ import annotations

import time

from clickhouse_connect.driver.client import Client

PROJECTS = 20
LINKS = 2000
VISITORS = 500_000
DAYS = 30
RESENT_EVERY = 100

_SELECT = """
SELECT
    concat('e', toString(number)) AS event_id,
    multiIf(h1 < 55, 'view', h1 < 85, 'click', h1 < 97, 'engagement', 'conversion') AS event_type,
    fromUnixTimestamp64Milli({start_ms:Int64} + toInt64(cityHash64(number, 4) % {span_ms:UInt64})) AS event_time,
    concat('l', toString(p * 100 + cityHash64(number, 2) % 100)) AS link_id,
    concat('slug-', toString(p * 100 + cityHash64(number, 2) % 100)) AS link_slug,
    concat('t', toString(intDiv(p, 4))) AS team_id,
    concat('p', leftPad(toString(p), 2, '0')) AS project_id,
    concat('v', toString(v)) AS visitor_id,
    concat('s', toString(v), '-', toString(cityHash64(number, 5) % 4)) AS session_id,
    ['US', 'DE', 'FR', 'GB', 'IN', 'BR', 'JP', 'CA', 'ES', 'IT', 'NL', 'SE', 'PL', 'MX', 'AU', 'KR',
     'TR', 'NP', 'CH', 'AT'][1 + cityHash64(number, 6) % 20] AS country,
    ['desktop', 'mobile', 'tablet'][1 + cityHash64(number, 7) % 3] AS device_type,
    ['Chrome', 'Safari', 'Firefox', 'Edge', 'Opera'][1 + cityHash64(number, 8) % 5] AS browser,
    ['Windows', 'iOS', 'Android', 'Mac OS X', 'Linux'][1 + cityHash64(number, 9) % 5] AS os,
    ['', 'https://www.google.com/search', 'https://news.ycombinator.com/', 'https://t.co/x',
     'https://www.facebook.com/', 'https://duckduckgo.com/', 'https://www.reddit.com/r/x',
     'https://bing.com/search', 'https://github.com/', 'https://example.org/blog'][1 + cityHash64(number, 10) % 10]
        AS referrer,
    if(event_type = 'engagement', toFloat64(cityHash64(number, 11) % 300), 0.) AS time_spent_sec,
    cityHash64(number, 12) % 3 != 0 AS is_bounce,
    cityHash64(number, 13) % 20 = 0 AS is_qr_scan,
    if(event_type = 'conversion', 'purchase', '') AS conversion_type,
    if(event_type = 'conversion', toFloat64(cityHash64(number, 14) % 10000) / 100, 0.) AS conversion_value,
    event_time AS received_at,
    cityHash64(number, 15) % 50 = 0 AS is_bot
FROM (SELECT number, cityHash64(number, 1) % 100 AS h1, number % {projects:UInt64} AS p,
             cityHash64(number, 3) % {visitors:UInt64} AS v
      FROM numbers({first:UInt64}, {count:UInt64}))
{where}
"""
_COLUMNS = (
    "event_id, event_type, event_time, link_id, link_slug, team_id, project_id, visitor_id, session_id, "
    "country, device_type, browser, os, referrer, time_spent_sec, is_bounce, is_qr_scan, conversion_type, "
    "conversion_value, received_at, is_bot"
)


def generate(client: Client, database: str, events: int, *, end_ms: int, chunk: int = 2_000_000) -> float:
    """Insert `events` events (plus 1 % re-sent copies); returns the seconds it took."""
    started = time.perf_counter()
    span_ms = DAYS * 86_400_000
    params = {"start_ms": end_ms - span_ms, "span_ms": span_ms, "projects": PROJECTS, "visitors": VISITORS}
    for first in range(0, events, chunk):
        count = min(chunk, events - first)
        for where in ("", f"WHERE number % {RESENT_EVERY} = 0"):  # the second pass: re-sent copies
            client.command(
                f"INSERT INTO {database}.events ({_COLUMNS}) " + _SELECT.replace("{where}", where),
                parameters={**params, "first": first, "count": count},
                settings={"deduplicate_insert": "disable"},
            )
        print(f"  generated {first + count:,} / {events:,} events", flush=True)
    return time.perf_counter() - started
