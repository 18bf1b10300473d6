"""`trackhouse query`: ask the running service's POST /api/query and print a table.

It talks HTTP to the API (never opens the store: in the embedded topology the running process
owns chDB), with the admin token (TRACKHOUSE_ADMIN_TOKEN) or `--key` (a read key).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from shared.query.model import OPERATORS
from shared.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics", default="events", help="comma-separated (default: events)")
    parser.add_argument(
        "--by", default="", metavar="DIMS", help="dimensions, comma-separated: country,time:day"
    )
    parser.add_argument("--range", default="30d", help="7d, 30d, today, all… or FROM,TO (dates)")
    parser.add_argument("--tz", default="UTC", help="IANA time zone (default UTC)")
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="'DIM OP V1,V2'",
        help=f"repeatable; OP one of {', '.join(OPERATORS)}",
    )
    parser.add_argument("--order", default=None, metavar="NAME[:asc|desc]")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--bots", action="store_true", help="count bot events too")
    parser.add_argument("--totals", action="store_true", help="print the totals row")
    parser.add_argument("--json", action="store_true", help="print the API's JSON answer")
    parser.add_argument("--url", default=None, help="the API (default http://HOST:PORT from the settings)")
    parser.add_argument("--key", default=None, help="a read key (default: the admin token)")


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def build_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metrics": _split(args.metrics),
        "dimensions": _split(args.by),
        "timezone": args.tz,
    }
    body["date_range"] = _split(args.range) if "," in args.range else args.range
    filters = []
    for text in args.filter:
        parts = text.split(None, 2)
        if len(parts) != 3 or parts[1] not in OPERATORS:
            raise ValueError(f"--filter {text!r}: expected 'DIMENSION OPERATOR VALUE[,VALUE…]'")
        filters.append([parts[1], parts[0], _split(parts[2]) or [parts[2]]])
    body["filters"] = filters
    if args.order:
        name, _, direction = args.order.partition(":")
        body["order_by"] = [[name, direction or "desc"]]
    body["limit"] = args.limit
    body["include"] = {"bots": args.bots, "totals": args.totals}
    return body


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value) if value != "" else '""'


def render(answer: dict[str, Any]) -> str:
    meta = answer["meta"]
    header = [*meta["dimensions"], *meta["metrics"]]
    rows = [[*map(_cell, r["dimensions"]), *map(_cell, r["metrics"])] for r in answer["results"]]
    totals = answer.get("totals")
    dims = len(meta["dimensions"])
    if totals and dims:  # without dimensions the one row is the total
        rows.append(
            ["total" if i == 0 else "" for i in range(dims)] + [_cell(totals[m]) for m in meta["metrics"]]
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < dims else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    out = [line(header), line(["-" * w for w in widths]), *map(line, rows)]
    start, end = meta["date_range"]
    out.append(f"{meta['total_rows']} row(s); {start} … {end} ({meta['timezone']})")
    return "\n".join(out)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        body = build_body(args)
    except ValueError as exc:
        print(f"trackhouse query: {exc}")
        return 2
    url = (args.url or f"http://{settings.host}:{settings.port}").rstrip("/") + "/api/query"
    token = args.key or (settings.admin_token.get_secret_value() if settings.admin_token else "")
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        with contextlib.suppress(ValueError, KeyError, TypeError):
            detail = json.loads(detail)["error"]
        print(f"trackhouse query: {exc.code}: {detail}")
        return 1
    except OSError as exc:
        print(f"trackhouse query: the API at {url} is not reachable ({exc}); is `trackhouse up` running?")
        return 1
    print(json.dumps(answer, indent=2) if args.json else render(answer))
    return 0
