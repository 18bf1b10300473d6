"""URLs as the commands find and show them: the Redis a running `trackhouse up` announced, and
any URL with its secrets masked, fit for a terminal or a log (`trackhouse up`, `status`,
`failed`, the benchmarks)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from shared.queue.redis_server import URL_FILE
from shared.settings import Settings


def embedded_redis_socket(settings: Settings) -> Path:
    """Where `trackhouse up` puts its Redis socket (shared.queue.redis_server.RedisServer)."""
    return (settings.data_dir / "redis").resolve() / "redis.sock"


def resolve_redis_url(settings: Settings) -> str | None:
    """The configured Redis, else the one a running `trackhouse up` announced, else None."""
    if settings.redis_url:
        return settings.redis_url
    announced = embedded_redis_socket(settings).with_name(URL_FILE)
    if announced.is_file():
        return announced.read_text().strip()
    socket = embedded_redis_socket(settings)
    return f"unix://{socket}" if socket.is_socket() else None


_SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key|auth", re.IGNORECASE)


def mask_url(url: str) -> str:
    """`url` with its password replaced, in the userinfo and in query parameters such as
    `?password=` (redis-py and clickhouse-connect read both), fit for a terminal or a log."""
    parts = urlsplit(url)
    netloc, query = parts.netloc, parts.query
    if parts.password is not None:
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        netloc = f"{parts.username or ''}:***@{host}"
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*")
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    # Not urlunsplit: it turns `unix:///path` into `unix:/path`.
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "") + (
        f"#{parts.fragment}" if parts.fragment else ""
    )
