"""bench.keys' arithmetic: the rotated order, the ratio (median of the rounds'), the verdict.
Figures made up; nothing is timed."""

from __future__ import annotations

from bench.keys import KEYED, VARIANTS, Runs, ratio, rotated, table, verdict_line
from bench.load import LoadResult


def _load(requests_per_second: float) -> LoadResult:
    return LoadResult(
        prefix="x", active_seconds=4.0, events_per_request=1, sent=int(requests_per_second * 4),
        statuses={201: int(requests_per_second * 4)}, partial_events=0, p50_ms=20.0, p99_ms=40.0,
        socket_errors=0, timeouts=0,
    )  # fmt: skip


def _runs(per_round: dict[str, list[float]]) -> dict[str, Runs]:
    return {slug: Runs([_load(r) for r in rates], [0.4 * r * 4 / 1000 for r in rates]) for slug, rates in per_round.items()}


def test_every_variant_runs_once_in_every_position() -> None:
    orders = [rotated(VARIANTS, r) for r in range(len(VARIANTS))]

    for position in range(len(VARIANTS)):
        assert {order[position].slug for order in orders} == {v.slug for v in VARIANTS}


def test_the_ratio_is_the_median_of_the_rounds_so_one_spoilt_round_does_not_move_it() -> None:
    # Round 2's keyless run met someone else's burst of CPU: its ratio is 2×, the others 0.98×.
    runs = _runs(
        {
            "nokey": [2000, 1000, 2000],
            "key": [1960, 2000, 1960],
            "origin": [1800, 1800, 1800],
            "keyorigin": [1782, 1782, 1782],
        }
    )
    keyed = next(v for v in VARIANTS if v.slug == KEYED)

    assert round(ratio(runs, keyed), 3) == 0.98
    assert verdict_line(runs).startswith("✓ /track with a write key ≥ 0.95× the requests/s without one: 0.980×")
    assert "totals 1.184×" in verdict_line(runs)  # the ratio of the totals, shown, not judged


def test_a_variant_below_the_target_gets_a_cross_and_each_row_its_own_reference() -> None:
    runs = _runs({"nokey": [2000, 2000], "key": [1800, 1880], "origin": [1800, 1800], "keyorigin": [1710, 1710]})

    assert verdict_line(runs).startswith("✗ ")
    rows = table(runs).splitlines()[2:]
    assert "1.00× (reference)" in rows[0] and "1.00× (reference)" in rows[2]
    assert "**0.920×** no key (" in rows[1]
    assert "**0.950×** no key, `Origin: https://www.example.com` (" in rows[3]
