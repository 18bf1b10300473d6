"""Issue 15's targets under the table: each ratio to bare in the same run, ✓ or ✗."""

from __future__ import annotations

from bench.phase import Result
from bench.report import targets

BARE = Result("bare", accepted_per_s=4000.0, requests_per_s=4000.0, p99_ms=40.0)
"""One event per request: bare's requests/s are its events/s."""


def test_each_target_is_checked_against_bare_of_the_same_run() -> None:
    results = [
        BARE,
        Result("embedded", accepted_per_s=3200.0, requests_per_s=3200.0, p99_ms=70.0),  # 0.80×, 1.75×
        # /batch's events/s (100 per request) against bare's requests/s, as the performance targets count them.
        Result("batch", accepted_per_s=34_000.0, requests_per_s=340.0),  # 8.50×
        Result("embedded-batch", accepted_per_s=20_000.0, requests_per_s=200.0),  # 5.00×
    ]

    lines = targets(results).splitlines()[2:]

    assert lines == [
        "- ✓ **embedded** /track events/s ≥ 0.75× bare's: 0.80×",
        "- ✗ **embedded** /track p99 ≤ 1.5× bare's p99: 1.75×",
        "- ✓ **batch** /batch events/s ≥ 8× bare's requests/s (split, 1 API process): 8.50×",
        "- ✗ **embedded-batch** /batch events/s ≥ 6× bare's requests/s: 5.00×",
    ]


def test_nothing_is_claimed_without_bare_in_the_run() -> None:
    assert targets([Result("embedded", accepted_per_s=3200.0, p99_ms=70.0)]) == ""


def test_a_failed_contender_gets_no_verdict() -> None:
    failed = Result("batch", status="failed", accepted_per_s=40_000.0)
    text = targets([BARE, failed, Result("embedded-batch", accepted_per_s=24_000.0)])

    assert text.splitlines()[2:] == ["- ✓ **embedded-batch** /batch events/s ≥ 6× bare's requests/s: 6.00×"]
