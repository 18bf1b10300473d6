"""POST /api/query against real chDB, the metrics: each one over the fixture (tests.integration.
api.query.query_fixture), grouped, ordered and paged, by tag and attribute, a re-sent event counted
once, approximate answers opt-in, bots left out unless included; the read models in OpenAPI."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.integration.api.query.query_fixture import (
    ALL_METRICS,
    _select,
    by_dimensions,
    expected,
    query,
)

pytestmark = pytest.mark.integration


def test_every_metric_over_the_whole_selection(api: TestClient) -> None:
    truth = expected(_select())
    result = query(api, metrics=ALL_METRICS, include={"totals": True})
    assert result["results"] == [
        {"dimensions": [], "metrics": pytest.approx([truth[m] for m in ALL_METRICS])}
    ]
    assert result["totals"] == pytest.approx(truth)
    assert result["meta"]["total_rows"] == 1


def test_a_resent_event_is_counted_once(api: TestClient) -> None:
    assert api.store_rows == 2  # type: ignore[attr-defined]  # both copies are in the table
    result = query(api, metrics=["events"], filters=[["is", "link_slug", ["promo"]]])
    assert result["results"][0]["metrics"] == [len(_select(where=lambda e: e.get("link_slug") == "promo"))]


def test_approximate_is_opt_in_and_said_in_meta(api: TestClient) -> None:
    promo = [["is", "link_slug", ["promo"]]]
    exact = query(api, metrics=["events", "visitors"], filters=promo)
    approximate = query(api, metrics=["events", "visitors"], filters=promo, approximate=True)
    assert exact["meta"]["approximate"] is False and approximate["meta"]["approximate"] is True
    truth = len(_select(where=lambda e: e.get("link_slug") == "promo"))
    assert exact["results"][0]["metrics"][0] == truth
    # Without FINAL the unmerged re-sent copy of e1 counts again: what "approximate" allows.
    assert approximate["results"][0]["metrics"][0] == truth + 1


def test_grouped_by_a_dimension_with_the_default_order(api: TestClient) -> None:
    result = query(api, metrics=["events", "visitors", "conversion_value"], dimensions=["country"])
    selected = _select()
    countries = {e.get("country", "") for e in selected}
    truth = {
        (c,): [expected(g)[m] for m in ("events", "visitors", "conversion_value")]
        for c in countries
        if (g := [e for e in selected if e.get("country", "") == c])
    }
    assert by_dimensions(result) == truth  # sums of exactly representable values
    events = [r["metrics"][0] for r in result["results"]]
    assert events == sorted(events, reverse=True)  # default: first metric descending
    assert result["meta"]["total_rows"] == len(truth)


def test_order_limit_offset_and_total_rows(api: TestClient) -> None:
    full = query(api, metrics=["events"], dimensions=["link_slug"], order_by=[["link_slug", "asc"]])
    slugs = [r["dimensions"][0] for r in full["results"]]
    assert slugs == sorted({e.get("link_slug", "") for e in _select()})
    page = query(
        api, metrics=["events"], dimensions=["link_slug"], order_by=[["link_slug", "asc"]], limit=1, offset=1
    )
    assert [r["dimensions"][0] for r in page["results"]] == slugs[1:2]
    assert page["meta"]["total_rows"] == len(slugs)


def test_link_tag_gives_one_row_per_tag(api: TestClient) -> None:
    result = query(api, metrics=["events"], dimensions=["link_tag"])
    counted = [e for e in _select() if e["event_type"] != "engagement"]
    truth: dict[tuple[str, ...], list[int]] = {}
    for e in counted:
        for tag in e.get("link_tags") or [""]:
            truth.setdefault((tag,), [0])[0] += 1
    assert by_dimensions(result) == truth


def test_attribute_dimension_and_filter(api: TestClient) -> None:
    result = query(api, metrics=["events"], dimensions=["event_attributes.page"])
    counted = [e for e in _select() if e["event_type"] != "engagement"]
    pages: dict[tuple[str, ...], list[int]] = {}
    for e in _select():
        page = (e.get("event_attributes") or {}).get("page", "")
        pages.setdefault((page,), [0])[0] += e["event_type"] != "engagement"
    assert by_dimensions(result) == pages
    numbers = by_dimensions(query(api, metrics=["events"], dimensions=["event_attributes.n"]))
    assert numbers[("3",)] == [sum(1 for e in counted if (e.get("event_attributes") or {}).get("n") == 3)]
    home = query(api, metrics=["events"], filters=[["is", "event_attributes.page", ["/home"]]])
    assert home["results"][0]["metrics"] == [
        sum(1 for e in counted if (e.get("event_attributes") or {}).get("page") == "/home")
    ]


def test_bots_left_out_unless_included(api: TestClient) -> None:
    without = query(api, metrics=["events", "visitors"])
    with_bots = query(api, metrics=["events", "visitors"], include={"bots": True})
    assert without["results"][0]["metrics"] == [expected(_select())[m] for m in ("events", "visitors")]
    assert with_bots["results"][0]["metrics"] == [
        expected(_select(bots=True))[m] for m in ("events", "visitors")
    ]
    assert with_bots["results"][0]["metrics"] != without["results"][0]["metrics"]


def test_openapi_documents_the_read_models(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    query_op = paths["/api/query"]["post"]
    assert query_op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/QueryBody")
    assert query_op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/QueryAnswer"
    )
    assert {"400", "401", "408", "429"} <= set(query_op["responses"])
    assert paths["/api/export"]["post"]["requestBody"]["content"]["application/json"]["schema"][
        "$ref"
    ].endswith("/ExportBody")
