"""The tracker (`GET /t.js`) in a real Chromium, on a test site of another origin, against a
real `trackhouse up`: what the browser sent (recorded by Playwright) and what was stored (read
back through `GET /api/events/{id}`). Headless Chromium is a bot to the server (conftest.py):
every stored event here says so."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Request

from shared.queue.redis_server import free_port
from shared.registry.view import POLL_SECONDS
from tests.browser.conftest import Recorded, Stack
from tests.browser.site import Site
from tests.browser.tracker_pages import STUB, event_of, expect_event, page_html, script_tag, stored_id
from tests.support.processes import http, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def _query(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    status, answer = http("POST", f"{stack.base}/api/query", body, headers=stack.admin())
    assert status == 200, answer
    result: dict[str, Any] = answer
    return result


UTM = "utm_source=newsletter&utm_medium=email&utm_campaign=launch&utm_term=analytics&utm_content=hero"


def test_page_view_with_its_page_utm_and_referrer_is_stored(
    stack: Stack, site: Site, context: tuple[BrowserContext, Recorded]
) -> None:
    ctx, recorded = context
    url = site.page("/landing", page_html("Landing", script_tag(stack.base)))
    page = ctx.new_page()
    with expect_event(page, stack.base, "view") as sent:
        page.goto(f"{url}?{UTM}", referer="https://news.example.org/item/1")
    request = sent.value
    assert request.headers["content-type"].startswith("text/plain")  # a simple request: no preflight
    stored = stack.stored(event_of(request)["event_id"])
    assert stored["event_type"] == "view"
    assert stored["event_attributes"] == {
        "page": "/landing",
        "url": f"{url}?{UTM}",
        "title": "Landing",
        "hostname": "127.0.0.1",
        "view_id": stored["event_id"],  # its engagement events name it
    }
    assert (stored["team_id"], stored["project_id"]) == ("t1", "p1")
    assert [stored[f"utm_{k}"] for k in ("source", "medium", "campaign", "term", "content")] == [
        "newsletter",
        "email",
        "launch",
        "analytics",
        "hero",
    ]
    assert stored["referrer"] == "https://news.example.org/item/1"
    assert stored["is_bounce"] is True
    # The server's verdict on headless Chromium, which this test does not disguise.
    assert (stored["is_bot"], stored["device_type"], stored["browser"]) == (True, "bot", "HeadlessChrome")
    assert recorded.errors == []
    assert recorded.outside() == []


def test_spa_navigation_sends_views_and_the_left_page_engagement(
    stack: Stack, site: Site, context: tuple[BrowserContext, Recorded]
) -> None:
    ctx, recorded = context
    url = site.page("/app", page_html("App", script_tag(stack.base)))
    page = ctx.new_page()
    with expect_event(page, stack.base, "view") as first:
        page.goto(url)
    with expect_event(page, stack.base, "view") as second:
        page.evaluate("history.pushState({}, '', '/app/pricing')")
    pricing = event_of(second.value)
    assert pricing["event_attributes"]["page"] == "/app/pricing"
    assert pricing["referrer"] == url  # the previous page, not the document's referrer
    assert pricing["is_bounce"] is False  # a second page was viewed
    # replaceState on the same path (a query change) is not a navigation...
    page.evaluate("history.replaceState({}, '', '/app/pricing?tab=yearly')")
    # ...popstate back to /app is.
    with expect_event(page, stack.base, "view") as back:
        page.go_back()
    assert event_of(back.value)["event_attributes"]["page"] == "/app"
    sent = recorded.sent_events(stack.base)
    assert [(e["event_type"], e["event_attributes"]["page"]) for e in sent] == [
        ("view", "/app"),
        ("engagement", "/app"),
        ("view", "/app/pricing"),
        ("engagement", "/app/pricing"),
        ("view", "/app"),
    ]
    for event in sent:
        assert stack.stored(event["event_id"])["event_type"] == event["event_type"]
    assert event_of(first.value)["is_bounce"] is True
    assert recorded.errors == []


def test_hash_routes_are_views_only_with_data_hash(
    stack: Stack, site: Site, context: tuple[BrowserContext, Recorded]
) -> None:
    ctx, recorded = context
    plain = site.page("/plain", page_html("Plain", script_tag(stack.base)))
    hashed = site.page("/hashed", page_html("Hashed", script_tag(stack.base, **{"data-hash": ""})))
    page = ctx.new_page()
    with expect_event(page, stack.base, "view"):
        page.goto(plain)
    page.evaluate("location.hash = '#faq'")
    with expect_event(page, stack.base, "view"):
        page.goto(hashed)
    with expect_event(page, stack.base, "view") as faq:
        page.evaluate("location.hash = '#faq'")
    assert event_of(faq.value)["event_attributes"]["page"] == "/hashed#faq"
    pages = [
        e["event_attributes"]["page"] for e in recorded.sent_events(stack.base) if e["event_type"] == "view"
    ]
    assert pages == ["/plain", "/hashed", "/hashed#faq"]


def test_engagement_measures_visible_time_when_the_page_is_left(
    stack: Stack, site: Site, context: tuple[BrowserContext, Recorded]
) -> None:
    ctx, recorded = context
    url = site.page("/article", page_html("Article", script_tag(stack.base)))
    page = ctx.new_page()
    # The page's clock is the test's: 42 s pass on it, exactly.
    start = datetime.now(UTC).replace(microsecond=0)
    # Installed a little before `start`: pause_at cannot go back, and a loaded machine may
    # take a moment between the two calls.
    page.clock.install(time=start - timedelta(seconds=5))
    page.clock.pause_at(start)
    with expect_event(page, stack.base, "view") as view:
        page.goto(url)
    page.clock.fast_forward(42_000)
    # Leaving: pagehide, sent with navigator.sendBeacon (which Playwright does not report, so
    # the proof is the stored row; the first engagement's id is its view's id + "-1").
    page.goto("about:blank")
    stored = stack.stored(event_of(view.value)["event_id"] + "-1")
    assert stored["event_type"] == "engagement"
    assert stored["time_spent_sec"] == 42.0
    assert stored["is_bounce"] is True  # one page, no custom event
    assert stored["event_attributes"]["page"] == "/article"
    assert stored["event_attributes"]["view_id"] == event_of(view.value)["event_id"]
    assert recorded.errors == []


def test_custom_events_queued_before_load_and_after_with_conversion_fields(
    stack: Stack, site: Site, context: tuple[BrowserContext, Recorded]
) -> None:
    ctx, recorded = context
    # The README's stub and a call, in the site's own script, before t.js has loaded.
    site.page("/stub.js", STUB + "trackhouse.track('signup_started', {user_id: 'u-early'});")
    early = "<script src=/stub.js></script>"
    url = site.page("/shop", page_html("Shop", script_tag(stack.base), head=early))
    page = ctx.new_page()
    with expect_event(page, stack.base, "signup_started") as queued:
        page.goto(url)
    with expect_event(page, stack.base, "conversion") as conversion:
        page.evaluate(
            "trackhouse.track('conversion', {conversion_type: 'purchase', conversion_value: 49.5,"
            " event_attributes: {plan: 'pro'}})"
        )
    assert stack.stored(stored_id(queued.value))["user_id"] == "u-early"
    stored = stack.stored(stored_id(conversion.value))
    assert (stored["conversion_type"], stored["conversion_value"]) == ("purchase", 49.5)
    assert stored["event_attributes"] == {
        "page": "/shop",
        "url": url,
        "title": "Shop",
        "hostname": "127.0.0.1",
        "plan": "pro",
    }
    assert stored["is_bounce"] is False  # a custom event means the visitor interacted
    types = [e["event_type"] for e in recorded.sent_events(stack.base)]
    assert types == ["view", "signup_started", "conversion"]
    assert recorded.errors == []


def test_link_and_qr_from_the_landing_url_attribute_later_conversions(
    stack: Stack, site: Site, context: tuple[BrowserContext, Recorded]
) -> None:
    ctx, _ = context
    landing = site.page("/promo", page_html("Promo", script_tag(stack.base)))
    checkout = site.page("/checkout", page_html("Checkout", script_tag(stack.base)))
    page = ctx.new_page()
    with expect_event(page, stack.base, "view") as view:
        page.goto(f"{landing}?th_link=lnk_42&th_qr=qr_7")
    assert stack.stored(event_of(view.value)["event_id"])["link_id"] == "lnk_42"
    # A later page, without the parameters, in the same browser: still attributed.
    with expect_event(page, stack.base, "view"):
        page.goto(checkout)
    with expect_event(page, stack.base, "conversion") as conversion:
        page.evaluate("trackhouse.track('conversion', {conversion_type: 'purchase', conversion_value: 20})")
    stored = stack.stored(stored_id(conversion.value))
    assert (stored["link_id"], stored["qr_code_id"], stored["is_qr_scan"]) == ("lnk_42", "qr_7", True)
    assert stored["event_attributes"]["page"] == "/checkout"


def test_attribution_parameter_names_and_the_90_day_memory(
    stack: Stack, site: Site, context: tuple[BrowserContext, Recorded]
) -> None:
    ctx, _ = context
    tag = script_tag(stack.base, **{"data-link-param": "ref", "data-qr-param": "scan"})
    url = site.page("/custom", page_html("Custom", tag))
    page = ctx.new_page()
    with expect_event(page, stack.base, "view") as first:
        page.goto(f"{url}?ref=lnk_custom&th_link=ignored")
    assert event_of(first.value)["link_id"] == "lnk_custom"
    # Remembered 91 days ago: forgotten.
    old = int((datetime.now(UTC) - timedelta(days=91)).timestamp() * 1000)
    page.evaluate(f"localStorage.setItem('trackhouse_attr', JSON.stringify({{l: 'lnk_old', t: {old}}}))")
    with expect_event(page, stack.base, "view") as expired:
        page.goto(url)
    assert "link_id" not in event_of(expired.value)
    # 89 days ago: still attributed.
    recent = int((datetime.now(UTC) - timedelta(days=89)).timestamp() * 1000)
    page.evaluate(
        f"localStorage.setItem('trackhouse_attr', JSON.stringify({{l: 'lnk_recent', t: {recent}}}))"
    )
    with expect_event(page, stack.base, "view") as kept:
        page.goto(url)
    assert event_of(kept.value)["link_id"] == "lnk_recent"


def _nothing_sent(page_url: str, site: Site, ctx: BrowserContext, recorded: Recorded, api_base: str) -> None:
    """Loads the page, waits until t.js has run (then anything it sends is already requested),
    and checks it sent nothing."""
    page = ctx.new_page()
    page.goto(page_url)
    page.wait_for_function("window.trackhouse && typeof window.trackhouse.track === 'function'")
    page.evaluate("trackhouse.track('click')")
    # A request issued after the script's, as a marker: once it is seen, the earlier ones were.
    with page.expect_request(f"{site.origin}/marker"):
        page.evaluate("fetch('/marker').catch(() => {})")
    assert recorded.sent_events(api_base) == []


def test_opt_out_do_not_track_and_localhost_send_nothing(
    stack: Stack, site: Site, context: tuple[BrowserContext, Recorded]
) -> None:
    ctx, recorded = context
    # localhost and 127.0.0.1 are skipped unless data-allow-localhost is set.
    no_local = site.page(
        "/no-local", page_html("No local", script_tag(stack.base, **{"data-allow-localhost": None}))
    )
    _nothing_sent(no_local, site, ctx, recorded, stack.base)
    # The visitor's opt-out, in this origin's storage.
    opted = site.page("/opted", page_html("Opted", script_tag(stack.base)))
    page = ctx.new_page()
    with expect_event(page, stack.base, "view"):
        page.goto(opted)
    page.evaluate("localStorage.trackhouse_ignore = 'true'")
    page.close()
    recorded.requests.clear()
    _nothing_sent(opted, site, ctx, recorded, stack.base)


def test_respect_dnt_honours_do_not_track_and_global_privacy_control(
    stack: Stack, site: Site, browser: Browser
) -> None:
    dnt = site.page("/dnt", page_html("DNT", script_tag(stack.base, **{"data-respect-dnt": ""})))
    plain = site.page("/dnt-ignored", page_html("DNT ignored", script_tag(stack.base)))
    for signal in ("doNotTrack", "globalPrivacyControl"):
        value = "'1'" if signal == "doNotTrack" else "true"
        ctx = browser.new_context()
        try:
            # Chromium has no switch for these: the page sees what a browser with them set shows.
            ctx.add_init_script(
                f"Object.defineProperty(Navigator.prototype, '{signal}', {{get: () => {value}}})"
            )
            recorded = Recorded()
            ctx.on("request", lambda request, r=recorded: r.requests.append(request))
            _nothing_sent(dnt, site, ctx, recorded, stack.base)
            page = ctx.new_page()  # without data-respect-dnt the signal is not read
            with expect_event(page, stack.base, "view"):
                page.goto(plain)
        finally:
            ctx.close()


def test_failures_are_silent_and_the_write_key_is_sent(
    stack: Stack, site: Site, context: tuple[BrowserContext, Recorded]
) -> None:
    ctx, recorded = context
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    url = site.page("/down", page_html("Down", script_tag(stack.base, **{"data-api": closed})))
    page = ctx.new_page()
    with page.expect_event("requestfailed", lambda r: r.url == f"{closed}/api/events/track"):
        page.goto(url)
    assert page.evaluate("trackhouse.track('click', {link_id: 'x'}) === undefined")
    assert [e for e in recorded.errors if e.startswith("pageerror")] == []
    # With data-write-key the key travels as X-Write-Key (a preflighted fetch), and binds the
    # event to the key's project (a registry key, made through the admin API).
    key = _write_key(stack)
    keyed = site.page("/keyed", page_html("Keyed", script_tag(stack.base, **{"data-write-key": key})))
    with expect_event(page, stack.base, "view") as view:
        page.goto(keyed)
    assert view.value.headers["x-write-key"] == key
    stored = stack.stored(event_of(view.value)["event_id"])
    assert (stored["event_type"], stored["project_id"], stored["team_id"]) == ("view", "keyed-site", "keyed-team")


def _write_key(stack: Stack) -> str:
    admin = stack.admin()
    assert http("POST", f"{stack.base}/api/admin/teams", {"team_id": "keyed-team", "name": "T"}, admin)[0] == 201
    project = {"project_id": "keyed-site", "team_id": "keyed-team", "name": "Site", "domains": ["127.0.0.1"]}
    assert http("POST", f"{stack.base}/api/admin/projects", project, admin)[0] == 201
    status, key = http("POST", f"{stack.base}/api/admin/projects/keyed-site/keys", {"kind": "write", "name": "page"}, admin)
    assert status == 201, key
    # One API process has it once a probe passes; the others poll the registry within POLL_SECONDS.
    probe = {"event_type": "probe"}
    headers = {"X-Write-Key": key["key"]}
    wait_for(lambda: http("POST", f"{stack.base}/api/events/track", probe, headers)[0] == 201, timeout_seconds=5, what="the key")
    time.sleep(2 * POLL_SECONDS)
    return str(key["key"])


HIDE = """Object.defineProperty(document, "hidden", {value: %s, configurable: true});
Object.defineProperty(document, "visibilityState", {value: %s, configurable: true});
document.dispatchEvent(new Event("visibilitychange"));"""


def test_hidden_time_is_not_counted_and_a_views_parts_add_up(
    stack: Stack, site: Site, context: tuple[BrowserContext, Recorded]
) -> None:
    ctx, recorded = context
    url = site.page(
        "/long-read", page_html("Long read", script_tag(stack.base, **{"data-project-id": "eng-once"}))
    )
    page = ctx.new_page()
    start = datetime.now(UTC).replace(microsecond=0)
    # Installed a little before `start`: pause_at cannot go back, and a loaded machine may
    # take a moment between the two calls.
    page.clock.install(time=start - timedelta(seconds=5))
    page.clock.pause_at(start)
    with expect_event(page, stack.base, "view") as view:
        page.goto(url)
    page.clock.fast_forward(10_000)
    # The tab goes to the background (headless Chromium cannot hide a tab: the page is told so
    # the way the browser tells it), stays there 100 s, comes back for 5 s, then is left.
    with expect_event(page, stack.base, "engagement") as hidden:
        page.evaluate(HIDE % ("true", "'hidden'"))
    assert event_of(hidden.value)["time_spent_sec"] == 10.0
    page.clock.fast_forward(100_000)
    page.evaluate(HIDE % ("false", "'visible'"))
    page.clock.fast_forward(5_000)
    page.goto("about:blank")
    view_id = event_of(view.value)["event_id"]
    assert event_of(hidden.value)["event_id"] == f"{view_id}-1"  # the first part...
    # ...and the second, sent on leaving: its own event, so first-received-wins keeps both.
    second = stack.stored(f"{view_id}-2")
    assert second["time_spent_sec"] == 5.0 and second["event_attributes"]["view_id"] == view_id
    # Both parts measure one view: its time is 10 + 5 = 15, not their mean (7.5).
    answer = _query(
        stack,
        {
            "metrics": ["avg_time_spent_sec"],
            "date_range": "24h",
            "include": {"bots": True},
            "filters": [["is", "project_id", ["eng-once"]]],
        },
    )
    assert answer["results"][0]["metrics"] == [15.0]
    assert recorded.errors == []


def test_a_back_forward_cache_restore_is_a_new_view(
    stack: Stack, site: Site, context: tuple[BrowserContext, Recorded]
) -> None:
    ctx, _ = context
    url = site.page("/cached", page_html("Cached", script_tag(stack.base)))
    elsewhere = site.page("/elsewhere", page_html("Elsewhere", ""))
    page = ctx.new_page()
    with expect_event(page, stack.base, "view") as first:
        page.goto(url)
    page.evaluate("window.__before = 'kept'")
    page.goto(elsewhere)
    with expect_event(page, stack.base, "view") as restored:
        page.go_back(wait_until="commit")  # a bfcache restore fires no load event
    assert page.evaluate("window.__before") == "kept"  # the same document: restored, not reloaded
    again = event_of(restored.value)
    assert again["event_attributes"]["page"] == "/cached"
    assert again["event_id"] != event_of(first.value)["event_id"]
    assert again["is_bounce"] is False  # a second page view in this tab
    assert stack.stored(again["event_id"])["event_type"] == "view"


def _attribution_stored(page: Any) -> Any:
    return page.evaluate("localStorage.getItem('trackhouse_attr')")


def _stored_attributes(stack: Stack, request: Request) -> dict[str, Any]:
    """The stored `event_attributes` of the event `request` sent (201)."""
    attributes = stack.stored(stored_id(request))["event_attributes"]
    assert isinstance(attributes, dict)
    return attributes


def test_an_attribution_value_the_api_would_refuse_is_never_kept(
    stack: Stack, site: Site, context: tuple[BrowserContext, Recorded]
) -> None:
    """A link_id / qr_code_id is text of at most 128 characters (code points) without control
    characters (shared/event/limits.py): a landing value outside that is dropped, not kept for
    90 days to make every later event of the browser a 400."""
    ctx, recorded = context
    landing = site.page("/attr-landing", page_html("Attr landing", script_tag(stack.base)))
    later = site.page("/attr-later", page_html("Attr later", script_tag(stack.base)))
    page = ctx.new_page()
    too_long = "x" * 129
    with expect_event(page, stack.base, "view") as view:
        page.goto(f"{landing}?th_link={too_long}&th_qr=a%0Ab")
    stored = stack.stored(stored_id(view.value))  # 201, and stored
    assert "link_id" not in event_of(view.value) and "qr_code_id" not in event_of(view.value)
    assert (stored["link_id"], stored["qr_code_id"], stored["is_qr_scan"]) == ("", "", False)
    assert _attribution_stored(page) is None
    with expect_event(page, stack.base, "conversion") as conversion:
        page.evaluate("trackhouse.track('conversion', {conversion_type: 'purchase', conversion_value: 5})")
    assert stack.stored(stored_id(conversion.value))["link_id"] == ""
    with expect_event(page, stack.base, "view") as next_page:
        page.goto(later)
    assert stack.stored(stored_id(next_page.value))["link_id"] == ""
    # The API's exact limits: 128 code points pass, astral ones too (256 UTF-16 units in JS).
    emoji = "\U0001f600" * 128
    with expect_event(page, stack.base, "view") as edge:
        page.goto(f"{landing}?th_link={emoji}&th_qr={'q' * 128}")
    stored = stack.stored(stored_id(edge.value))
    assert (stored["link_id"], stored["qr_code_id"], stored["is_qr_scan"]) == (emoji, "q" * 128, True)
    # A later refused value keeps neither itself nor a mix: the earlier valid link stays.
    with expect_event(page, stack.base, "view") as refused:
        page.goto(f"{landing}?th_link={too_long}")
    assert stack.stored(stored_id(refused.value))["link_id"] == emoji
    # A valid one still attributes later events.
    with expect_event(page, stack.base, "view"):
        page.goto(f"{landing}?th_link=lnk_ok")
    with expect_event(page, stack.base, "conversion") as attributed:
        page.goto(later)
        page.evaluate("trackhouse.track('conversion', {conversion_type: 'purchase', conversion_value: 7})")
    assert stack.stored(stored_id(attributed.value))["link_id"] == "lnk_ok"
    # A value an older tracker kept (before this check) is dropped on read, not sent for 90 days.
    page.evaluate(
        f"localStorage.setItem('trackhouse_attr', JSON.stringify({{l: '{too_long}', t: Date.now()}}))"
    )
    with expect_event(page, stack.base, "view") as poisoned:
        page.goto(later)
    assert stack.stored(stored_id(poisoned.value))["link_id"] == ""
    assert _attribution_stored(page) is None
    # A UTM value over the API's 256 characters is left out; the event is still stored.
    with expect_event(page, stack.base, "view") as utm:
        page.goto(f"{later}?utm_source={'u' * 257}&utm_medium=email")
    stored = stack.stored(stored_id(utm.value))
    assert (stored["utm_source"], stored["utm_medium"]) == ("", "email")
    assert recorded.errors == []


# Secret values in capitals: the tracker's random ids are lowercase, so none can hold one.
SECRETS = "utm_source=x&access_token=SECRET1&code=SECRET2&State=SECRET3&Api_Key=SECRET4&tab=2"


def test_secret_parameters_and_the_fragment_are_not_sent(
    stack: Stack, site: Site, context: tuple[BrowserContext, Recorded]
) -> None:
    ctx, recorded = context
    next_url = site.page("/after-login", page_html("After", script_tag(stack.base)))
    url = site.page(
        "/login-callback",
        page_html("Callback", script_tag(stack.base), body='<a id="next" href="/after-login">next</a>'),
    )
    page = ctx.new_page()
    with expect_event(page, stack.base, "view") as view:
        page.goto(f"{url}?{SECRETS}#access_token=SECRET5&token_type=bearer")
    attributes = _stored_attributes(stack, view.value)
    assert attributes["url"] == f"{url}?utm_source=x&tab=2"
    assert attributes["page"] == "/login-callback"
    assert stack.stored(stored_id(view.value))["utm_source"] == "x"
    # The next page: its document referrer (same origin: the full URL) is cleaned the same way.
    with expect_event(page, stack.base, "view") as after:
        page.locator("#next").click()
    assert stack.stored(stored_id(after.value))["referrer"] == f"{url}?utm_source=x&tab=2"
    # An SPA navigation's referrer (the previous page's URL) too.
    with expect_event(page, stack.base, "view") as spa:
        page.evaluate("history.pushState({}, '', '/after-login/step?sid=SECRET6&step=2#id_token=SECRET7')")
    assert event_of(spa.value)["event_attributes"]["url"] == f"{next_url}/step?step=2"
    assert event_of(spa.value)["referrer"] == next_url
    sent = [request.post_data or "" for request in recorded.requests if request.url.startswith(stack.base)]
    assert len(sent) >= 3 and not [body for body in sent if "SECRET" in body]
    assert recorded.errors == []


def test_with_data_hash_the_fragment_is_kept_without_its_secret_parameters(
    stack: Stack, site: Site, context: tuple[BrowserContext, Recorded]
) -> None:
    ctx, _ = context
    tag = script_tag(stack.base, **{"data-hash": "", "data-strip-params": "promo, Coupon"})
    url = site.page("/spa-auth", page_html("SPA auth", tag))
    page = ctx.new_page()
    with expect_event(page, stack.base, "view") as route:
        page.goto(f"{url}?PROMO=p1&coupon=c1&ref=r1#/welcome?access_token=zzz&tab=2")
    attributes = _stored_attributes(stack, route.value)
    assert attributes["url"] == f"{url}?ref=r1#/welcome?tab=2"
    assert attributes["page"] == "/spa-auth#/welcome?tab=2"
    # A fragment of secrets only (an OAuth implicit-flow answer) is dropped whole.
    with expect_event(page, stack.base, "view") as implicit:
        page.goto(f"{url}?x=1#access_token=zzz&refresh_token=yyy")
    assert _stored_attributes(stack, implicit.value)["url"] == f"{url}?x=1"
    # A hash route without parameters is the page, as before.
    with expect_event(page, stack.base, "view") as faq:
        page.evaluate("location.hash = '#/faq'")
    assert event_of(faq.value)["event_attributes"]["page"] == "/spa-auth#/faq"
