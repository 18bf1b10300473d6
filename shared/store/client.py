"""Opening clickhouse-connect clients: a server over HTTP, or the embedded chDB engine.

chDB allows one engine per process and one process per data directory, so a process
should open only one `chdb://` path; several clients on that path are fine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from shared.files import private_dir


def open_client(url: str, **settings: Any) -> Client:
    """A client for `url` (`http(s)://…` or `chdb:///abs/path`), with no default database:
    every statement names its database, so migrations can run before it exists."""
    if url.startswith("chdb:"):
        private_dir(Path(urlsplit(url).path))  # its parts hold e-mails and IPs: 0700, not the umask's
        return clickhouse_connect.get_client(dsn=url, settings=settings or None)
    # One HTTP session may not run two queries at once; sessions buy us nothing here.
    return clickhouse_connect.get_client(dsn=url, autogenerate_session_id=False, settings=settings or None)
