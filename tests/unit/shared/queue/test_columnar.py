"""The queue payload: shared values travel once, and come back exactly."""

from __future__ import annotations

from typing import Any

import orjson

from shared.queue.columnar import pack, unpack

COLUMNS = ("event_id", "country", "link_tags", "is_bounce", "time_spent_sec")


def rows() -> list[dict[str, Any]]:
    return [
        {"event_id": "a", "country": "", "link_tags": ["x"], "is_bounce": True, "time_spent_sec": 0.0},
        {"event_id": "b", "country": "", "link_tags": ["x"], "is_bounce": False, "time_spent_sec": 0.0},
        {"event_id": "c", "country": "", "link_tags": ["x"], "is_bounce": True, "time_spent_sec": 0.0},
    ]


def test_round_trip_through_json() -> None:
    packed = orjson.loads(orjson.dumps(pack(rows(), COLUMNS)))
    columns = [unpack(entry) for entry in packed]
    assert [dict(zip(COLUMNS, row, strict=True)) for row in zip(*columns, strict=True)] == rows()


def test_shared_values_travel_once() -> None:
    packed = pack(rows(), COLUMNS)
    assert packed[0] == ["a", "b", "c"]
    assert packed[1] == {"repeat": 3, "value": ""}
    assert packed[2] == {"repeat": 3, "value": ["x"]}
    assert packed[3] == [True, False, True]
    assert packed[4] == {"repeat": 3, "value": 0.0}


def test_a_single_event_is_never_folded() -> None:
    assert pack(rows()[:1], COLUMNS)[1] == [""]


def test_rows_in_another_key_order_land_in_the_right_columns() -> None:
    shuffled = [dict(reversed(list(row.items()))) for row in rows()]
    assert pack(shuffled, COLUMNS) == pack(rows(), COLUMNS)
