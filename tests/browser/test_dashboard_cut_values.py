"""The dashboard (`GET /dashboard`) in a real Chromium against `trackhouse up`, on values the
query API answers cut (free text longer than `meta.value_max_chars`, 1,024 characters): the
table shows the cut value, and a click on it filters by that prefix (`contains`), counting the
events of the value it was cut from, where an `is` filter on the cut value matched nothing (or
was a 400 over the filter values' cap). The fixture, tracked over HTTP into a project of its
own: referrers of ~1,500 characters whose domains (the Referrers table) are ~1,500 characters,
two of them sharing nothing, and a short one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Response, expect

from shared.query.dimensions import VALUE_MAX_CHARS
from tests.browser.conftest import ADMIN_TOKEN, Stack
from tests.browser.test_dashboard import DESKTOP, _card, _expect_card, _open, _query, _sign_in, _wait_loaded
from tests.support.processes import http, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PROJECT = "cut-shop"
LONG_A = ".".join(["a" * 59] * 25) + ".example"  # 1,508 characters
LONG_B = ".".join(["b" * 59] * 25) + ".test"  # nothing in common with LONG_A, not even a prefix
SHORT = "short.example"
URL = {host: f"https://{host}/landing?from=cut-values" for host in (LONG_A, LONG_B, SHORT)}


def _event(event_type: str, visitor: str, host: str) -> dict[str, Any]:
    return {
        "event_type": event_type,
        "project_id": PROJECT,
        "team_id": "cut-team",
        "visitor_id": visitor,
        "session_id": f"s-{visitor}",
        "user_agent": DESKTOP,
        "referrer": URL[host],
    }


FIXTURE = [
    _event("view", "c1", LONG_A),
    _event("click", "c1", LONG_A),
    _event("view", "c2", LONG_A),
    _event("view", "c3", LONG_B),
    _event("click", "c3", LONG_B),
    _event("view", "c4", SHORT),
]
EVENTS = {host: len([e for e in FIXTURE if e["referrer"] == url]) for host, url in URL.items()}  # 3, 2, 1


@pytest.fixture(scope="module")
def tracked(stack: Stack) -> Iterator[Stack]:
    assert min(len(URL[LONG_A]), len(URL[LONG_B])) > 1400 and len(set(EVENTS.values())) == 3
    assert LONG_A[:VALUE_MAX_CHARS].lower() not in LONG_B.lower()  # a prefix filter tells them apart
    for event in FIXTURE:
        status, body = http("POST", f"{stack.base}/api/events/track", event)
        assert status == 201, body
    everything = {"metrics": ["events"], "date_range": "all", "filters": [["is", "project_id", [PROJECT]]]}
    wait_for(
        lambda: _query(stack, everything)["results"][0]["metrics"][0] == len(FIXTURE),
        timeout_seconds=30,
        what="the cut-values fixture to be stored",
    )
    yield stack


def test_a_cut_value_is_shown_and_a_click_on_it_filters_to_its_events(
    tracked: Stack, browser: Browser
) -> None:
    # What the dashboard is given: the long domains cut to their first value_max_chars characters.
    answer = _query(
        tracked,
        {
            "metrics": ["events"],
            "dimensions": ["referrer_domain"],
            "date_range": "30d",
            "filters": [["is", "project_id", [PROJECT]]],
        },
    )
    assert answer["meta"]["truncated_values"] is True and answer["meta"]["value_max_chars"] == VALUE_MAX_CHARS
    cut = {host: host[:VALUE_MAX_CHARS] for host in (LONG_A, LONG_B)} | {SHORT: SHORT}
    assert {r["dimensions"][0]: r["metrics"][0] for r in answer["results"]} == {
        cut[host]: n for host, n in EVENTS.items()
    }

    ctx, page, recorded = _open(browser, f"{tracked.base}/dashboard")  # signed in below, once watched
    answered: list[Response] = []
    page.on("response", lambda r: answered.append(r) if r.url.startswith(f"{tracked.base}/api/") else None)
    try:
        _sign_in(page, ADMIN_TOKEN)
        page.locator("#project").select_option(PROJECT)
        _wait_loaded(page)
        assert _card(page, "events") == str(len(FIXTURE))
        rows = page.locator('[data-dimension="referrer_domain"] tbody tr')
        expect(rows).to_have_count(3)
        for host in (LONG_A, LONG_B):  # the table shows the cut value (the cell ends in an ellipsis)
            row = page.locator(f'[data-dimension="referrer_domain"] tbody tr[data-value="{cut[host]}"]')
            expect(row).to_have_count(1)
            assert row.locator("td.name").inner_text().startswith(cut[host][:200])
        # A click on a cut value filters to the events of the value it was cut from, not to 0.
        for host in (LONG_A, LONG_B):
            page.locator(f'[data-dimension="referrer_domain"] tbody tr[data-value="{cut[host]}"]').click()
            _expect_card(page, "events", str(EVENTS[host]))
            chip = page.locator(".chip")
            expect(chip).to_have_text(f"referrer_domain starts with {host[:59]}…")  # shortened, as text
            _wait_loaded(page)
            expect(rows).to_have_count(1)
            chip.click()  # removed: back to everything
            _expect_card(page, "events", str(len(FIXTURE)))
            _wait_loaded(page)
        # A short value is not cut: still an exact filter.
        rows.filter(has_text=SHORT).click()
        expect(page.locator(".chip")).to_have_text(f"referrer_domain is {SHORT}")
        _expect_card(page, "events", str(EVENTS[SHORT]))
        _wait_loaded(page)
        queries = [r for r in answered if r.url == f"{tracked.base}/api/query"]
        assert queries and [(r.url, r.status) for r in answered if r.status != 200] == []  # no 400
        assert recorded.errors == []
        assert recorded.outside() == []
    finally:
        ctx.close()
