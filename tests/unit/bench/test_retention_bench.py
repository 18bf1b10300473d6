"""bench.retention's arithmetic and tables: ratios against trackhouse's own scenario, the checks'
marks, the /track ratio (median of the rounds'). Figures made up; nothing is timed."""

from __future__ import annotations

from bench.load import LoadResult
from bench.retention import (
    SCENARIOS,
    TRACK_VARIANTS,
    Measured,
    Store,
    TrackRun,
    auto_track_seconds,
    expired_sql,
    ratio,
    rotated,
    scenario_table,
    size,
    times,
    track_table,
)


def _measured(slug: str, seconds: float, written: int, *, expired_left: int = 0, removed: int = 100) -> Measured:
    return Measured(
        slug=slug, seconds=seconds, rows_before=1000, rows_after=1000 - removed, new_parts=13,
        new_parts_bytes=50 << 20, written_bytes=written, disk_before=100 << 20, disk_after=50 << 20,
        expired_left=expired_left, newer_missing=0,
    )  # fmt: skip


def _store(**measured: Measured) -> Store:
    return Store(
        version="26.9", generated_seconds=100, settle_seconds=30, rows=1000, partitions=13, part_types="13 Wide",
        disk_bytes=100 << 20, expired={"default": 100, "short": 40}, measured=measured,
    )  # fmt: skip


def _row(table: str, label_start: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(f"| {label_start}"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_an_alternative_is_divided_by_trackhouses_scenario_of_the_same_rows() -> None:
    store = _store(
        **{
            "enforce-default": _measured("enforce-default", 2.0, 1 << 20),
            "delete-default": _measured("delete-default", 5.0, 40 << 20),
            "ttl-drop-default": _measured("ttl-drop-default", 3.0, 1 << 20, expired_left=7, removed=93),
        }
    )

    table = scenario_table(store)

    ours = _row(table, "**trackhouse** `enforce`: 180-day")
    delete = _row(table, "`ALTER TABLE … DELETE WHERE event_time")
    ttl_drop = _row(table, "… the same with `ttl_only_drop_parts")
    assert ours[1:3] == ["2.0 s", "1.00×"] and ours[8] == "✓ 0"
    assert delete[1:3] == ["5.0 s", "2.50×"] and delete[5:7] == ["40.0 MiB", "40.0×"]
    assert ttl_drop[3] == "93 (-7 vs expired)" and ttl_drop[8] == "✗ 7"
    assert "APPLY DELETED MASK" not in table  # not measured: no row


def test_repeated_scenarios_show_the_median_and_the_spread() -> None:
    store = _store(**{"enforce-default": _measured("enforce-default", 2.0, 1 << 20)})
    store.seconds["enforce-default"] = [2.4, 1.8, 2.0]

    assert _row(scenario_table(store), "**trackhouse** `enforce`: 180-day")[1] == "2.0 s (1.8–2.4)"


def test_a_follow_up_has_no_ratio() -> None:
    store = _store(
        **{
            "enforce-short": _measured("enforce-short", 2.0, 1 << 20),
            "mask-short": _measured("mask-short", 4.0, 30 << 20, removed=0),
        }
    )

    mask = _row(scenario_table(store), "… then `APPLY DELETED MASK`")

    assert mask[2] == "–" and mask[6] == "–" and mask[3] == "0"


def _load(requests_per_second: float) -> LoadResult:
    return LoadResult(
        prefix="x", active_seconds=10.0, events_per_request=1, sent=int(requests_per_second * 10),
        statuses={201: int(requests_per_second * 10)}, partial_events=0, p50_ms=10.0, p99_ms=30.0,
        socket_errors=0, timeouts=0,
    )  # fmt: skip


def _runs(per_round: dict[str, list[float]]) -> list[TrackRun]:
    return [
        TrackRun(slug, r, _load(rate), 5.0, 3.0, 9.0, 0)
        for slug, rates in per_round.items()
        for r, rate in enumerate(rates)
    ]


def test_the_track_ratio_is_the_median_of_the_rounds() -> None:
    # Round 2's reference met someone else's burst: its ratio is 2×, the others 0.8×.
    runs = _runs({"none": [2000, 1000, 2000], "default": [1600, 2000, 1600], "short": [1000, 1000, 1000]})

    assert ratio(runs, "default") == 0.8
    assert ratio(runs, "short") == 0.5
    table = track_table(runs, 10)
    assert "**0.80×** (rounds 0.80–2.00×)" in table
    assert _row(table, "nothing to enforce")[-1] == "1.00× (reference)"


def test_every_variant_runs_once_in_every_position() -> None:
    orders = [rotated(TRACK_VARIANTS, r) for r in range(len(TRACK_VARIANTS))]

    for position in range(len(TRACK_VARIANTS)):
        assert {order[position].slug for order in orders} == {v.slug for v in TRACK_VARIANTS}


def test_every_alternative_names_a_trackhouse_scenario_of_its_own_rows() -> None:
    by_slug = {s.slug: s for s in SCENARIOS}

    for scenario in SCENARIOS:
        for other in (scenario.reference, scenario.follows):
            if other is not None:
                assert by_slug[other].family == scenario.family
                assert by_slug[other].reference is None and other.startswith("enforce-")


def test_the_expired_condition_of_the_short_family_names_only_its_projects() -> None:
    assert expired_sql("default", 5) == "event_time < fromUnixTimestamp64Milli(5, 'UTC')"
    assert expired_sql("short", 5).startswith("project_id IN ('p00', 'p01', 'p02', 'p03', 'p04') AND ")


def test_figures_are_formatted_for_reading() -> None:
    assert [size(0), size(1536), size(50 << 20), size(3 << 30)] == ["0 B", "1.5 KiB", "50.0 MiB", "3.0 GiB"]
    assert [times(0.5), times(12.34), times(381.2), times(None)] == ["0.50×", "12.3×", "381×", "–"]


def test_the_wrk_runs_last_about_as_long_as_the_longer_enforcement() -> None:
    store = _store(
        **{"enforce-default": _measured("enforce-default", 4.2, 1), "enforce-short": _measured("enforce-short", 23.1, 1)}
    )

    assert auto_track_seconds(store) == 24
    assert auto_track_seconds(_store()) == 10
    store.measured["enforce-short"].seconds = 300
    assert auto_track_seconds(store) == 60
