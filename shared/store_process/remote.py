"""`RemoteEngine`: the ReadEngine of an API process whose store lives in another process
(`trackhouse up`: the store process owns chDB). Each call is one HTTP request over the store
process's unix socket (socket_server.py); a connection per call is cheap on a local
socket and needs no pool shared between threads."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

from shared.query.errors import StoreUnavailable
from shared.query.sql import Statement
from shared.store_process import wire

_CHUNK = 1 << 16


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("store", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self._path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _unavailable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"store unavailable (store process: {type(exc).__name__})")


class RemoteEngine:
    def __init__(self, socket_path: Path, timeout_seconds: float) -> None:
        """`timeout_seconds`: the longest a call may take, longer than a query may run."""
        self._path = socket_path
        self._timeout = timeout_seconds

    def _post(self, path: str, body: bytes) -> tuple[_UnixConnection, http.client.HTTPResponse]:
        connection = _UnixConnection(self._path, self._timeout)
        try:
            connection.request("POST", path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise _unavailable(exc) from exc
        if response.status != 200:
            try:
                raise wire.error_from_wire(response.read())
            finally:
                connection.close()
        return connection, response

    def ping(self) -> bool:
        """Whether the store process answers (it listens once migrated and recovered)."""
        connection = _UnixConnection(self._path, self._timeout)
        try:
            connection.request("GET", "/ping")
            return connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def rows(self, statement: Statement) -> Sequence[Sequence[Any]]:
        connection, response = self._post("/rows", wire.statement_to_wire(statement))
        try:
            rows: list[list[Any]] = wire.loads(response.read())
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise _unavailable(exc) from exc
        finally:
            connection.close()
        return rows

    def stream(self, statement: Statement, fmt: str) -> Generator[bytes, None, None]:
        connection, response = self._post("/stream", wire.statement_to_wire(statement, fmt))
        try:
            # A stream the store process cut short (its query failed midway) ends without the
            # last chunk: http.client raises IncompleteRead, never a silently short export.
            while chunk := response.read1(_CHUNK):
                yield chunk
        except (OSError, http.client.HTTPException) as exc:
            raise _unavailable(exc) from exc
        finally:
            connection.close()  # also when the caller closes early: the store process stops reading
