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
    # The reported stall: ua-parser's legacy pure-Python matcher (~1-5 ms an agent; what the
    # `user-agents` package called) ran on the event loop, 4.9 s for a /batch of 1,000
    # distinct agents (`python -m bench.useragent`).
    import ua_parser.user_agent_parser as legacy

    def refuse(*args: object) -> None:
        raise AssertionError("the pure-Python matcher was called")

    monkeypatch.setattr(legacy, "Parse", refuse)
    useragent.cache_clear()
    assert useragent.resolver_name() == "ua_parser.regex.Resolver"  # ua-parser-rs is installed
    assert parse_user_agent(SAFARI_IPAD + " distinct") == UserAgentInfo("tablet", "Mobile Safari", "iOS", False)


# One agent per rule of the device classification (shared/event/useragent.py `_is_tablet`,
# `_is_mobile`, `_is_pc`), with the answer the `user-agents` package (2.2.0) gave on the same
# ua-parser result, recorded before that package was dropped (and compared then on 50,000
# agents made of these pieces: no difference).
RULES = [
    # Windows RT: a tablet.
    ("Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; ARM; Trident/6.0; Touch)", "tablet"),
    # Kindle (a tablet family), with "Mobile Safari" in its UA and on Mac OS X with Silk.
    (
        "Mozilla/5.0 (Linux; U; Android 4.0.3; en-us; KFTT Build/IML74K) AppleWebKit/534.30 (KHTML, like Gecko) "
        "Silk/3.68 Mobile Safari/534.30 Silk-Accelerated=true",
        "tablet",
    ),
    (
        "Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10_6_3; en-us; Silk/1.1.0-80) AppleWebKit/533.16 "
        "(KHTML, like Gecko) Version/5.0 Safari/533.16 Silk-Accelerated=true",
        "tablet",
    ),
    (
        "Mozilla/5.0 (PlayBook; U; RIM Tablet OS 2.1.0; en-US) AppleWebKit/536.2+ (KHTML like Gecko) "
        "Version/7.2.1.0 Safari/536.2+",
        "tablet",
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
        "tablet",
    ),
    # Mobile: by OS (Windows Phone, Windows CE, BlackBerry OS, Maemo, Symbian), browser (Opera
    # Mini, Chrome Mobile iOS), device (iPod, PlayStation Vita), Firefox OS, MIDP, Android.
    (
        "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.14977",
        "mobile",
    ),
    ("Mozilla/4.0 (compatible; MSIE 6.0; Windows CE; IEMobile 7.11)", "mobile"),
    (
        "Mozilla/5.0 (BlackBerry; U; BlackBerry 9900; en) AppleWebKit/534.11+ (KHTML, like Gecko) "
        "Version/7.1.0.346 Mobile Safari/534.11+",
        "mobile",
    ),
    (
        "Mozilla/5.0 (X11; U; Linux armv7l; en-GB; rv:1.9.2.3pre) Gecko/20100723 Firefox/3.5 "
        "Maemo Browser 1.7.4.8 RX-51 N900",
        "mobile",
    ),
    (
        "Mozilla/5.0 (Symbian/3; Series60/5.2 NokiaN8-00/012.002; Profile/MIDP-2.1 Configuration/CLDC-1.1 ) "
        "AppleWebKit/533.4 (KHTML, like Gecko) NokiaBrowser/7.3.0 Mobile Safari/533.4 3gpp-gba",
        "mobile",
    ),
    (
        "Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) Presto/2.5.25 "
        "Version/10.54",
        "mobile",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "CriOS/124.0 Mobile/15E148 Safari/604.1",
        "mobile",
    ),
    (
        "Mozilla/5.0 (iPod touch; CPU iPhone OS 12_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/12.0 Mobile/15E148 Safari/604.1",
        "mobile",
    ),
    ("Mozilla/5.0 (PlayStation Vita 3.61) AppleWebKit/537.73 (KHTML, like Gecko) Silk/3.2", "mobile"),
    ("Mozilla/5.0 (Mobile; rv:26.0) Gecko/26.0 Firefox/26.0", "mobile"),
    ("Mozilla/5.0 (Tablet; rv:26.0) Gecko/26.0 Firefox/26.0", "mobile"),
    (
        "Mozilla/5.0 (Series40; NokiaX2-02/10.90; Profile/MIDP-2.1 Configuration/CLDC-1.1) Gecko/20100401 "
        "S40OviBrowser/1.0.2.26.11",
        "mobile",
    ),
    ("Mozilla/5.0 (Android 4.4; Tablet; rv:41.0) Gecko/41.0 Firefox/41.0", "mobile"),
    (
        "Mozilla/5.0 (Linux; Android 9; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/80.0 "
        "Mobile Safari/537.36",
        "mobile",
    ),
    # Desktop: Chrome OS, Mac OS X, Windows 98 and ME, Solaris, Linux on X11.
    (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Safari/537.36",
        "desktop",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Safari/605.1.15",
        "desktop",
    ),
    ("Mozilla/4.0 (compatible; MSIE 5.5; Windows 98; Win 9x 4.90)", "desktop"),
    ("Mozilla/5.0 (Windows; U; Windows ME; en-US)", "desktop"),
    ("Mozilla/5.0 (X11; SunOS i86pc; rv:45.0) Gecko/20100101 Firefox/45.0", "desktop"),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "desktop"),
    # Bots: a Spider device, the mobile crawler too; consoles: unknown.
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 6_0 like Mac OS X) AppleWebKit/536.26 (KHTML, like Gecko) "
        "Version/6.0 Mobile/10A5376e Safari/8536.25 (compatible; Googlebot-Mobile/2.1; "
        "+http://www.google.com/bot.html)",
        "bot",
    ),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "bot"),
    ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "bot"),
    ("Mozilla/5.0 (PlayStation 4 3.11) AppleWebKit/537.73 (KHTML, like Gecko)", ""),
    (
        "Mozilla/5.0 (Nintendo Switch; WifiWebAuthApplet) AppleWebKit/606.4 (KHTML, like Gecko) "
        "NF/6.0.1.15.4 NintendoBrowser/5.1.0.20393",
        "",
    ),
]


@pytest.mark.parametrize(
    ("ua", "device_type"), RULES, ids=[f"{d or 'unknown'}-{i}" for i, (_, d) in enumerate(RULES)]
)
def test_device_classes_are_those_user_agents_gave(ua: str, device_type: str) -> None:
    info = parse_user_agent(ua)
    assert (info.device_type, info.is_bot) == (device_type, device_type == "bot")
