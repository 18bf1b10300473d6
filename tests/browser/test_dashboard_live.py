"""The dashboard's live card ("visitors in the last 5 minutes") in a real Chromium against
`trackhouse up`: it counts visitors, not sessions nor events. Its fixture, tracked just now over
HTTP into a project of its own, has one visitor with two sessions (and several events each), so
the three counts differ; the expected count comes from the fixture."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import ADMIN_TOKEN, TIMEOUT_MS, Recorded, Stack
from tests.support.processes import http, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PROJECT = "live-shop"
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


def _event(event_type: str, visitor: str, session: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_type": event_type,
        "project_id": PROJECT,
        "team_id": "live-team",
        "visitor_id": visitor,
        "session_id": session,
        "user_agent": DESKTOP,
        **fields,
    }


FIXTURE = [  # no event_time: tracked now, inside the card's 5 minutes
    _event("view", "returning", "morning"),
    _event("click", "returning", "morning"),
    _event("view", "returning", "evening"),  # the same visitor's second session
    _event("view", "returning", "evening"),
    _event("view", "newcomer", "first-visit"),
    _event("engagement", "reader", "reading", time_spent_sec=5),  # measures a view: no visitor
]
COUNTED = [e for e in FIXTURE if e["event_type"] != "engagement"]
VISITORS = len({e["visitor_id"] for e in COUNTED})
SESSIONS = len({e["session_id"] for e in COUNTED})


@pytest.fixture(scope="module")
def tracked(stack: Stack) -> Iterator[Stack]:
    assert (VISITORS, SESSIONS, len(COUNTED)) == (2, 3, 5)  # three different numbers
    for event in FIXTURE:
        status, body = http("POST", f"{stack.base}/api/events/track", event)
        assert status == 201, body
    body = {"metrics": ["events"], "date_range": "5m", "filters": [["is", "project_id", [PROJECT]]]}

    def stored() -> bool:
        status, answer = http("POST", f"{stack.base}/api/query", body, headers=stack.admin())
        return status == 200 and answer["results"][0]["metrics"][0] == len(COUNTED)

    wait_for(stored, timeout_seconds=30, what="the live fixture to be stored")
    yield stack


def test_the_live_card_counts_visitors_not_sessions(tracked: Stack, browser: Browser) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id="Europe/Berlin")
    ctx.set_default_timeout(TIMEOUT_MS)
    recorded = Recorded()
    page = ctx.new_page()
    page.on("pageerror", lambda exc: recorded.errors.append(f"pageerror: {exc}"))
    page.on("console", lambda m: recorded.errors.append(f"console: {m.text}") if m.type == "error" else None)
    try:
        page.goto(f"{tracked.base}/dashboard")
        expect(page.locator("#login")).to_be_visible()
        page.locator("#key").fill(ADMIN_TOKEN)
        page.locator("#login button[type=submit]").click()
        expect(page.locator("#live")).to_be_visible()
        page.locator("#project").select_option(PROJECT)
        expect(page.locator("#live-count")).to_have_text(str(VISITORS))
        expect(page.locator("#live")).to_contain_text("visitors in the last 5 minutes")
        assert recorded.errors == []
    finally:
        ctx.close()
