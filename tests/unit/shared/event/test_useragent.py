"""User-Agent classification on real header values, through the real ua-parser rules."""

from __future__ import annotations

import threading

import pytest

from shared.event import useragent
from shared.event.useragent import MAX_UA_CHARS, UserAgentInfo, parse_user_agent

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
SAFARI_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1"
)
# Android tablets leave "Mobile" out of the UA; that is the only tell.
GALAXY_TAB = (
    "Mozilla/5.0 (Linux; Android 11; SM-T870) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.230 Safari/537.36"
)
PIXEL_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
# Google's smartphone crawler also looks mobile; bot must win.
GOOGLEBOT_SMARTPHONE = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.201 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)
BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
GENERIC_CRAWLER = "Mozilla/5.0 (compatible; XYZBot/1.0; +https://example.com/bot)"
SAMSUNG_TV = (
    "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36"
)


@pytest.mark.parametrize(
    ("ua", "expected"),
    [
        (CHROME_WINDOWS, UserAgentInfo("desktop", "Chrome", "Windows", False)),
        (SAFARI_IPHONE, UserAgentInfo("mobile", "Mobile Safari", "iOS", False)),
        (SAFARI_IPAD, UserAgentInfo("tablet", "Mobile Safari", "iOS", False)),
        (GALAXY_TAB, UserAgentInfo("tablet", "Chrome", "Android", False)),
        (PIXEL_PHONE, UserAgentInfo("mobile", "Chrome Mobile", "Android", False)),
        (FIREFOX_LINUX, UserAgentInfo("desktop", "Firefox", "Linux", False)),
        (SAMSUNG_TV, UserAgentInfo("", "Samsung Internet", "Tizen", False)),
    ],
    ids=["chrome-windows", "safari-iphone", "ipad", "galaxy-tab", "android-phone", "firefox-linux", "tv"],
)
def test_browsers(ua: str, expected: UserAgentInfo) -> None:
    assert parse_user_agent(ua) == expected


@pytest.mark.parametrize(
    ("ua", "browser"),
    [
        (GOOGLEBOT, "Googlebot"),
        (GOOGLEBOT_SMARTPHONE, "Googlebot"),
        (BINGBOT, "bingbot"),
        (GENERIC_CRAWLER, "XYZBot"),
    ],
    ids=["googlebot", "googlebot-smartphone", "bingbot", "generic-crawler"],
)
def test_crawlers_are_bots(ua: str, browser: str) -> None:
    info = parse_user_agent(ua)
    assert (info.device_type, info.browser, info.is_bot) == ("bot", browser, True)


@pytest.mark.parametrize(
    ("ua", "browser"),
    [
        ("curl/8.5.0", "curl"),
        ("Wget/1.21.4", "Wget"),
        ("python-requests/2.31.0", "Python Requests"),
        ("Go-http-client/1.1", "Go-http-client"),
        ("okhttp/4.12.0", "okhttp"),
    ],
)
def test_http_client_libraries_are_bots(ua: str, browser: str) -> None:
    # ua-parser names them but does not flag them; we do (see _HTTP_CLIENT_FAMILIES).
    assert parse_user_agent(ua) == UserAgentInfo("bot", browser, "", True)


def test_headless_chrome_is_a_bot() -> None:
    # The user agent of headless Chromium (tests/browser runs it): automation, not a visitor.
    ua = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/150.0.0.0 Safari/537.36"
    )
    assert parse_user_agent(ua) == UserAgentInfo("bot", "HeadlessChrome", "Linux", True)


@pytest.mark.parametrize("ua", ["", "   ", "\t"])
def test_empty_is_unknown(ua: str) -> None:
    assert parse_user_agent(ua) == UserAgentInfo("", "", "", False)


def test_unrecognised_string_is_unknown() -> None:
    assert parse_user_agent("zzzz") == UserAgentInfo("", "", "", False)


def test_huge_header_is_parsed_and_cached_by_its_prefix_only() -> None:
    garbage = "".join(chr(33 + (i * 7919) % 94) for i in range(100_000))  # 100 KB, no UA shape
    useragent.cache_clear()

    info = parse_user_agent(garbage)
    assert isinstance(info, UserAgentInfo) and not info.is_bot
    assert useragent.cache_info().currsize == 1
    # Same entry for the bare prefix and for another tail: the cache key is the prefix,
    # so the 100 KB string is not held by the cache.
    parse_user_agent(garbage[:MAX_UA_CHARS])
    parse_user_agent(garbage[:MAX_UA_CHARS] + "other tail" * 1000)
    stats = useragent.cache_info()
    assert (stats.currsize, stats.misses, stats.hits) == (1, 1, 2)


def test_repeated_ua_is_served_from_cache() -> None:
    useragent.cache_clear()
    first = parse_user_agent(CHROME_WINDOWS)
    assert parse_user_agent(CHROME_WINDOWS) is first
    assert useragent.cache_info().hits == 1


def test_concurrent_callers_agree() -> None:
    useragent.cache_clear()
    uas = [CHROME_WINDOWS, SAFARI_IPHONE, GALAXY_TAB, GOOGLEBOT, "curl/8.5.0", ""]
    results: list[list[UserAgentInfo]] = []

    def work() -> None:
        results.append([parse_user_agent(ua) for ua in uas * 50])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and all(r == results[0] for r in results)
    assert results[0][:6] == [
        UserAgentInfo("desktop", "Chrome", "Windows", False),
        UserAgentInfo("mobile", "Mobile Safari", "iOS", False),
        UserAgentInfo("tablet", "Chrome", "Android", False),
        UserAgentInfo("bot", "Googlebot", "", True),
        UserAgentInfo("bot", "curl", "", True),
        UserAgentInfo("", "", "", False),
    ]


def test_agents_are_parsed_by_the_compiled_resolver_not_the_pure_python_matcher(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The reported stall: user_agents' legacy pure-Python matcher (~1-5 ms an agent) ran on the
    # event loop, 4.9 s for a /batch of 1,000 distinct agents (`python -m bench.useragent`).
    import ua_parser.user_agent_parser as legacy

    def refuse(*args: object) -> None:
        raise AssertionError("the pure-Python matcher was called")

    monkeypatch.setattr(legacy, "Parse", refuse)
    useragent.cache_clear()
    assert useragent.resolver_name() == "ua_parser.regex.Resolver"  # ua-parser-rs is installed
    assert parse_user_agent(SAFARI_IPAD + " distinct") == UserAgentInfo("tablet", "Mobile Safari", "iOS", False)


def test_classification_matches_user_agents_own_parse() -> None:
    # Same answers as user_agents.parse (which drives the legacy matcher), for every agent here.
    import user_agents

    for agent in (CHROME_WINDOWS, SAFARI_IPHONE, SAFARI_IPAD, GALAXY_TAB, PIXEL_PHONE, FIREFOX_LINUX,
                  GOOGLEBOT, GOOGLEBOT_SMARTPHONE, BINGBOT, "curl/8.4.0", "x" * 300):
        ours, theirs = useragent._ClassifiedAgent(agent), user_agents.parse(agent)
        assert (ours.browser, ours.os, ours.device) == (theirs.browser, theirs.os, theirs.device), agent
        assert (ours.is_mobile, ours.is_tablet, ours.is_pc, ours.is_bot) == (
            theirs.is_mobile, theirs.is_tablet, theirs.is_pc, theirs.is_bot
        ), agent
