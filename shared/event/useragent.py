"""Classify a User-Agent header: device type, browser and OS families, bot or not.

`parse_user_agent(ua)` is the only entry point. The parsing is done by the maintained
ua-parser rule set (`ua_parser_builtins`), not by regexes of our own, so new browsers and
crawlers arrive with a dependency upgrade. The device class (tablet, mobile, desktop, bot) is
read off ua-parser's result by `_device_class`: the rules of the `user-agents` package
(`is_tablet`, `is_mobile`, `is_pc`, `is_bot`, whose families lists are copied below), which we
used until it went years without a release; a test pins its answers.

Speed matters for safety, not only throughput: parsing runs on the API's event loop, and an
attacker rotating agents defeats any cache. ua-parser's legacy pure-Python matcher costs ~1-5 ms
an agent (a /batch of 1,000 distinct agents held the loop 4.9 s); here ua-parser's fastest
installed resolver (`ua-parser-rs`, Rust) parses, ~35 us. `python -m bench.useragent` measures
it. Cached ~0.12 us; UA strings repeat heavily, hence the LRU cache. The `MAX_UA_CHARS` prefix
bounds the cost of a huge header. Compiling the rules costs ~0.5 s once: `load()` at start-up
(the Enricher does), not on a request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

from ua_parser import OS, BestAvailableResolver, Parser, load_builtins

MAX_UA_CHARS = 512
"""Only this prefix is parsed and used as the cache key: real UAs (even in-app browsers
with long suffixes) fit in ~300 chars, and an attacker's 100 KB header must not be
parsed at regex speed nor pinned in the cache (8192 keys x 512 chars is a few MB)."""

CACHE_SIZE = 8192

# ua-parser names these HTTP libraries but does not flag them as Spider (unlike
# "Python-urllib" or "Java", which it does). A human clicking a link or scanning a QR code
# arrives in a browser or an app's WebView, never with a bare library UA, so counting these
# as human would inflate click counts with scripts, monitors and link-preview fetchers.
# Matched on the parser's browser family, not on our own regexes; kept deliberately short.
# HeadlessChrome likewise: automation (scrapers, preview renderers, test suites such as ours in
# tests/browser), never a person browsing; isbot, which Plausible and Umami use, agrees.
_HTTP_CLIENT_FAMILIES = frozenset(
    {"curl", "Wget", "Python Requests", "Go-http-client", "okhttp", "HeadlessChrome"}
)


@dataclass(frozen=True, slots=True)
class UserAgentInfo:
    """What a User-Agent says; empty strings mean unknown, never None (ClickHouse columns
    are non-nullable String)."""

    device_type: str
    """"desktop" | "mobile" | "tablet" | "bot" | "" (unknown: empty UA, TVs, consoles...)."""
    browser: str
    os: str
    is_bot: bool


_EMPTY = UserAgentInfo(device_type="", browser="", os="", is_bot=False)

_parser: Parser | None = None
_parser_lock = threading.Lock()


def load() -> Parser:
    """The ua-parser parser over the fastest resolver installed, built once (~0.5 s)."""
    global _parser
    with _parser_lock:
        if _parser is None:
            _parser = Parser(BestAvailableResolver(load_builtins()))  # no cache of its own: ours
        return _parser


def resolver_name() -> str:
    """Which ua-parser resolver parses (`ua_parser.regex`: ua-parser-rs; `basic`: pure Python)."""
    return f"{BestAvailableResolver.__module__}.{BestAvailableResolver.__qualname__}"


# The device classes, as the `user-agents` package (2.2.0, MIT) derives them from ua-parser's
# families: these lists and the rules in _is_tablet/_is_mobile/_is_pc are its own.
_MOBILE_DEVICE_FAMILIES = frozenset(
    {"iPhone", "iPod", "Generic Smartphone", "Generic Feature Phone", "PlayStation Vita", "iOS-Device"}
)
_PC_OS_FAMILIES = frozenset({"Windows 95", "Windows 98", "Solaris"})
_MOBILE_OS_FAMILIES = frozenset(
    {"Windows Phone", "Windows Phone OS", "Symbian OS", "Bada", "Windows CE", "Windows Mobile", "Maemo"}
)
_MOBILE_BROWSER_FAMILIES = frozenset(
    {"IE Mobile", "Opera Mobile", "Opera Mini", "Chrome Mobile", "Chrome Mobile WebView", "Chrome Mobile iOS"}
)
_TABLET_DEVICE_FAMILIES = frozenset(
    {
        "iPad",
        "BlackBerry Playbook",
        "Blackberry Playbook",
        "Kindle",
        "Kindle Fire",
        "Kindle Fire HD",
        "Galaxy Tab",
        "Xoom",
        "Dell Streak",
    }
)


@dataclass(frozen=True, slots=True)
class _Parsed:
    """ua-parser's result as the rules read it; "Other" for what it does not know."""

    ua: str
    browser: str
    os: str
    os_version: str
    """major.minor.patch, numbers without leading zeros ("RT", "ME" for those Windows)."""
    device: str

    @classmethod
    def of(cls, user_agent: str) -> _Parsed:
        result = (_parser or load()).parse(user_agent)
        return cls(
            ua=user_agent,
            browser=result.user_agent.family if result.user_agent else "Other",
            os=result.os.family if result.os else "Other",
            os_version=_version(result.os),
            device=result.device.family if result.device else "Other",
        )


def _version(os: OS | None) -> str:
    if os is None:
        return ""
    parts = (os.major, os.minor, os.patch)
    return ".".join(str(int(p)) if p.isascii() and p.isdigit() else p for p in parts if p is not None)


def _is_tablet(p: _Parsed) -> bool:
    if p.device in _TABLET_DEVICE_FAMILIES:
        return True
    # Newer Android tablets leave "Mobile" out of the UA; older ones (Galaxy Tab) keep it.
    if p.os == "Android" and "Mobile Safari" not in p.ua and p.browser != "Firefox Mobile":
        return True
    if p.os == "Windows" and p.os_version.startswith("RT"):
        return True
    return p.os == "Firefox OS" and "Mobile" not in p.browser


def _is_mobile(p: _Parsed) -> bool:
    return (
        p.device in _MOBILE_DEVICE_FAMILIES
        or p.browser in _MOBILE_BROWSER_FAMILIES
        or (p.os in ("Android", "Firefox OS") and not _is_tablet(p))
        or (p.os == "BlackBerry OS" and p.device != "Blackberry Playbook")
        or p.os in _MOBILE_OS_FAMILIES
        or "J2ME" in p.ua
        or "MIDP" in p.ua
        or "iPhone;" in p.ua  # Google's mobile crawler, mainly
        or "Googlebot-Mobile" in p.ua
        or (p.device == "Spider" and "Mobile" in p.browser)
        or ("NokiaBrowser" in p.ua and "Mobile" in p.ua)
    )


def _is_pc(p: _Parsed) -> bool:
    if "Windows NT" in p.ua or p.os in _PC_OS_FAMILIES or (p.os == "Windows" and p.os_version == "ME"):
        return True
    if p.os == "Mac OS X" and "Silk" not in p.ua:
        return True
    if "Maemo" in p.ua:  # has Linux and X11 in its UA, but is not a PC
        return False
    return "Chrome OS" in p.os or ("Linux" in p.ua and "X11" in p.ua)


def _device_class(p: _Parsed) -> str:
    """One of "bot", "tablet", "mobile", "desktop", or "" (unknown)."""
    # Order matters: Googlebot's smartphone crawler is also "mobile", and a bot must win.
    if p.device == "Spider" or _family(p.browser) in _HTTP_CLIENT_FAMILIES:
        return "bot"
    if _is_tablet(p):
        return "tablet"
    if _is_mobile(p):
        return "mobile"
    return "desktop" if _is_pc(p) else ""


def parse_user_agent(user_agent: str) -> UserAgentInfo:
    """Classify `user_agent`; never raises on any string (garbage gives empty fields)."""
    # Truncate before the cache, so the key itself is bounded.
    return _parse_prefix(user_agent[:MAX_UA_CHARS])


@lru_cache(maxsize=CACHE_SIZE)
def _parse_prefix(user_agent: str) -> UserAgentInfo:
    # lru_cache is thread-safe; two threads missing on the same key both parse, harmlessly.
    if not user_agent.strip():
        return _EMPTY
    parsed = _Parsed.of(user_agent)
    device_type = _device_class(parsed)
    browser, os = _family(parsed.browser), _family(parsed.os)
    return UserAgentInfo(device_type=device_type, browser=browser, os=os, is_bot=device_type == "bot")


def _family(family: object) -> str:
    """ua-parser says "Other" when it does not know; we store "" for unknown."""
    return "" if family is None or family == "Other" else str(family)


# Expose the cache's counters on the public function, e.g. for metrics and tests.
cache_info = _parse_prefix.cache_info
cache_clear = _parse_prefix.cache_clear
