"""Classify a User-Agent header: device type, browser and OS families, bot or not.

`parse_user_agent(ua)` is the only entry point. The work is done by the maintained
ua-parser rule set (`ua_parser_builtins`) and `user_agents`' classification on top of it
(mobile, tablet, pc, bot), not by regexes of our own, so new browsers and crawlers arrive
with a dependency upgrade.

Speed matters for safety, not only throughput: parsing runs on the API's event loop, and an
attacker rotating agents defeats any cache. `user_agents` parses with ua-parser's legacy
pure-Python matcher (~1-5 ms an agent: a /batch of 1,000 distinct agents held the loop 4.9 s);
here ua-parser's fastest installed resolver (`ua-parser-rs`, Rust) parses instead, ~35 us,
and `user_agents` only classifies the result. `python -m bench.useragent` measures it.
Cached ~0.12 us; UA strings repeat heavily, hence the LRU cache. The `MAX_UA_CHARS` prefix
bounds the cost of a huge header. Compiling the rules costs ~0.5 s once: `load()` at start-up
(the Enricher does), not on a request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

from ua_parser import BestAvailableResolver, Parser, load_builtins
from user_agents.parsers import UserAgent, parse_browser, parse_device, parse_operating_system

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


class _ClassifiedAgent(UserAgent):  # type: ignore[misc]
    """`user_agents`' UserAgent (is_mobile, is_tablet, is_pc, is_bot) built from a ua-parser
    result, instead of its own call to the legacy pure-Python matcher. Unknown parts are
    "Other", as that matcher reports them."""

    def __init__(self, user_agent: str) -> None:
        result = (_parser or load()).parse(user_agent)
        browser, os, device = result.user_agent, result.os, result.device
        self.ua_string = user_agent
        self.browser = (
            parse_browser(browser.family, browser.major, browser.minor, browser.patch, browser.patch_minor)
            if browser
            else parse_browser("Other")
        )
        self.os = (
            parse_operating_system(os.family, os.major, os.minor, os.patch, os.patch_minor)
            if os
            else parse_operating_system("Other")
        )
        self.device = parse_device(device.family, device.brand, device.model) if device else parse_device("Other", None, None)


def parse_user_agent(user_agent: str) -> UserAgentInfo:
    """Classify `user_agent`; never raises on any string (garbage gives empty fields)."""
    # Truncate before the cache, so the key itself is bounded.
    return _parse_prefix(user_agent[:MAX_UA_CHARS])


@lru_cache(maxsize=CACHE_SIZE)
def _parse_prefix(user_agent: str) -> UserAgentInfo:
    # lru_cache is thread-safe; two threads missing on the same key both parse, harmlessly.
    if not user_agent.strip():
        return _EMPTY
    ua = _ClassifiedAgent(user_agent)
    browser = _family(ua.browser.family)
    os = _family(ua.os.family)
    # Order matters: Googlebot's smartphone crawler is also "mobile", and a bot must win.
    if ua.is_bot or browser in _HTTP_CLIENT_FAMILIES:
        return UserAgentInfo(device_type="bot", browser=browser, os=os, is_bot=True)
    if ua.is_tablet:
        device_type = "tablet"
    elif ua.is_mobile:
        device_type = "mobile"
    elif ua.is_pc:
        device_type = "desktop"
    else:
        device_type = ""
    return UserAgentInfo(device_type=device_type, browser=browser, os=os, is_bot=False)


def _family(family: object) -> str:
    """ua-parser says "Other" when it does not know; we store "" for unknown."""
    return "" if family is None or family == "Other" else str(family)


# Expose the cache's counters on the public function, e.g. for metrics and tests.
cache_info = _parse_prefix.cache_info
cache_clear = _parse_prefix.cache_clear
