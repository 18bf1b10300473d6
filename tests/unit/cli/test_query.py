"""`trackhouse query`: the request body it builds from flags, and the table it prints."""

from __future__ import annotations

import argparse

import pytest

from cli.query import add_arguments, build_body, render


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_flags_become_the_api_body() -> None:
    body = build_body(
        _args(
            "--metrics",
            "events,visitors",
            "--by",
            "country,time:day",
            "--range",
            "2026-11-01,2026-11-07",
            "--filter",
            "country is DE,FR",
            "--filter",
            "referrer contains google",
            "--order",
            "visitors",
            "--tz",
            "Europe/Berlin",
            "--bots",
        )
    )
    assert body == {
        "metrics": ["events", "visitors"],
        "dimensions": ["country", "time:day"],
        "timezone": "Europe/Berlin",
        "date_range": ["2026-11-01", "2026-11-07"],
        "filters": [["is", "country", ["DE", "FR"]], ["contains", "referrer", ["google"]]],
        "order_by": [["visitors", "desc"]],
        "limit": 100,
        "include": {"bots": True, "totals": False},
    }


def test_a_malformed_filter_is_refused() -> None:
    with pytest.raises(ValueError, match="--filter"):
        build_body(_args("--filter", "country equals DE"))


def test_the_table() -> None:
    answer = {
        "results": [
            {"dimensions": ["DE"], "metrics": [1200, 12.5]},
            {"dimensions": [""], "metrics": [3, None]},
        ],
        "totals": {"events": 1203, "bounce_rate": 12.0},
        "meta": {
            "metrics": ["events", "bounce_rate"],
            "dimensions": ["country"],
            "timezone": "UTC",
            "date_range": ["2026-11-01T00:00:00+00:00", "2026-11-08T00:00:00+00:00"],
            "total_rows": 2,
        },
    }
    lines = [line.split() for line in render(answer).splitlines()]
    assert lines[0] == ["country", "events", "bounce_rate"]
    assert lines[2] == ["DE", "1,200", "12.50"]
    assert lines[3] == ['""', "3", "-"]
    assert lines[4] == ["total", "1,203", "12.00"]
