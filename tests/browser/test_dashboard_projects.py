"""The dashboard's project selector in a real Chromium against `trackhouse up`, on projects of
the registry (made through the admin API): a team read key's selector lists its team's projects
by name (another team's not at all), and picking one filters to it and switches the page to
that project's timezone; "All projects" keeps the timezone it had. The fixture, tracked over
HTTP with times around midnight of one day, falls on that day differently in each timezone;
every expected number is counted from the fixture here (zoneinfo), never asked of the API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, expect

from tests.browser.conftest import ADMIN_TOKEN, SCREENSHOTS, TIMEOUT_MS, Recorded, Stack
from tests.browser.test_dashboard import DESKTOP, _card, _query, _sign_in
from tests.support.processes import http, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

TEAM, OTHER_TEAM = "ptz-team", "ptz-other-team"
BROWSER_TZ = "Asia/Tokyo"  # the page's own default: neither project's
PROJECTS = {  # project_id: (team, name, timezone)
    "ptz-shop": (TEAM, "Shop", "Europe/Berlin"),
    "ptz-blog": (TEAM, "Blog", "America/New_York"),
    "ptz-news": (OTHER_TEAM, "News", "Australia/Sydney"),
}
UNREGISTERED = "ptz-loose"  # events of a project the registry does not know
DAY = date(2025, 1, 15)  # winter: Berlin +01:00, New York -05:00, Tokyo +09:00


def _event(project: str, visitor: str, at: str) -> dict[str, Any]:
    return {
        "event_type": "view",
        "project_id": project,
        "team_id": PROJECTS[project][0] if project in PROJECTS else "ptz-loose-team",
        "visitor_id": visitor,
        "session_id": f"s-{visitor}",
        "user_agent": DESKTOP,
        "event_time": at,
    }


FIXTURE = [
    _event("ptz-shop", "s1", "2025-01-14T23:30:00Z"),  # Berlin: the 15th, 00:30
    _event("ptz-shop", "s1", "2025-01-15T12:00:00Z"),
    _event("ptz-shop", "s2", "2025-01-15T16:00:00Z"),  # Tokyo: the 16th
    _event("ptz-shop", "s3", "2025-01-15T20:00:00Z"),
    _event("ptz-shop", "s4", "2025-01-15T23:30:00Z"),  # Berlin: the 16th; New York: the 15th
    _event("ptz-blog", "b1", "2025-01-15T02:00:00Z"),  # New York: the 14th, 21:00
    _event("ptz-blog", "b2", "2025-01-15T10:00:00Z"),
    _event("ptz-blog", "b1", "2025-01-16T03:00:00Z"),  # New York: the 15th, 22:00
    _event("ptz-blog", "b3", "2025-01-16T04:30:00Z"),  # New York: the 15th, 23:30
    _event("ptz-news", "n1", "2025-01-15T12:00:00Z"),
    _event("ptz-news", "n2", "2025-01-15T13:00:00Z"),
    _event(UNREGISTERED, "l1", "2025-01-15T12:00:00Z"),
]


@dataclass(frozen=True)
class Counts:
    events: int
    visitors: int


def _on_day(projects: set[str], zone: str) -> Counts:
    """The fixture's events of `projects` that fall on DAY in `zone`."""
    tz = ZoneInfo(zone)
    hits = [
        e
        for e in FIXTURE
        if e["project_id"] in projects
        and datetime.fromisoformat(e["event_time"].replace("Z", "+00:00")).astimezone(tz).date() == DAY
    ]
    return Counts(len(hits), len({e["visitor_id"] for e in hits}))


@pytest.fixture(scope="module")
def team_key(stack: Stack) -> Iterator[str]:
    """The registry's teams and projects, a read key of TEAM, and the fixture stored."""
    admin = stack.admin()
    for team in (TEAM, OTHER_TEAM):
        status, body = http("POST", f"{stack.base}/api/admin/teams", {"team_id": team, "name": team}, admin)
        assert status == 201, body
    for project_id, (team, name, zone) in PROJECTS.items():
        project = {"project_id": project_id, "team_id": team, "name": name, "timezone": zone}
        status, body = http("POST", f"{stack.base}/api/admin/projects", project, admin)
        assert status == 201, body
    status, body = http(
        "POST", f"{stack.base}/api/admin/teams/{TEAM}/keys", {"kind": "read", "name": "dashboard"}, admin
    )
    assert status == 201, body
    key: str = body["key"]
    for event in FIXTURE:
        status, body = http("POST", f"{stack.base}/api/events/track", event)
        assert status == 201, body
    everything = [*PROJECTS, UNREGISTERED]
    count = {
        "metrics": ["events"],
        "date_range": "all",
        "timezone": "UTC",
        "filters": [["is", "project_id", everything]],
    }
    wait_for(
        lambda: _query(stack, count)["results"][0]["metrics"][0] == len(FIXTURE),
        timeout_seconds=30,
        what="the projects fixture to be stored",
    )
    yield key


def _open_in(browser: Browser, url: str, zone: str) -> tuple[BrowserContext, Page, Recorded, list[Request]]:
    """A fresh browser whose own timezone is `zone`, at `url`; its requests, errors and queries recorded."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id=zone)
    ctx.set_default_timeout(TIMEOUT_MS)
    recorded, queries = Recorded(), []
    ctx.on("request", lambda request: recorded.requests.append(request))
    page = ctx.new_page()
    page.on("pageerror", lambda exc: recorded.errors.append(f"pageerror: {exc}"))
    page.on("console", lambda m: recorded.errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("request", lambda r: queries.append(r) if r.url.endswith("/api/query") else None)
    page.goto(url)
    return ctx, page, recorded, queries


def _show_day(page: Page) -> None:
    page.locator("#from").fill(DAY.isoformat())
    page.locator("#to").fill(DAY.isoformat())
    page.locator("#custom button[type=submit]").click()


def _expect_shown(page: Page, zone: str, counts: Counts) -> None:
    expect(page.locator("body")).to_have_attribute("data-state", "ready")
    expect(page.locator("#timezone")).to_have_value(zone)
    expect(page.locator("#status")).to_contain_text(f"2025-01-15 00:00 – 2025-01-16 00:00 ({zone})")
    expect(page.locator('.card[data-metric="events"] .value')).to_have_text(str(counts.events))
    assert _card(page, "visitors") == str(counts.visitors)


def test_a_team_key_picks_its_projects_by_name_each_in_its_timezone(
    stack: Stack, team_key: str, browser: Browser
) -> None:
    team = {"ptz-shop", "ptz-blog"}
    shop, blog = _on_day({"ptz-shop"}, "Europe/Berlin"), _on_day({"ptz-blog"}, "America/New_York")
    # The fixture is worth its name: each project's timezone moves events onto or off the day,
    # and the other team's events would change the team's total.
    assert shop != _on_day({"ptz-shop"}, BROWSER_TZ) and blog != _on_day({"ptz-blog"}, "Europe/Berlin")
    assert _on_day(team, BROWSER_TZ) != _on_day(team | {"ptz-news"}, BROWSER_TZ)
    assert _on_day(team, "America/New_York") != _on_day(team, BROWSER_TZ)
    ctx, page, recorded, queries = _open_in(browser, f"{stack.base}/dashboard", BROWSER_TZ)
    try:
        _sign_in(page, team_key)
        # The team's two projects by name (their ids as values), "All projects" first; not the other team's.
        expect(page.locator("#project option")).to_have_text(["All projects", "Blog", "Shop"])
        values = page.locator("#project option").evaluate_all("options => options.map((o) => o.value)")
        assert values == ["", "ptz-blog", "ptz-shop"]
        expect(page.locator("body")).to_have_attribute("data-state", "empty")  # 30d: nothing since 2025
        expect(page.locator("#timezone")).to_have_value(BROWSER_TZ)
        # The day, over the team's projects, in the browser's own timezone.
        _show_day(page)
        _expect_shown(page, BROWSER_TZ, _on_day(team, BROWSER_TZ))
        # Shop: its events only, by Berlin's days; every query says so.
        page.locator("#project").select_option(label="Shop")
        _expect_shown(page, "Europe/Berlin", shop)
        last = queries[-1].post_data_json
        assert last["timezone"] == "Europe/Berlin" and ["is", "project_id", ["ptz-shop"]] in last["filters"]
        # Blog: New York's; the chart is New York's hours of the day.
        page.locator("#project").select_option(label="Blog")
        _expect_shown(page, "America/New_York", blog)
        expect(page.locator("#chart-grain")).to_have_text("by hour")
        expect(page.locator("#chart svg text").nth(2)).to_have_text("2025-01-15 00:00")
        page.screenshot(path=SCREENSHOTS / "dashboard-projects.png", full_page=False)
        # All projects: the timezone stays as it is.
        page.locator("#project").select_option(label="All projects")
        _expect_shown(page, "America/New_York", _on_day(team, "America/New_York"))
        assert recorded.errors == []
        assert recorded.outside() == []
    finally:
        ctx.close()


def test_the_admin_sees_registered_projects_by_name_and_the_others_by_id(
    stack: Stack, team_key: str, browser: Browser
) -> None:
    assert _on_day({"ptz-news"}, "Australia/Sydney") != _on_day({"ptz-news"}, BROWSER_TZ)
    ctx, page, recorded, _ = _open_in(browser, f"{stack.base}/dashboard", BROWSER_TZ)
    try:
        _sign_in(page, ADMIN_TOKEN)
        expect(page.locator("body")).to_have_attribute("data-state", re.compile(r"^(ready|empty)$"))
        names = page.locator("#project option").all_inner_texts()
        assert names[0] == "All projects" and {"Shop", "Blog", "News", UNREGISTERED} <= set(names)
        assert not {"ptz-shop", "ptz-blog", "ptz-news"} & set(names)
        _show_day(page)
        page.locator("#project").select_option(label="News")
        _expect_shown(page, "Australia/Sydney", _on_day({"ptz-news"}, "Australia/Sydney"))
        # A project the registry does not know has no timezone: the current one stays.
        page.locator("#project").select_option(UNREGISTERED)
        _expect_shown(page, "Australia/Sydney", _on_day({UNREGISTERED}, "Australia/Sydney"))
        assert recorded.errors == []
    finally:
        ctx.close()
