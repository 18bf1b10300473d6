"""The dashboard (`GET /dashboard`) in a real Chromium against `trackhouse up`, on a fixture of
known events tracked over HTTP: its cards show what `POST /api/query` returns (and what the
fixture says), a row click filters, the key is signed in by the form only (never in a URL or
storage; a `#key=` link does not sign in) and a wrong one is refused, values are text (the XSS
slug), no console errors; screenshots at 1280×800 and 390×844."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import (
    ADMIN_TOKEN,
    READ_KEY,
    READ_KEY_PROJECT,
    SCREENSHOTS,
    TIMEOUT_MS,
    Recorded,
    Stack,
)
from tests.browser.site import Site
from tests.browser.tracker_pages import event_of, expect_event
from tests.support.processes import http, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PROJECT = READ_KEY_PROJECT
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
HEADLESS = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/150.0.0.0 Safari/537.36"
XSS_SLUG = '<img src=x onerror="window.__xss=1">'


def _event(event_type: str, visitor: str, ua: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_type": event_type,
        "project_id": PROJECT,
        "team_id": "dash-team",
        "visitor_id": visitor,
        "session_id": f"s-{visitor}",
        "user_agent": ua,
        **fields,
    }


FIXTURE = [
    _event(
        "view",
        "v1",
        DESKTOP,
        link_slug="spring-sale",
        country="DE",
        referrer="https://www.google.com/search?q=x",
        utm_source="newsletter",
        utm_campaign="spring",
    ),
    _event("click", "v1", DESKTOP, link_slug="spring-sale", country="DE"),
    _event(
        "conversion",
        "v1",
        DESKTOP,
        link_slug="spring-sale",
        country="DE",
        conversion_type="purchase",
        conversion_value=30,
        is_bounce=False,
    ),
    _event(
        "engagement", "v1", DESKTOP, link_slug="spring-sale", country="DE", time_spent_sec=20, is_bounce=False
    ),
    _event("view", "v2", IPHONE, link_slug="winter", country="FR", referrer="https://news.ycombinator.com/"),
    _event(
        "conversion",
        "v2",
        IPHONE,
        link_slug="winter",
        country="FR",
        conversion_type="purchase",
        conversion_value=12.5,
        qr_code_id="qr-1",
        is_qr_scan=True,
        is_bounce=False,
    ),
    _event("click", "v3", DESKTOP, link_slug=XSS_SLUG, country="US"),
    _event("click", "v9", HEADLESS, link_slug="spring-sale", country="DE"),  # a bot: hidden by default
    {**_event("click", "o1", DESKTOP, link_slug="other"), "project_id": "dash-other"},
]
# The truth, from the fixture itself: bots and engagement events are not events; sessions s-v1
# and s-v2 hold an is_bounce=false event, s-v3 does not.
HUMAN = [e for e in FIXTURE if e["project_id"] == PROJECT and e["user_agent"] != HEADLESS]
EXPECTED = {
    "events": len([e for e in HUMAN if e["event_type"] != "engagement"]),  # 6
    "visitors": len({e["visitor_id"] for e in HUMAN}),  # 3
    "sessions": len({e["session_id"] for e in HUMAN}),  # 3
    "bounce_rate": "33.3%",
    "conversions": len([e for e in HUMAN if e["event_type"] == "conversion"]),  # 2
    "conversion_value": "42.50",
}
WINTER_EVENTS = len(
    [e for e in HUMAN if e.get("link_slug") == "winter" and e["event_type"] != "engagement"]
)  # 2


def _query(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    status, answer = http("POST", f"{stack.base}/api/query", body, headers=stack.admin())
    assert status == 200, answer
    result: dict[str, Any] = answer
    return result


@pytest.fixture(scope="module")
def tracked(stack: Stack) -> Iterator[Stack]:
    for event in FIXTURE:
        status, body = http("POST", f"{stack.base}/api/events/track", event)
        assert status == 201, body
    everything = {"metrics": ["events"], "date_range": "all", "include": {"bots": True}}

    def stored() -> bool:
        rows = _query(stack, {**everything, "filters": [["is", "team_id", ["dash-team"]]]})["results"]
        return bool(rows[0]["metrics"][0] == len([e for e in FIXTURE if e["event_type"] != "engagement"]))

    wait_for(stored, timeout_seconds=30, what="the dashboard fixture to be stored")
    yield stack


def _open(
    browser: Browser, url: str, *, key: str | None = None, width: int = 1280, height: int = 800
) -> tuple[BrowserContext, Page, Recorded]:
    """A fresh browser at `url`, signed in with `key` through the page's form if given."""
    ctx = browser.new_context(viewport={"width": width, "height": height}, timezone_id="Europe/Berlin")
    ctx.set_default_timeout(TIMEOUT_MS)
    recorded = Recorded()
    ctx.on("request", lambda request: recorded.requests.append(request))
    page = ctx.new_page()
    page.on("pageerror", lambda exc: recorded.errors.append(f"pageerror: {exc}"))
    page.on("console", lambda m: recorded.errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.goto(url)
    if key is not None:
        _sign_in(page, key)
    return ctx, page, recorded


def _sign_in(page: Page, key: str) -> None:
    """What an operator does: paste the key into the password field and submit."""
    expect(page.locator("#login")).to_be_visible()
    page.locator("#key").fill(key)
    page.locator("#login button[type=submit]").click()


def _card(page: Page, metric: str) -> str:
    return page.locator(f'.card[data-metric="{metric}"] .value').inner_text()


def _wait_loaded(page: Page, state: str = "ready") -> None:
    # Locator assertions run in Playwright's own world: the page's CSP (no eval) does not apply.
    expect(page.locator("body")).to_have_attribute("data-state", state)
    expect(page.locator("#status")).to_contain_text("(Europe/Berlin)")


def _expect_card(page: Page, metric: str, text: str) -> None:
    expect(page.locator(f'.card[data-metric="{metric}"] .value')).to_have_text(text)


def test_cards_show_what_the_api_returns_and_a_row_click_filters(tracked: Stack, browser: Browser) -> None:
    ctx, page, recorded = _open(browser, f"{tracked.base}/dashboard", key=ADMIN_TOKEN)
    try:
        page.locator("#project").select_option(PROJECT)
        _wait_loaded(page)
        assert page.locator("#timezone").input_value() == "Europe/Berlin"
        metrics = list(EXPECTED)
        api = _query(
            tracked,
            {
                "metrics": metrics,
                "date_range": "30d",
                "timezone": "Europe/Berlin",
                "filters": [["is", "project_id", [PROJECT]]],
            },
        )["results"][0]["metrics"]
        shown = {
            m: page.locator(f'.card[data-metric="{m}"] .value').get_attribute("data-value") for m in metrics
        }
        assert [float(shown[m] or "nan") for m in metrics] == [float(v) for v in api]
        for metric, expected in EXPECTED.items():
            assert _card(page, metric) == str(expected), metric
        assert page.locator('.card[data-metric="events"] .change').inner_text() == "new"  # nothing before
        links = page.locator('[data-dimension="link_slug"] tbody tr')
        assert links.count() == 3
        expect(page.locator("#live-count")).to_have_text(str(EXPECTED["visitors"]))  # this project's
        page.screenshot(path=SCREENSHOTS / "dashboard.png", full_page=False)
        # A row click adds a filter chip; every card follows it.
        links.filter(has_text="winter").click()
        page.locator(".chip", has_text="link_slug is winter").wait_for()
        _expect_card(page, "events", str(WINTER_EVENTS))
        assert _card(page, "visitors") == "1"
        page.locator(".chip").click()  # removed: back to everything
        _expect_card(page, "events", str(EXPECTED["events"]))
        # Bots (HeadlessChrome here) are left out unless asked for.
        page.locator("#bots").check()
        _expect_card(page, "events", str(EXPECTED["events"] + 1))
        assert recorded.errors == []
        assert recorded.outside() == []
    finally:
        ctx.close()


def _held_by_the_browser(page: Page, ctx: BrowserContext) -> str:
    """Every URL of the tab's history (as the browser holds it: Chromium's own list, not
    `history`, which a page cannot read), the address bar and the page's storage, as text."""
    cdp = ctx.new_cdp_session(page)
    entries = cdp.send("Page.getNavigationHistory")["entries"]
    cdp.detach()
    storage = page.evaluate("JSON.stringify([Object.entries(sessionStorage), Object.entries(localStorage)])")
    urls = [u for e in entries for u in (e["url"], e["userTypedURL"])]
    assert len(entries) == page.evaluate("history.length")
    return "\n".join([page.url, page.evaluate("location.href"), storage, *urls])


def test_the_key_is_signed_in_by_form_and_never_kept_in_a_url(tracked: Stack, browser: Browser) -> None:
    dashboard = f"{tracked.base}/dashboard"
    ctx, page, recorded = _open(browser, dashboard)
    try:
        assert page.locator("#main").is_hidden() and page.locator(".card").count() == 0
        assert page.locator("#key").get_attribute("type") == "password"
        entries = page.evaluate("history.length")  # about:blank (a new tab's first), the dashboard
        _sign_in(page, ADMIN_TOKEN)
        page.locator("#project").select_option(PROJECT)
        _wait_loaded(page)
        assert _card(page, "events") == str(EXPECTED["events"])
        # The key is in no URL of the tab's history (signing in added no entry), nor in the
        # address bar or the page's storage.
        assert page.evaluate("history.length") == entries
        held = _held_by_the_browser(page, ctx)
        assert ADMIN_TOKEN not in held and held.splitlines()[0] == dashboard
        queries = [r for r in recorded.requests if r.url == f"{tracked.base}/api/query"]
        assert queries and all(r.headers["authorization"] == f"Bearer {ADMIN_TOKEN}" for r in queries)
        assert not [r.url for r in recorded.requests if ADMIN_TOKEN in r.url]
        # Sign out: the key and the data are gone, the form is back and empty.
        page.locator("#logout").click()
        expect(page.locator("#login")).to_be_visible()
        assert page.locator("#main").is_hidden() and page.locator(".card").count() == 0
        assert page.locator("#key").input_value() == ""
        page.reload()
        expect(page.locator("#login")).to_be_visible()  # nothing kept to sign in again with
        assert recorded.errors == []
    finally:
        ctx.close()


def test_a_key_in_the_link_does_not_sign_in(tracked: Stack, browser: Browser) -> None:
    # A `#key=` link (what earlier versions took, and what the browser would then keep in its
    # history): the form shows, no query is sent, the page says why; the key leaves the address bar.
    dashboard = f"{tracked.base}/dashboard"
    ctx, page, recorded = _open(browser, f"{dashboard}#key={ADMIN_TOKEN}")
    try:
        assert page.locator("#main").is_hidden()
        expect(page.locator("#login-error")).to_contain_text("not accepted")
        assert page.locator("#login").is_visible() and page.locator(".card").count() == 0
        assert [r.url for r in recorded.requests if "/api/" in r.url] == []
        assert page.evaluate("location.href") == dashboard
        assert recorded.errors == []
    finally:
        ctx.close()


def test_values_are_text_never_html(tracked: Stack, browser: Browser) -> None:
    ctx, page, recorded = _open(browser, f"{tracked.base}/dashboard", key=READ_KEY)
    try:
        _wait_loaded(page)
        row = page.locator('[data-dimension="link_slug"] tbody tr', has_text=XSS_SLUG)
        assert row.inner_text().startswith(XSS_SLUG)
        row.click()
        page.locator(".chip", has_text=XSS_SLUG).wait_for()
        assert page.evaluate("window.__xss") is None
        assert page.locator("img").count() == 0
        assert recorded.errors == []
    finally:
        ctx.close()


def test_a_read_key_sees_its_project_only_and_a_wrong_key_is_refused(
    tracked: Stack, browser: Browser
) -> None:
    ctx, page, recorded = _open(browser, f"{tracked.base}/dashboard", key=READ_KEY)
    try:
        _wait_loaded(page)
        options = page.locator("#project option").all_inner_texts()
        assert options == [PROJECT]
        assert _card(page, "events") == str(EXPECTED["events"])
        # The CSP the page is served with: no inline script, nothing but this origin.
        response = page.request.get(f"{tracked.base}/dashboard")
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert all(
            not r.url.split("#")[0].endswith(READ_KEY) and READ_KEY not in r.url for r in recorded.requests
        )
    finally:
        ctx.close()
    ctx, page, recorded = _open(browser, f"{tracked.base}/dashboard", key="not-a-key")
    try:
        expect(page.locator("#login-error")).to_contain_text("refused (401)")
        assert page.locator("#main").is_hidden()
        assert page.locator(".card").count() == 0
        # The form takes a good key.
        _sign_in(page, READ_KEY)
        _wait_loaded(page)
        assert _card(page, "events") == str(EXPECTED["events"])
        # The refused request logged a 401 in the console: that one, and nothing else.
        assert all("401" in e for e in recorded.errors), recorded.errors
    finally:
        ctx.close()


def test_readable_at_390_px(tracked: Stack, browser: Browser) -> None:
    ctx, page, recorded = _open(browser, f"{tracked.base}/dashboard", key=READ_KEY, width=390, height=844)
    try:
        _wait_loaded(page)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        page.screenshot(path=SCREENSHOTS / "dashboard-mobile.png", full_page=False)
        # A preset of at most 2 days is drawn by hour; another timezone is one pick away.
        expect(page.locator("#chart-grain")).to_have_text("by day")
        page.locator('#presets button[data-range="24h"]').click()
        expect(page.locator("#chart-grain")).to_have_text("by hour")
        _expect_card(page, "events", str(EXPECTED["events"]))
        page.locator("#timezone").select_option("America/New_York")
        expect(page.locator("#status")).to_contain_text("(America/New_York)")
        assert recorded.errors == []
    finally:
        ctx.close()


def test_a_two_line_page_shows_up_on_the_dashboard(tracked: Stack, site: Site, browser: Browser) -> None:
    # The README's two lines, on a site of another origin, in this (headless) browser...
    tag = (
        f'<script defer src="{tracked.base}/t.js" data-team-id="t2" data-project-id="two-lines"'
        " data-allow-localhost></script>"
    )
    url = site.page("/two-lines", f"<!doctype html><title>Two lines</title>\n{tag}\n")
    ctx, page, recorded = _open(browser, "about:blank")
    try:
        with expect_event(page, tracked.base, "view") as view:
            page.goto(url)
        tracked.stored(event_of(view.value)["event_id"])
        # ...then the dashboard, in the same browser.
        page.goto(f"{tracked.base}/dashboard")
        _sign_in(page, ADMIN_TOKEN)
        page.locator("#project").select_option("two-lines")
        # Headless Chromium is a bot to the server: hidden until bots are included.
        _wait_loaded(page, "empty")
        _expect_card(page, "events", "0")
        page.locator("#bots").check()
        _expect_card(page, "events", "1")
        expect(page.locator('[data-dimension="browser"] tbody tr td').first).to_have_text("HeadlessChrome")
        assert recorded.errors == []
    finally:
        ctx.close()
